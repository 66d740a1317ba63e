package diskimage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Descriptor VMDKs: a text file (or the descriptor embedded in a sparse header whose
// capacity is 0, as qemu reads it) naming the extent files that hold the disk, what VMware
// Workstation (monolithicFlat, twoGbMaxExtentSparse, twoGbMaxExtentFlat) and ESXi
// datastores (vmfs: descriptor + -flat.vmdk) keep. The extents are concatenated: FLAT and
// VMFS extents are ranges of their file (holes from SEEK_DATA/SEEK_HOLE), SPARSE extents
// hosted sparse extents with their own header (the reader of vmdk.go), ZERO extents zeros.
//
// The descriptor is hostile like every image byte: its extent names are single file names
// looked up in the descriptor's own directory only (no "/", no "..", no symlink, a regular
// file, not the descriptor itself, no file twice), all checked before any extent is opened
// or read (see openExtentDir). What this trusts is that directory: a hard link placed in it
// is taken for the user's own file.

const (
	// vmdkDescMaxText bounds the descriptor text: 1 MiB, as the embedded descriptor
	// (2048 sectors), room for vmdkDescMaxExtents lines of 256 bytes.
	vmdkDescMaxText = 1 << 20
	// vmdkDescMaxExtents bounds the extents of one descriptor: 4096, which is VMware
	// Workstation's largest disk (8 TiB) split in 2 GiB extents (twoGbMaxExtent*); ESXi's
	// vmfs disks have one extent. Every extent holds an open file while the image is open,
	// so the bound is also one on file descriptors.
	vmdkDescMaxExtents = 4096
	vmdkDescMagic      = "# Disk DescriptorFile"
)

// vmdkDescFile is a parsed descriptor.
type vmdkDescFile struct {
	createType string
	extents    []vmdkDescExtent
	size       int64
}

// vmdkDescExtent is one extent line: `RW <sectors> FLAT|SPARSE|ZERO|VMFS "file" [offset]`.
type vmdkDescExtent struct {
	line    int
	sectors int64
	typ     string // FLAT, VMFS, SPARSE, ZERO
	file    string
	offset  int64 // sectors, FLAT only
}

// refused createTypes and extent types, with why.
var (
	vmdkRefusedCreateTypes = map[string]string{
		"vmfssparse":                  "an ESXi snapshot delta (vmfsSparse)",
		"sesparse":                    "an ESXi space-efficient sparse disk (seSparse)",
		"vmfsrdm":                     "a raw device mapping (vmfsRDM)",
		"vmfsrdmp":                    "a raw device mapping (vmfsRDMP)",
		"vmfsraw":                     "a raw device mapping (vmfsRaw)",
		"vmfspassthroughrawdevicemap": "a raw device mapping (vmfsPassthroughRawDeviceMap)",
		"vmfsrawdevicemap":            "a raw device mapping (vmfsRawDeviceMap)",
		"fulldevice":                  "a physical disk (fullDevice)",
		"partitioneddevice":           "a physical disk's partitions (partitionedDevice)",
	}
	vmdkRefusedExtentTypes = map[string]string{
		"VMFSSPARSE": "an ESXi snapshot delta extent (VMFSSPARSE)",
		"SESPARSE":   "an ESXi space-efficient sparse extent (SESPARSE)",
		"VMFSRDM":    "a raw device mapping extent (VMFSRDM)",
		"VMFSRAW":    "a raw device mapping extent (VMFSRAW)",
	}
)

// isVMDKDescriptor reports whether head (the first bytes of a file) is a text descriptor.
func isVMDKDescriptor(head []byte) bool { return bytes.HasPrefix(head, []byte(vmdkDescMagic)) }

// parseVMDKDescriptor parses descriptor text (at most vmdkDescMaxText bytes; a NUL ends it,
// as in an embedded descriptor's padding). Errors name the line.
func parseVMDKDescriptor(text []byte) (*vmdkDescFile, error) {
	if len(text) > vmdkDescMaxText {
		return nil, fmt.Errorf("%w: VMDK descriptor of %d bytes, more than the %d this reads", ErrCorrupt, len(text), vmdkDescMaxText)
	}
	if i := bytes.IndexByte(text, 0); i >= 0 {
		text = text[:i]
	}
	d := &vmdkDescFile{}
	parentCID, parentHint := "", ""
	for i, raw := range strings.Split(string(text), "\n") {
		n := i + 1
		l := strings.TrimSpace(raw)
		if l == "" || l[0] == '#' {
			continue
		}
		if f := strings.Fields(l); len(f) > 0 && (f[0] == "RW" || f[0] == "RDONLY" || f[0] == "NOACCESS") {
			e, err := parseVMDKExtentLine(l, n)
			if err != nil {
				return nil, err
			}
			if len(d.extents) == vmdkDescMaxExtents {
				return nil, fmt.Errorf("%w: VMDK descriptor line %d: more than %d extents", ErrUnsupported, n, vmdkDescMaxExtents)
			}
			if e.sectors > (MaxVirtualSize-d.size)/sector {
				return nil, fmt.Errorf("line %d: %w", n, checkVirtualSize("VMDK descriptor", uint64(d.size)+uint64(e.sectors)*sector))
			}
			d.size += e.sectors * sector
			d.extents = append(d.extents, e)
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return nil, fmt.Errorf("%w: VMDK descriptor line %d: neither an extent nor key=value: %.80q", ErrCorrupt, n, l)
		}
		k, v = strings.TrimSpace(k), strings.Trim(strings.TrimSpace(v), `"`)
		switch strings.ToLower(k) {
		case "createtype":
			d.createType = v
		case "parentcid":
			parentCID = v
		case "parentfilenamehint":
			parentHint = v
		}
	}
	if (parentCID != "" && !strings.EqualFold(parentCID, "ffffffff")) || parentHint != "" {
		p := parentHint
		if p == "" {
			p = "parentCID " + parentCID
		}
		return nil, fmt.Errorf("%w (VMDK delta disk of %.200q); consolidate the snapshot chain first", ErrBackingFile, p)
	}
	if why := vmdkRefusedCreateTypes[strings.ToLower(d.createType)]; why != "" {
		return nil, fmt.Errorf("%w: VMDK createType %q is %s; clone it to a flat or sparse disk first (vmkfstools -i, qemu-img convert)", ErrUnsupported, d.createType, why)
	}
	if len(d.extents) == 0 {
		return nil, fmt.Errorf("%w: VMDK descriptor (createType %q) names no extent", ErrCorrupt, d.createType)
	}
	return d, nil
}

// parseVMDKExtentLine parses `ACCESS SECTORS TYPE ["FILE" [OFFSET]]` (line n).
func parseVMDKExtentLine(l string, n int) (vmdkDescExtent, error) {
	e := vmdkDescExtent{line: n}
	bad := func(format string, a ...any) (vmdkDescExtent, error) {
		return e, fmt.Errorf("%w: VMDK descriptor line %d: %s", ErrCorrupt, n, fmt.Sprintf(format, a...))
	}
	f := strings.Fields(l)
	if len(f) < 3 {
		return bad("extent line %.80q has no type", l)
	}
	if f[0] == "NOACCESS" {
		return e, fmt.Errorf("%w: VMDK descriptor line %d: a NOACCESS extent cannot be read", ErrUnsupported, n)
	}
	s, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || s <= 0 {
		return bad("extent size %.40q is not a positive number of sectors", f[1])
	}
	e.sectors, e.typ = s, f[2]
	if why := vmdkRefusedExtentTypes[e.typ]; why != "" {
		return e, fmt.Errorf("%w: VMDK descriptor line %d: %s is not read; clone the disk to a flat or sparse one first (vmkfstools -i, qemu-img convert)", ErrUnsupported, n, why)
	}
	// The rest after the type: a quoted file name (may hold spaces), then an offset.
	rest := l
	for k := 0; k < 3; k++ {
		rest = strings.TrimLeft(rest, " \t")
		rest = rest[strings.IndexAny(rest+" ", " \t"):]
	}
	rest = strings.TrimSpace(rest)
	haveFile, haveOff := false, false
	if rest != "" {
		if rest[0] != '"' {
			return bad("extent file name %.80q is not quoted", rest)
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return bad("extent file name %.80q has no closing quote", rest)
		}
		e.file, haveFile = rest[1:1+end], true
		rest = strings.TrimSpace(rest[2+end:])
		if rest != "" {
			o, err := strconv.ParseInt(rest, 10, 64)
			if err != nil || o < 0 {
				return bad("extent offset %.40q is not a number of sectors", rest)
			}
			e.offset, haveOff = o, true
		}
	}
	switch e.typ {
	case "ZERO":
		if haveFile {
			return bad("a ZERO extent names no file")
		}
	case "FLAT":
		if !haveFile || !haveOff {
			return bad("a FLAT extent needs a file name and an offset")
		}
		if e.offset > (1<<62)/sector {
			return bad("extent offset %d sectors", e.offset)
		}
	case "VMFS", "SPARSE":
		if !haveFile || haveOff {
			return bad("a %s extent needs a file name and no offset", e.typ)
		}
	default:
		return e, fmt.Errorf("%w: VMDK descriptor line %d: extent type %.20q", ErrUnsupported, n, e.typ)
	}
	if haveFile {
		if err := checkExtentName(e.file); err != nil {
			return e, fmt.Errorf("%w: VMDK descriptor line %d: %v", ErrUnsupported, n, err)
		}
	}
	return e, nil
}

// checkExtentName accepts a single file name: extents are looked up in the descriptor's
// directory only.
func checkExtentName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return fmt.Errorf("extent file %q is not a file name", name)
	case strings.ContainsAny(name, "/\\\x00"):
		return fmt.Errorf("extent file %.200q is not in the descriptor's directory (only file names next to the descriptor are read)", name)
	}
	return nil
}

