package diskimage

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// VDI (VirtualBox), normal (dynamic) and fixed (static), version 1.1, read in-house after
// qemu's block/vdi.c and VirtualBox's VDICore.h. Little-endian. A 512-byte header (a
// text pre-header, the signature at 64, geometry, disk size, block size, block counts,
// UUIDs), a block map of u32 entries (the index of the block in the data area; free:
// a hole; zero: discarded, reads as zeros) and the data area, block after block.

const (
	vdiSignature   = 0xbeda107f
	vdiVersion11   = 0x00010001
	vdiHeaderBytes = 512
	vdiTypeNormal  = 1 // dynamic
	vdiTypeFixed   = 2 // static
	vdiTypeUndo    = 3
	vdiTypeDiff    = 4
	vdiFree        = 0xffffffff
	vdiZero        = 0xfffffffe
	vdiBlockSize   = 1 << 20 // the only block size VirtualBox and qemu write
	vdiMaxBlocks   = 0x3fffffff
)

func init() {
	Register(Format{
		Name:        "vdi",
		Description: "a VirtualBox disk image (VDI)",
		Extensions:  []string{".vdi"},
		Order:       50,
		Probe: func(r io.ReaderAt, size int64, head []byte) bool {
			return len(head) >= 72 && binary.LittleEndian.Uint32(head[64:]) == vdiSignature
		},
		Open:         openVDI,
		OpenReaderAt: openVDIAt,
		Writer:       vdiWriter{},
	})
}

type vdiImage struct {
	blockMap
	static  bool
	dataOff int64
	bmap    []uint32
}

func openVDI(f *os.File) (Image, error) {
	fsize, err := fileSize(f)
	if err != nil {
		return nil, err
	}
	return openVDIAt(f, fsize, f)
}

