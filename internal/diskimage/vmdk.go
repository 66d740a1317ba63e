package diskimage

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"regexp"
	"sync"

	"github.com/klauspost/compress/zlib"
)

// VMDK hosted sparse extents (monolithicSparse, streamOptimized), read in-house: the Go
// VMDK code that exists (govmomi) only handles stream-optimized files for upload and its
// writer is broken (see the research notes). Little-endian, 512-byte sectors.

const (
	vmdkMagic        = "KDMV"
	vmdkGDAtEnd      = ^uint64(0)
	vmdkFlagZeroGTE  = 1 << 2
	vmdkFlagCompress = 1 << 16
	vmdkFlagMarkers  = 1 << 17
	vmdkMaxGrain     = 2 << 20 // bytes, as qemu
	vmdkMaxGTEs      = 8192
	sector           = 512
)

func init() {
	Register(Format{
		Name:       "vmdk",
		Extensions: []string{".vmdk"},
		Order:      20,
		Probe: func(_ io.ReaderAt, _ int64, head []byte) bool {
			return bytes.HasPrefix(head, []byte(vmdkMagic)) || bytes.HasPrefix(head, []byte("# Disk DescriptorFile"))
		},
		Open:         openVMDK,
		OpenReaderAt: openVMDKAt,
		Writer:       vmdkWriter{},
	})
}

// vmdkHeader is the SparseExtentHeader.
type vmdkHeader struct {
	Version       uint32
	Flags         uint32
	Capacity      uint64 // sectors
	GrainSize     uint64 // sectors
	DescOffset    uint64
	DescSize      uint64
	NumGTEsPerGT  uint32
	RGDOffset     uint64
	GDOffset      uint64
	OverHead      uint64
	Unclean       uint8
	CompressAlgo  uint16
	checkBytesBad bool
}

func parseVMDKHeader(b []byte) (*vmdkHeader, error) {
	if len(b) < sector || string(b[:4]) != vmdkMagic {
		return nil, fmt.Errorf("%w: not a VMDK sparse extent", ErrCorrupt)
	}
	le := binary.LittleEndian
	h := &vmdkHeader{
		Version:      le.Uint32(b[4:]),
		Flags:        le.Uint32(b[8:]),
		Capacity:     le.Uint64(b[12:]),
		GrainSize:    le.Uint64(b[20:]),
		DescOffset:   le.Uint64(b[28:]),
		DescSize:     le.Uint64(b[36:]),
		NumGTEsPerGT: le.Uint32(b[44:]),
		RGDOffset:    le.Uint64(b[48:]),
		GDOffset:     le.Uint64(b[56:]),
		OverHead:     le.Uint64(b[64:]),
		Unclean:      b[72],
		CompressAlgo: le.Uint16(b[77:]),
	}
	h.checkBytesBad = string(b[73:77]) != "\n \r\n"
	return h, nil
}

type vmdkImage struct {
	f          io.ReaderAt
	fsize      int64
	c          io.Closer
	h          *vmdkHeader
	size       int64
	grain      int64 // bytes
	gd         []uint32
	gtBytes    int
	createType string
	gts        *tableCache
	bufs       sync.Pool // *[]byte of 2*grain+sector, compressed grain reads
}

var (
	reCreateType = regexp.MustCompile(`(?m)^\s*createType\s*=\s*"([^"]*)"`)
	reParent     = regexp.MustCompile(`(?m)^\s*parentFileNameHint\s*=`)
	reExtent     = regexp.MustCompile(`(?m)^\s*(RW|RDONLY|NOACCESS)\s+\d+\s+\S+`)
)

func openVMDK(f *os.File) (Image, error) {
	fsize, err := fileSize(f)
	if err != nil {
		return nil, err
	}
	head := make([]byte, sector)
	n, _ := f.ReadAt(head, 0)
	if text, ok, err := vmdkDescriptorText(f, fsize, head[:n]); ok || err != nil {
		if err != nil {
			return nil, err
		}
		return openVMDKDescriptor(f, text) // its extent files (vmdk_descriptor.go)
	}
	return openVMDKAt(f, fsize, f)
}