// vmdkDescImage is a descriptor VMDK: its extents concatenated.
type vmdkDescImage struct {
	desc       *os.File // the descriptor (or the sparse file holding it), closed by Close
	createType string
	size       int64
	exts       []*vmdkDescPart
}

// vmdkDescPart is one extent of the disk, [start, start+n).
type vmdkDescPart struct {
	start, n int64
	typ      string
	f        *os.File   // FLAT, VMFS, SPARSE
	off      int64      // bytes, FLAT
	sp       *vmdkImage // SPARSE
	mu       sync.Mutex // SEEK_DATA/SEEK_HOLE on f
}

// openVMDKDescriptor opens the disk that desc, read from the local file f, describes.
// It takes ownership of f only on success.
func openVMDKDescriptor(f *os.File, text []byte) (Image, error) {
	name := f.Name()
	d, err := parseVMDKDescriptor(text)
	if err != nil {
		return nil, fmt.Errorf("descriptor %s: %w", name, err)
	}
	dir, err := openExtentDir(f)
	if err != nil {
		return nil, fmt.Errorf("descriptor %s: %w", name, err)
	}
	defer dir.close()
	img := &vmdkDescImage{desc: f, createType: d.createType, size: d.size}
	fail := func(e vmdkDescExtent, err error) (Image, error) {
		for _, p := range img.exts {
			if p.f != nil {
				p.f.Close()
			}
		}
		return nil, fmt.Errorf("descriptor %s line %d (extent %q): %w", name, e.line, e.file, err)
	}
	// Every name is checked (lstat in the directory) before any extent is opened.
	for _, e := range d.extents {
		if e.file != "" {
			if err := dir.check(e.file); err != nil {
				return fail(e, err)
			}
		}
	}
	var start int64
	for _, e := range d.extents {
		p := &vmdkDescPart{start: start, n: e.sectors * sector, typ: e.typ}
		start += p.n
		if e.typ == "ZERO" {
			img.exts = append(img.exts, p)
			continue
		}
		ef, err := dir.open(e.file)
		if err != nil {
			return fail(e, err)
		}
		p.f = ef
		img.exts = append(img.exts, p)
		fsize, err := fileSize(ef)
		if err != nil {
			return fail(e, err)
		}
		switch e.typ {
		case "FLAT", "VMFS":
			p.off = e.offset * sector
			if p.off+p.n > fsize {
				return fail(e, fmt.Errorf("%w: the extent needs %d bytes at offset %d but the file holds %d", ErrCorrupt, p.n, p.off, fsize))
			}
		case "SPARSE":
			si, err := openVMDKAt(ef, fsize, ef)
			if err != nil {
				return fail(e, err)
			}
			sp := si.(*vmdkImage)
			if sp.size < p.n {
				return fail(e, fmt.Errorf("%w: the extent is %d sectors but its sparse header holds %d", ErrCorrupt, e.sectors, sp.size/sector))
			}
			// The 64 grain tables one sparse VMDK caches, shared out among the extents
			// (at least 2 each: 4096 extents of crafted 32 KiB tables stay within 256 MiB).
			sp.gts = newTableCache(max(2, 64/sparseCount(d)))
			p.sp = sp
		}
	}
	return img, nil
}

