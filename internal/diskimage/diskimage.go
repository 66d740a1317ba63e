// Package diskimage reads and writes virtual disk images as a sequence of extents.
//
// Every format sits behind one interface, Image: a virtual size, ReadAt, and an extent map
// saying which ranges hold data, which read as zero and which are unallocated, so a writer
// never reads or writes a hole. Readers and writers are in-house where no well-kept Go library
// exists (VMDK, VHD, the qcow2 writer); qcow2 input is read with lima-vm/go-qcow2reader.
package diskimage

import (
	"context"
	"io"
)

// ExtentKind says what a range of the virtual disk holds.
type ExtentKind int

const (
	// Data ranges must be read.
	Data ExtentKind = iota
	// Zero ranges are allocated in the image but read as zeros.
	Zero
	// Hole ranges are not allocated and read as zeros.
	Hole
)

// Extent is a range [Offset, Offset+Length) of the virtual disk.
type Extent struct {
	Offset int64
	Length int64
	Kind   ExtentKind
}

// Image is an opened disk image of any format.
type Image interface {
	io.ReaderAt
	io.Closer
	// Format is the short format name ("raw", "qcow2", "vmdk", "vhd").
	Format() string
	// Size is the virtual disk size in bytes.
	Size() int64
	// Extents returns the extent map of the whole disk, in ascending order, covering
	// [0, Size()) exactly. Adjacent extents of the same kind may or may not be merged.
	Extents(ctx context.Context) ([]Extent, error)
}

// Progress is called with the bytes of the virtual disk processed so far and the total.
type Progress func(done, total int64)