// openVMDKAt opens a VMDK of fsize bytes read through f; Close closes c.
func openVMDKAt(f io.ReaderAt, fsize int64, c io.Closer) (Image, error) {
	head := make([]byte, sector)
	n, _ := f.ReadAt(head, 0)
	head = head[:n]
	if descriptorAsIsRefusal(head) != "" {
		ct := "unknown"
		if m := reCreateType.FindSubmatch(head); m != nil {
			ct = string(m[1])
		}
		return nil, fmt.Errorf("%w (createType %q)", ErrVMDKDescriptorNotLocal, ct)
	}
	h, err := parseVMDKHeader(head)
	if err != nil {
		return nil, err
	}
	if h.Version < 1 || h.Version > 3 {
		return nil, fmt.Errorf("%w: VMDK sparse extent version %d", ErrUnsupported, h.Version)
	}
	if h.GDOffset == vmdkGDAtEnd {
		// Stream-optimized written as a pure stream: the real header is the footer, in the
		// sector before the end-of-stream marker.
		if fsize < 3*sector {
			return nil, fmt.Errorf("%w: VMDK footer missing", ErrCorrupt)
		}
		foot := make([]byte, sector)
		if err := readFull(f, foot, fsize-2*sector); err != nil {
			return nil, err
		}
		fh, err := parseVMDKHeader(foot)
		if err != nil {
			return nil, fmt.Errorf("%w: VMDK footer: %v", ErrCorrupt, err)
		}
		if fh.GDOffset == vmdkGDAtEnd {
			return nil, fmt.Errorf("%w: VMDK footer has no grain directory offset", ErrCorrupt)
		}
		h.GDOffset, h.RGDOffset = fh.GDOffset, fh.RGDOffset
	}
	switch {
	case h.checkBytesBad:
		return nil, fmt.Errorf("%w: VMDK header end-of-line check bytes are wrong (file transferred in text mode?)", ErrCorrupt)
	case h.GrainSize == 0 || h.GrainSize&(h.GrainSize-1) != 0 || h.GrainSize*sector > vmdkMaxGrain:
		return nil, fmt.Errorf("%w: VMDK grain size %d sectors", ErrCorrupt, h.GrainSize)
	case h.NumGTEsPerGT == 0 || h.NumGTEsPerGT > vmdkMaxGTEs:
		return nil, fmt.Errorf("%w: VMDK %d grain table entries per table", ErrCorrupt, h.NumGTEsPerGT)
	case h.Capacity > uint64(MaxVirtualSize)/sector:
		return nil, checkVirtualSize("VMDK", h.Capacity*sector)
	case h.Flags&vmdkFlagCompress != 0 && h.CompressAlgo != 1:
		return nil, fmt.Errorf("%w: VMDK compression algorithm %d", ErrUnsupported, h.CompressAlgo)
	case h.GDOffset == 0 || h.GDOffset > uint64(fsize)/sector:
		return nil, fmt.Errorf("%w: VMDK grain directory offset %d", ErrCorrupt, h.GDOffset)
	}
	img := &vmdkImage{
		f:       f,
		fsize:   fsize,
		c:       c,
		h:       h,
		size:    int64(h.Capacity) * sector,
		grain:   int64(h.GrainSize) * sector,
		gtBytes: int(h.NumGTEsPerGT) * 4,
		gts:     newTableCache(64),
	}
	// Embedded descriptor: refuse delta disks and multi-extent layouts.
	if h.DescOffset > 0 && h.DescSize > 0 {
		if h.DescSize > 2048 || int64(h.DescOffset+h.DescSize)*sector > fsize {
			return nil, fmt.Errorf("%w: VMDK descriptor at sector %d, %d sectors", ErrCorrupt, h.DescOffset, h.DescSize)
		}
		desc := make([]byte, h.DescSize*sector)
		if err := readFull(f, desc, int64(h.DescOffset)*sector); err != nil {
			return nil, err
		}
		if i := bytes.IndexByte(desc, 0); i >= 0 {
			desc = desc[:i]
		}
		if m := reCreateType.FindSubmatch(desc); m != nil {
			img.createType = string(m[1])
		}
		if reParent.Match(desc) {
			return nil, fmt.Errorf("%w (VMDK delta disk with parentFileNameHint); consolidate the snapshot chain first", ErrBackingFile)
		}
		if n := len(reExtent.FindAll(desc, -1)); n > 1 {
			return nil, fmt.Errorf("%w: VMDK with %d extents", ErrUnsupported, n)
		}
	}
	perGT := int64(h.NumGTEsPerGT) * img.grain
	numGTs := (img.size + perGT - 1) / perGT
	if int64(h.GDOffset)*sector+numGTs*4 > fsize {
		return nil, fmt.Errorf("%w: VMDK grain directory (%d entries) beyond the end of the file", ErrCorrupt, numGTs)
	}
	raw := make([]byte, numGTs*4)
	if err := readFull(f, raw, int64(h.GDOffset)*sector); err != nil {
		return nil, err
	}
	img.gd = make([]uint32, numGTs)
	offs := make([]uint64, numGTs)
	for i := range img.gd {
		img.gd[i] = binary.LittleEndian.Uint32(raw[i*4:])
		offs[i] = uint64(img.gd[i])
		if img.gd[i] != 0 && int64(img.gd[i])*sector+int64(img.gtBytes) > fsize {
			return nil, fmt.Errorf("%w: VMDK grain directory entry %d: grain table at sector %d beyond the end of the file", ErrCorrupt, i, img.gd[i])
		}
	}
	// VMware and qemu never point two directory entries at one grain table; a crafted image
	// does, to map a huge disk (and a huge extent map) from one table of a few kilobytes.
	if off, i, j, ok := sharedTable(offs); ok {
		return nil, fmt.Errorf("%w: VMDK grain directory entries %d and %d share the grain table at sector %d (VMware and qemu never write this; a crafted image)", ErrCorrupt, i, j, off)
	}
	img.bufs.New = func() any { b := make([]byte, 2*img.grain+sector); return &b }
	return img, nil
}