// sparseCount counts the SPARSE extents of d.
func sparseCount(d *vmdkDescFile) int {
	n := 0
	for _, e := range d.extents {
		if e.typ == "SPARSE" {
			n++
		}
	}
	return n
}

func (v *vmdkDescImage) Format() string { return "vmdk" }
func (v *vmdkDescImage) Size() int64    { return v.size }

// CreateType is the descriptor's createType ("monolithicFlat", "twoGbMaxExtentSparse"...).
func (v *vmdkDescImage) CreateType() string { return v.createType }

// ExtentFiles lists the extent files the descriptor names, in order (ZERO extents have
// none), as opened (the descriptor's directory joined with each name).
func (v *vmdkDescImage) ExtentFiles() []string {
	var out []string
	for _, p := range v.exts {
		if p.f != nil {
			out = append(out, p.f.Name())
		}
	}
	return out
}

func (v *vmdkDescImage) Close() error {
	var errs []error
	for _, p := range v.exts {
		if p.f != nil {
			errs = append(errs, p.f.Close())
		}
	}
	errs = append(errs, v.desc.Close())
	return errors.Join(errs...)
}

// part returns the index of the extent holding off (< size).
func (v *vmdkDescImage) part(off int64) int {
	return sort.Search(len(v.exts), func(i int) bool { return v.exts[i].start+v.exts[i].n > off }) // first ending past off
}

