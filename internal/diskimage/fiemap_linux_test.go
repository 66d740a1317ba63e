package diskimage

import (
	"os"
	"syscall"
	"testing"
	"unsafe"
)

// FIEMAP (linux/fiemap.h): the extents of a file's data, without the file system's own
// blocks (an ext4 file of more than four extents has an extent tree block, which st_blocks
// counts once writeback has allocated it, so a count of st_blocks depends on when the kernel
// wrote the file back).
const (
	fsIocFiemap      = 0xC020660B
	fiemapFlagSync   = 0x1
	fiemapExtentLast = 0x1
	fiemapBatch      = 64
)

type fiemapExtent struct {
	Logical, Physical, Length uint64
	_                         [2]uint64
	Flags                     uint32
	_                         [3]uint32
}

type fiemapReq struct {
	Start, Length                     uint64
	Flags, MappedExtents, ExtentCount uint32
	_                                 uint32
	Extents                           [fiemapBatch]fiemapExtent
}

// dataBlocks returns, for each 4 KiB block of path, whether the file system holds data
// for it (written or unwritten extents alike), after syncing the file's delayed allocations.
func dataBlocks(t testing.TB, path string) []bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	blocks := make([]bool, (st.Size()+4095)/4096)
	var req fiemapReq
	for start := uint64(0); ; {
		req = fiemapReq{Start: start, Length: ^uint64(0) - start, Flags: fiemapFlagSync, ExtentCount: fiemapBatch}
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), fsIocFiemap, uintptr(unsafe.Pointer(&req))); e != 0 {
			t.Fatalf("FIEMAP %s: %v", path, e)
		}
		if req.MappedExtents == 0 {
			return blocks
		}
		for _, e := range req.Extents[:req.MappedExtents] {
			for b := e.Logical / 4096; b < (e.Logical+e.Length+4095)/4096 && b < uint64(len(blocks)); b++ {
				blocks[b] = true
			}
			start = e.Logical + e.Length
			if e.Flags&fiemapExtentLast != 0 {
				return blocks
			}
		}
	}
}