func (v *vmdkImage) Format() string { return "vmdk" }
func (v *vmdkImage) Size() int64    { return v.size }
func (v *vmdkImage) Close() error   { return v.c.Close() }

// CreateType is the createType of the embedded descriptor ("monolithicSparse",
// "streamOptimized"), or "" if there is none.
func (v *vmdkImage) CreateType() string { return v.createType }

// gte returns the grain table entry of the grain containing off.
func (v *vmdkImage) gte(off int64) (uint32, error) {
	g := off / v.grain
	per := int64(v.h.NumGTEsPerGT)
	gdi := g / per
	if gdi >= int64(len(v.gd)) {
		return 0, fmt.Errorf("%w: offset %d beyond the grain directory", ErrCorrupt, off)
	}
	if v.gd[gdi] == 0 {
		return 0, nil
	}
	gt, err := v.gts.get(v.f, int64(v.gd[gdi])*sector, v.gtBytes)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(gt[(g%per)*4:]), nil
}

func (v *vmdkImage) kind(gte uint32) ExtentKind {
	switch {
	case gte == 0:
		return Hole
	case gte == 1 && (v.h.Flags&vmdkFlagZeroGTE != 0 || v.h.Version >= 2):
		return Zero
	default:
		return Data
	}
}

func (v *vmdkImage) Extents(ctx context.Context) ([]Extent, error) { return collectExtents(ctx, v) }

// walkExtents walks the grain tables (see extentWalker). It counts the host bytes the data
// grains must occupy (a grain, or a sector for a compressed one) and fails, naming the
// file, when they exceed the file's size: grains shared by many guest ranges.
func (v *vmdkImage) walkExtents(ctx context.Context, fn func(Extent) error) error {
	per := int64(v.h.NumGTEsPerGT) * v.grain
	dataHost := v.grain
	if v.h.Flags&vmdkFlagCompress != 0 {
		dataHost = sector
	}
	var host int64
	for i, gd := range v.gd {
		if err := ctx.Err(); err != nil {
			return err
		}
		base := int64(i) * per
		if gd == 0 {
			if err := fn(Extent{Offset: base, Length: min(per, v.size-base), Kind: Hole}); err != nil {
				return err
			}
			continue
		}
		gt, err := v.gts.get(v.f, int64(gd)*sector, v.gtBytes)
		if err != nil {
			return err
		}
		for j := 0; j < int(v.h.NumGTEsPerGT); j++ {
			off := base + int64(j)*v.grain
			if off >= v.size {
				break
			}
			k := v.kind(binary.LittleEndian.Uint32(gt[j*4:]))
			if k == Data {
				host += dataHost
			}
			if err := fn(Extent{Offset: off, Length: min(v.grain, v.size-off), Kind: k}); err != nil {
				return err
			}
		}
		if host > v.fsize {
			return fmt.Errorf("%s%w: VMDK maps at least %d bytes of data but the file holds %d: grains shared by many guest ranges (VMware and qemu never write this; a crafted image)",
				nameOf(v.f), ErrCorrupt, host, v.fsize)
		}
	}
	return nil
}

