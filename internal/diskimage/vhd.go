package diskimage

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// VHD (Virtual PC / Hyper-V / Azure), fixed and dynamic, read in-house: the only Go VHD
// code served here is Windows-only (go-winio) or unmaintained. Big-endian.

const (
	vhdCookie       = "conectix"
	vhdDynCookie    = "cxsparse"
	vhdTypeFixed    = 2
	vhdTypeDynamic  = 3
	vhdTypeDiff     = 4
	vhdUnallocated  = 0xffffffff
	vhdMaxBlockSize = 256 << 20
	vhdMaxEntries   = 1 << 24
)

func init() {
	Register(Format{
		Name:       "vhd",
		Aliases:    []string{"vpc"}, // qemu's name
		Extensions: []string{".vhd"},
		Order:      30,
		Probe: func(r io.ReaderAt, size int64, head []byte) bool {
			if bytes.HasPrefix(head, []byte(vhdCookie)) {
				return true // dynamic: footer copy at 0
			}
			_, err := readVHDFooterAtEnd(r, size) // fixed
			return err == nil
		},
		Open:         openVHD,
		OpenReaderAt: openVHDAt,
		Writer:       vhdWriter{},
	})
}

// vhdFooter is the 512-byte hard disk footer.
type vhdFooter struct {
	DataOffset  uint64
	CreatorApp  string
	CurrentSize uint64
	Cylinders   uint16
	Heads       uint8
	SPT         uint8
	DiskType    uint32
}

func vhdChecksum(b []byte, skip int) uint32 {
	var sum uint32
	for i, c := range b {
		if i >= skip && i < skip+4 {
			continue
		}
		sum += uint32(c)
	}
	return ^sum
}

func parseVHDFooter(b []byte) (*vhdFooter, error) {
	if len(b) < sector || string(b[:8]) != vhdCookie {
		return nil, fmt.Errorf("%w: no VHD footer", ErrCorrupt)
	}
	be := binary.BigEndian
	if got, want := be.Uint32(b[64:]), vhdChecksum(b[:sector], 64); got != want {
		return nil, fmt.Errorf("%w: VHD footer checksum %#x, computed %#x", ErrCorrupt, got, want)
	}
	return &vhdFooter{
		DataOffset:  be.Uint64(b[16:]),
		CreatorApp:  string(b[28:32]),
		CurrentSize: be.Uint64(b[48:]),
		Cylinders:   be.Uint16(b[56:]),
		Heads:       b[58],
		SPT:         b[59],
		DiskType:    be.Uint32(b[60:]),
	}, nil
}

func readVHDFooterAtEnd(f io.ReaderAt, size int64) (*vhdFooter, error) {
	if size < sector {
		return nil, fmt.Errorf("%w: no VHD footer", ErrCorrupt)
	}
	b := make([]byte, sector)
	if err := readFull(f, b, size-sector); err != nil {
		return nil, err
	}
	return parseVHDFooter(b)
}

// virtualSize follows qemu: images from Hyper-V ("win "), qemu with force_size ("qem2"),
// Disk2vhd, XenServer and XenConverter, or with the maximum CHS geometry, are sized by
// current_size; all others (Virtual PC, old qemu, unknown) by their CHS geometry.
func (ft *vhdFooter) virtualSize() int64 {
	chs := int64(ft.Cylinders) * int64(ft.Heads) * int64(ft.SPT) * sector
	maxCHS := ft.Cylinders == 65535 && ft.Heads == 16 && ft.SPT == 255
	switch ft.CreatorApp {
	case "win ", "qem2", "d2v ", "tap\x00", "CTXS":
		return int64(ft.CurrentSize)
	}
	if maxCHS {
		return int64(ft.CurrentSize)
	}
	return chs
}

type vhdImage struct {
	rawImage  // fixed: the data part of the file; dynamic: unused except f
	footer    *vhdFooter
	dynamic   bool
	bat       []uint32
	blockSize int64
	bitmap    int64 // bytes of sector bitmap before each block's data
	fsize     int64 // bytes of the file
}

func openVHD(f *os.File) (Image, error) {
	fsize, err := fileSize(f)
	if err != nil {
		return nil, err
	}
	return openVHDAt(f, fsize, f)
}

