// Package diskimage reads and writes virtual disk images as a sequence of extents.
//
// Every format sits behind one interface, Image: a virtual size, ReadAt, and an extent map
// saying which ranges hold data, which read as zero and which are unallocated, so a writer
// never reads or writes a hole.
//
// Formats: every format declares itself in its own file with Register(Format{...}): its
// name and aliases, extensions, content probe, readers (Open, OpenReaderAt), writer (whose
// NeedsSeek says when it can stream) and place in preference order. Everything else asks
// the registry: Lookup, ByExtension, Names, Formats, Readers, Writers, Detect, and Open,
// OpenReaderAt and LookupWriter iterate it. Adding a format is adding one file with such a
// declaration (see internal/diskimage/testformat, a toy format that only tests import).
//
// Readers: Open/OpenFormat probe raw, qcow2, VMDK (monolithicSparse, streamOptimized), VHD
// (fixed, dynamic), VHDX (fixed, dynamic; Hyper-V, Azure exports) and VDI (normal, fixed;
// VirtualBox). Images that need another file (backing files, external data files, VMDK
// deltas, differencing VHDs and VHDXs, VDI diff and undo images), VHDXs with a log still to
// replay, encrypted images and formats we only recognise (QED, parallels...) are refused
// with errors wrapping ErrUnsupported; an OVA appliance (the
// "ova" format, a Container declared by internal/ova) is refused with a ContainerError,
// and OpenDisk reads the disk inside it. qcow2 input is read with
// lima-vm/go-qcow2reader behind our own header validation and L1/L2 walker (the library
// would follow backing files, allocate the L1 table at the size the header claims, and
// re-read whole extended L2 tables per cluster).
//
// Writers (write_<format>.go): raw, qcow2, vmdk, vhd, vdi; "ova" in internal/ova. WriteRaw is
// the sparse, parallel raw writer for files (on the copy pipeline of sparsecopy.go).
// Writers into a regular file start the kernel's writeback of what they have written as
// they go (sync_file_range), so the output
// reaches the disk while the input is still being read; raw inputs are read with readahead
// hints (fadvise SEQUENTIAL, and WILLNEED for the chunks queued to the workers).
//
// Descriptor VMDKs (vmdk_descriptor.go): a text descriptor and its extent files
// (monolithicFlat, twoGbMaxExtentSparse, twoGbMaxExtentFlat, ESXi's vmfs) are read from a
// local path with Open, the extents concatenated behind the same Image. Extent names are
// hostile: only plain file names in the descriptor's own directory, regular files opened
// with O_NOFOLLOW, never the descriptor itself nor one file twice, all checked before any
// extent is opened; what this trusts is that directory (a hard link in it is the user's).
// Read through OpenReaderAt (a remote image, an archive member such as an OVA's) a
// descriptor is refused (ErrVMDKDescriptorNotLocal), and AsIsRefusal never lets its bytes
// be sent as the disk. Deltas (parentCID), vmfsSparse, seSparse and raw device mappings
// are refused with ErrUnsupported.
//
// Why in-house: no Go library served here writes these formats correctly and fast. govmomi's
// VMDK stream writer produces files qemu cannot read (u64 GD/GT entries, unpadded grains) and
// runs on one thread; the VHD packages are Windows-only or unmaintained; qemu-img itself
// compresses on one core (VMDK streamOptimized ~10× slower than our parallel grains). The
// formats are small enough (a few hundred lines each) to own, test against qemu-img, and
// fuzz. No metadata allocation is proportional to a size a header claims: tables are bounded
// by the file size and by qemu's own limits.
//
// Trust: every byte of an image file is hostile (a guest or a stranger made it). Headers
// may claim at most MaxVirtualSize (64 TiB, the largest volume of the clouds we publish to;
// more is refused with ErrTooLarge). Extent maps are walked, not materialised
// (WalkExtents): Extents collects the walk into at most 256 K entries, coarsening the map
// past that rather than refusing the image. Two directory entries sharing one qcow2 L2 table
// or VMDK grain table, two VDI map entries naming one block, and VHDX payload blocks that
// overlap each other or the metadata are refused when the image is opened (ErrCorrupt,
// naming the file); VHDX headers and region tables are CRC-32C checked; and
// a walk that finds more data mapped than the file can hold (shared data clusters, grains or
// blocks) fails, so a few kilobytes can neither become gigabytes of extent map nor terabytes
// of reads. A raw file is trusted only as a file: callers that made it (the builders'
// working copies) open it with OpenFormat(path, "raw"), never by probing its first sector,
// which the guest wrote.
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
	// Format is the short format name ("raw", "qcow2", "vmdk", "vhd", "vhdx", "vdi").
	Format() string
	// Size is the virtual disk size in bytes.
	Size() int64
	// Extents returns the extent map of the whole disk, in ascending order, covering
	// [0, Size()) exactly. Adjacent extents of the same kind may or may not be merged. The
	// map holds at most about 256 K entries: a more fragmented image's map is coarsened
	// (holes and zeros next to data reported as data, which reads as zeros); WalkExtents
	// gives the exact map without building it.
	Extents(ctx context.Context) ([]Extent, error)
}

// Progress is called with the bytes of the virtual disk processed so far and the total.
type Progress func(done, total int64)