func (v *vmdkImage) ReadAt(p []byte, off int64) (int, error) {
	q, eof := clipRead(p, off, v.size)
	n := 0
	for n < len(q) {
		cur := off + int64(n)
		in := cur % v.grain
		l := int(min(int64(len(q)-n), v.grain-in))
		gte, err := v.gte(cur)
		if err != nil {
			return n, err
		}
		dst := q[n : n+l]
		switch {
		case v.kind(gte) != Data:
			clear(dst)
		case v.h.Flags&vmdkFlagCompress != 0:
			if err := v.readCompressed(dst, int64(gte)*sector, cur-in, in); err != nil {
				return n, err
			}
		default:
			if err := readFull(v.f, dst, int64(gte)*sector+in); err != nil {
				return n, fmt.Errorf("%w: VMDK grain at sector %d: %v", ErrCorrupt, gte, err)
			}
		}
		n += l
	}
	return n, eof
}

// readCompressed inflates the grain stored at host offset at (guest offset goff) and copies
// its bytes [in, in+len(dst)) into dst.
func (v *vmdkImage) readCompressed(dst []byte, at, goff, in int64) error {
	bp := v.bufs.Get().(*[]byte)
	defer v.bufs.Put(bp)
	buf := *bp
	// Read the marker plus the largest payload we accept (zlib may expand incompressible
	// data slightly; 2 grains is far more than enough).
	n, err := v.f.ReadAt(buf, at)
	if n < 12 && err != nil {
		return fmt.Errorf("%w: VMDK compressed grain at %d: %v", ErrCorrupt, at, err)
	}
	payload := buf[:n]
	if v.h.Flags&vmdkFlagMarkers != 0 {
		lba := binary.LittleEndian.Uint64(payload)
		size := int64(binary.LittleEndian.Uint32(payload[8:]))
		if lba*sector != uint64(goff) {
			return fmt.Errorf("%w: VMDK grain at %d is for sector %d, want %d", ErrCorrupt, at, lba, goff/sector)
		}
		if size > int64(n)-12 {
			return fmt.Errorf("%w: VMDK grain at %d claims %d compressed bytes", ErrCorrupt, at, size)
		}
		payload = payload[12 : 12+size]
	}
	zr, err := getZlibReader(bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("%w: VMDK grain at %d: %v", ErrCorrupt, at, err)
	}
	defer zlibReaders.Put(zr)
	if in > 0 {
		if _, err := io.CopyN(io.Discard, zr, in); err != nil {
			return fmt.Errorf("%w: VMDK grain at %d: %v", ErrCorrupt, at, err)
		}
	}
	m, err := io.ReadFull(zr, dst)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		// A short last grain (streamOptimized may store the partial final grain), or a
		// writer that stopped early: the rest reads as zeros, as in qemu.
		clear(dst[m:])
		err = nil
	}
	if err != nil {
		return fmt.Errorf("%w: VMDK grain at %d: %v", ErrCorrupt, at, err)
	}
	return nil
}

var zlibReaders sync.Pool

func getZlibReader(r io.Reader) (io.ReadCloser, error) {
	if v := zlibReaders.Get(); v != nil {
		zr := v.(io.ReadCloser)
		if err := zr.(zlib.Resetter).Reset(r, nil); err != nil {
			return nil, err
		}
		return zr, nil
	}
	return zlib.NewReader(r)
}

// vmdkCreateType is used by info output.
func vmdkCreateType(img Image) string {
	if v, ok := img.(*vmdkImage); ok {
		return v.createType
	}
	return ""
}