// openVHDAt opens a VHD of fsize bytes read through ra; Close closes c. When ra is a local
// file, a fixed disk's extents come from SEEK_DATA/SEEK_HOLE.
func openVHDAt(ra io.ReaderAt, fsize int64, c io.Closer) (Image, error) {
	f, _ := ra.(*os.File)
	ft, err := readVHDFooterAtEnd(ra, fsize)
	if err != nil {
		// A dynamic disk whose trailing footer is damaged still has the copy at 0.
		head := make([]byte, sector)
		if rerr := readFull(ra, head, 0); rerr != nil {
			return nil, err
		}
		if ft, err = parseVHDFooter(head); err != nil {
			return nil, err
		}
	}
	v := &vhdImage{rawImage: rawImage{f: f, ra: ra, c: c, name: "vhd"}, footer: ft, fsize: fsize}
	size := ft.virtualSize()
	if err := checkVirtualSize("VHD", uint64(size)); err != nil {
		return nil, err
	}
	switch ft.DiskType {
	case vhdTypeFixed:
		if size < 0 || size > fsize-sector {
			return nil, fmt.Errorf("%w: fixed VHD of %d bytes in a %d-byte file", ErrCorrupt, size, fsize)
		}
		v.size = size
		return v, nil
	case vhdTypeDiff:
		return nil, fmt.Errorf("%w (differencing VHD); merge it into its parent first", ErrBackingFile)
	case vhdTypeDynamic:
	default:
		return nil, fmt.Errorf("%w: VHD disk type %d", ErrUnsupported, ft.DiskType)
	}
	v.dynamic = true
	if ft.DataOffset > uint64(fsize) || int64(ft.DataOffset)+1024 > fsize {
		return nil, fmt.Errorf("%w: VHD dynamic header offset %d", ErrCorrupt, ft.DataOffset)
	}
	dh := make([]byte, 1024)
	if err := readFull(ra, dh, int64(ft.DataOffset)); err != nil {
		return nil, err
	}
	be := binary.BigEndian
	if string(dh[:8]) != vhdDynCookie {
		return nil, fmt.Errorf("%w: VHD dynamic header cookie", ErrCorrupt)
	}
	if got, want := be.Uint32(dh[36:]), vhdChecksum(dh, 36); got != want {
		return nil, fmt.Errorf("%w: VHD dynamic header checksum %#x, computed %#x", ErrCorrupt, got, want)
	}
	tableOff := be.Uint64(dh[16:])
	entries := be.Uint32(dh[28:])
	v.blockSize = int64(be.Uint32(dh[32:]))
	switch {
	case v.blockSize < sector || v.blockSize&(v.blockSize-1) != 0 || v.blockSize > vhdMaxBlockSize:
		return nil, fmt.Errorf("%w: VHD block size %d", ErrCorrupt, v.blockSize)
	case entries > vhdMaxEntries || tableOff > uint64(fsize) || int64(tableOff)+int64(entries)*4 > fsize:
		return nil, fmt.Errorf("%w: VHD block table of %d entries at %d", ErrCorrupt, entries, tableOff)
	case size < 0 || size > int64(entries)*v.blockSize:
		return nil, fmt.Errorf("%w: VHD size %d exceeds %d blocks of %d", ErrCorrupt, size, entries, v.blockSize)
	}
	v.size = size
	v.bitmap = (v.blockSize/sector/8 + sector - 1) / sector * sector
	raw := make([]byte, int(entries)*4)
	if err := readFull(ra, raw, int64(tableOff)); err != nil {
		return nil, err
	}
	v.bat = make([]uint32, entries)
	for i := range v.bat {
		v.bat[i] = be.Uint32(raw[i*4:])
	}
	return v, nil
}

// VHDSubformat is "fixed" or "dynamic".
func (v *vhdImage) VHDSubformat() string {
	if v.dynamic {
		return "dynamic"
	}
	return "fixed"
}

func (v *vhdImage) Extents(ctx context.Context) ([]Extent, error) { return collectExtents(ctx, v) }

func (v *vhdImage) walkExtents(ctx context.Context, fn func(Extent) error) error {
	if !v.dynamic {
		return v.rawImage.walkExtents(ctx, fn)
	}
	var host int64
	for i := int64(0); i*v.blockSize < v.size; i++ {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		k := Hole
		if v.bat[i] != vhdUnallocated {
			k = Data
			host += v.blockSize
		}
		off := i * v.blockSize
		if err := fn(Extent{Offset: off, Length: min(v.blockSize, v.size-off), Kind: k}); err != nil {
			return err
		}
	}
	if host > v.fsize {
		return fmt.Errorf("%s%w: VHD maps %d bytes of data but the file holds %d: blocks shared by many guest ranges (a crafted image)",
			nameOf(v.ra), ErrCorrupt, host, v.fsize)
	}
	return nil
}

// ReadAt ignores the sector bitmaps of dynamic disks, as qemu does: an allocated block
// is read in full.
func (v *vhdImage) ReadAt(p []byte, off int64) (int, error) {
	if !v.dynamic {
		return v.rawImage.ReadAt(p, off)
	}
	q, eof := clipRead(p, off, v.size)
	n := 0
	for n < len(q) {
		cur := off + int64(n)
		in := cur % v.blockSize
		l := int(min(int64(len(q)-n), v.blockSize-in))
		e := v.bat[cur/v.blockSize]
		if e == vhdUnallocated {
			clear(q[n : n+l])
		} else if err := readFull(v.ra, q[n:n+l], int64(e)*sector+v.bitmap+in); err != nil {
			return n, fmt.Errorf("%w: VHD block %d: %v", ErrCorrupt, cur/v.blockSize, err)
		}
		n += l
	}
	return n, eof
}

// prefetch: a fixed disk's guest offsets are file offsets; a dynamic disk's are not (the
// blocks lie where the block table says), so nothing is prefetched for it.
func (v *vhdImage) prefetch(off, n int64) {
	if !v.dynamic {
		v.rawImage.prefetch(off, n)
	}
}