func (v *vmdkDescImage) ReadAt(p []byte, off int64) (int, error) {
	q, eof := clipRead(p, off, v.size)
	n := 0
	for n < len(q) {
		cur := off + int64(n)
		x := v.exts[v.part(cur)]
		in := cur - x.start
		dst := q[n : n+int(min(int64(len(q)-n), x.n-in))]
		switch {
		case x.sp != nil:
			if _, err := x.sp.ReadAt(dst, in); err != nil {
				return n, fmt.Errorf("%s: %w", x.f.Name(), err)
			}
		case x.f != nil:
			if err := readFull(x.f, dst, x.off+in); err != nil {
				return n, fmt.Errorf("%w: %s: %v", ErrCorrupt, x.f.Name(), err)
			}
		default:
			clear(dst)
		}
		n += len(dst)
	}
	return n, eof
}

func (v *vmdkDescImage) Extents(ctx context.Context) ([]Extent, error) { return collectExtents(ctx, v) }

// errPartEnd ends the walk of a sparse extent at the end of its part.
var errPartEnd = errors.New("end of the extent")

func (v *vmdkDescImage) walkExtents(ctx context.Context, fn func(Extent) error) error {
	for _, x := range v.exts {
		shift := func(e Extent) error {
			e.Offset += x.start
			return fn(e)
		}
		var err error
		switch {
		case x.sp != nil:
			err = x.sp.walkExtents(ctx, func(e Extent) error {
				if e.Offset >= x.n {
					return errPartEnd
				}
				e.Length = min(e.Length, x.n-e.Offset)
				return shift(e)
			})
			if err == errPartEnd {
				err = nil
			}
		case x.f != nil:
			err = seekExtents(ctx, x.f, &x.mu, x.off, x.n, shift)
		default:
			err = shift(Extent{Offset: 0, Length: x.n, Kind: Zero})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// ErrVMDKDescriptorNotLocal is returned when a descriptor VMDK is read through an
// io.ReaderAt (a remote image, an archive member): its extents are other files.
var ErrVMDKDescriptorNotLocal = fmt.Errorf("%w: a descriptor VMDK names other files (its extents): give its local path", ErrUnsupported)

// vmdkDescriptorText returns the descriptor text when the file (fsize bytes, beginning
// with head) is a descriptor VMDK: a text descriptor, or a sparse header of capacity 0
// with an embedded descriptor (qemu reads that descriptor as the disk's).
func vmdkDescriptorText(f io.ReaderAt, fsize int64, head []byte) ([]byte, bool, error) {
	if isVMDKDescriptor(head) {
		if fsize > vmdkDescMaxText {
			return nil, true, fmt.Errorf("%w: VMDK descriptor of %d bytes, more than the %d this reads", ErrCorrupt, fsize, vmdkDescMaxText)
		}
		b := make([]byte, fsize)
		if err := readFull(f, b, 0); err != nil {
			return nil, true, err
		}
		return b, true, nil
	}
	h, err := parseVMDKHeader(head)
	if err != nil || h.Capacity != 0 || h.DescOffset == 0 {
		return nil, false, nil
	}
	if h.DescSize == 0 || h.DescSize > vmdkDescMaxText/sector || h.DescOffset > uint64(fsize)/sector || int64(h.DescOffset+h.DescSize)*sector > fsize {
		return nil, true, fmt.Errorf("%w: VMDK descriptor at sector %d, %d sectors", ErrCorrupt, h.DescOffset, h.DescSize)
	}
	b := make([]byte, h.DescSize*sector)
	if err := readFull(f, b, int64(h.DescOffset)*sector); err != nil {
		return nil, true, err
	}
	return b, true, nil
}

// descriptorAsIsRefusal says why a VMDK beginning with head must not be sent as it is:
// a descriptor is not the disk, its extents are.
func descriptorAsIsRefusal(head []byte) string {
	if isVMDKDescriptor(head) {
		return "it is a descriptor VMDK: the disk is in the extent files it names"
	}
	if h, err := parseVMDKHeader(head); err == nil && h.Capacity == 0 && h.DescOffset != 0 {
		return "its sparse header embeds a descriptor naming other extent files"
	}
	return ""
}