// openVDIAt opens a VDI of fsize bytes read through ra; Close closes c. The block map is
// read whole: it is bounded by the file (4 bytes per block of at least 512 bytes).
func openVDIAt(ra io.ReaderAt, fsize int64, c io.Closer) (Image, error) {
	if fsize < vdiHeaderBytes {
		return nil, fmt.Errorf("%w: VDI file of %d bytes has no header", ErrCorrupt, fsize)
	}
	h := make([]byte, vdiHeaderBytes)
	if err := readFull(ra, h, 0); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	if le.Uint32(h[0x40:]) != vdiSignature {
		return nil, fmt.Errorf("%w: no VDI signature", ErrCorrupt)
	}
	if v := le.Uint32(h[0x44:]); v != vdiVersion11 {
		return nil, fmt.Errorf("%w: VDI version %d.%d (only 1.1 is read)", ErrUnsupported, v>>16, v&0xffff)
	}
	var (
		typ       = le.Uint32(h[0x4c:])
		bmapOff   = int64(le.Uint32(h[0x154:]))
		dataOff   = int64(le.Uint32(h[0x158:]))
		secSize   = le.Uint32(h[0x168:])
		diskSize  = le.Uint64(h[0x170:])
		blockSize = int64(le.Uint32(h[0x178:]))
		extra     = le.Uint32(h[0x17c:])
		blocks    = int64(le.Uint32(h[0x180:]))
		allocated = int64(le.Uint32(h[0x184:]))
		link      = h[0x1a8:0x1b8]
		parent    = h[0x1b8:0x1c8]
	)
	switch typ {
	case vdiTypeNormal, vdiTypeFixed:
	case vdiTypeDiff, vdiTypeUndo:
		return nil, fmt.Errorf("%w (VDI differencing or undo image); merge it into its parent in VirtualBox first (VBoxManage clonemedium)",
			ErrBackingFile)
	default:
		return nil, fmt.Errorf("%w: VDI image type %d", ErrUnsupported, typ)
	}
	if !allZero(link) || !allZero(parent) {
		return nil, fmt.Errorf("%w (VDI with a parent UUID); merge it into its parent first", ErrBackingFile)
	}
	if err := checkVirtualSize("VDI", diskSize); err != nil {
		return nil, err
	}
	// VBoxManage convertfromraw can write sizes that are not whole sectors; qemu rounds
	// them up, and so does this.
	diskSize = (diskSize + sector - 1) / sector * sector
	switch {
	case secSize != sector:
		return nil, fmt.Errorf("%w: VDI sector size %d", ErrUnsupported, secSize)
	case extra != 0:
		return nil, fmt.Errorf("%w: VDI block extra data of %d bytes", ErrUnsupported, extra)
	case blockSize < sector || blockSize&(blockSize-1) != 0 || blockSize > vhdMaxBlockSize:
		return nil, fmt.Errorf("%w: VDI block size %d", ErrCorrupt, blockSize)
	case blocks > vdiMaxBlocks || diskSize > uint64(blocks*blockSize):
		return nil, fmt.Errorf("%w: VDI disk of %d bytes in %d blocks of %d", ErrCorrupt, diskSize, blocks, blockSize)
	case allocated > blocks:
		return nil, fmt.Errorf("%w: VDI claims %d blocks allocated of %d", ErrCorrupt, allocated, blocks)
	case bmapOff%sector != 0 || bmapOff < vdiHeaderBytes || bmapOff+blocks*4 > fsize:
		return nil, fmt.Errorf("%w: VDI block map of %d entries at %d in a %d-byte file", ErrCorrupt, blocks, bmapOff, fsize)
	case dataOff%sector != 0 || dataOff < bmapOff+blocks*4 || dataOff > fsize:
		return nil, fmt.Errorf("%w: VDI data offset %d (block map at %d, %d entries, file of %d bytes)",
			ErrCorrupt, dataOff, bmapOff, blocks, fsize)
	}
	v := &vdiImage{blockMap: blockMap{ra: ra, c: c, name: "vdi", size: int64(diskSize), blockSize: blockSize},
		static: typ == vdiTypeFixed, dataOff: dataOff}
	v.at, v.kind = v.blockAt, v.blockKind
	raw := make([]byte, blocks*4)
	if err := readFull(ra, raw, bmapOff); err != nil {
		return nil, fmt.Errorf("%w: VDI block map: %v", ErrCorrupt, err)
	}
	// Every allocated block lies in the file, and no two entries name the same block (a
	// few kilobytes would otherwise read back as terabytes).
	slots := (fsize - dataOff + blockSize - 1) / blockSize // blocks the data area holds, the last maybe cut
	seen := make([]uint64, (min(slots, blocks)+63)/64)
	v.bmap = make([]uint32, blocks)
	for i := range v.bmap {
		e := le.Uint32(raw[i*4:])
		v.bmap[i] = e
		off := int64(i) * blockSize
		if e == vdiFree || e == vdiZero || off >= v.size {
			continue
		}
		if need := min(blockSize, v.size-off); int64(e) >= min(slots, blocks) || dataOff+int64(e)*blockSize+need > fsize {
			return nil, fmt.Errorf("%w: VDI block %d maps to data block %d, past the end of the file (%d bytes)",
				ErrCorrupt, i, e, fsize)
		}
		if seen[e/64]&(1<<(e%64)) != 0 {
			return nil, fmt.Errorf("%w: VDI data block %d mapped twice (block %d)", ErrCorrupt, e, i)
		}
		seen[e/64] |= 1 << (e % 64)
	}
	return v, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// VDISubformat is "dynamic" (VirtualBox's "normal") or "fixed" ("static").
func (v *vdiImage) VDISubformat() string {
	if v.static {
		return "fixed"
	}
	return "dynamic"
}

func (v *vdiImage) blockAt(b int64) int64 {
	if e := v.bmap[b]; e != vdiFree && e != vdiZero {
		return v.dataOff + int64(e)*v.blockSize
	}
	return -1
}

func (v *vdiImage) blockKind(b int64) ExtentKind {
	switch v.bmap[b] {
	case vdiFree:
		return Hole
	case vdiZero:
		return Zero
	}
	return Data
}
