package diskimage

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"
	"strings"
)

// VHDX (Hyper-V, Azure exports), fixed and dynamic, read in-house after Microsoft's
// MS-VHDX specification (v1.0) and qemu's block/vhdx.c. Little-endian. The file starts with
// a 64 KiB file type identifier ("vhdxfile"), two 4 KiB headers at 64 and 128 KiB (the
// valid one with the greater sequence number is current; CRC-32C), two copies of the
// region table at 192 and 256 KiB (CRC-32C) locating the block allocation table (BAT) and
// the metadata region, and the log. The metadata gives the block size (1 to 256 MiB, a
// power of two), whether the disk has a parent, the virtual size and the sector sizes.
// The BAT holds one u64 per payload block (state in bits 0-2, file offset in MiB in bits
// 20-63), with a sector bitmap entry after every chunk ratio of them (used only by
// differencing disks, which are refused).
//
// Trust: every table is bounded by the file before it is read (the BAT's length follows
// from the virtual size and block size and must fit in its region, which must fit in the
// file); payload blocks must lie in the file and overlap neither each other nor the
// metadata; a log with entries still to replay is refused (this reads, never writes).

const (
	vhdxHeaderOff    = 64 << 10
	vhdxHeaderSize   = 4 << 10
	vhdxRegionOff    = 192 << 10
	vhdxRegionSize   = 64 << 10
	vhdxMetaTable    = 64 << 10
	vhdxMaxEntries   = 2047
	vhdxMinBlock     = 1 << 20
	vhdxMaxBlock     = 256 << 20
	vhdxMiB          = 1 << 20
	vhdxLogSector    = 4 << 10
	vhdxStateMask    = 7
	vhdxNotPresent   = 0
	vhdxUndefined    = 1
	vhdxZero         = 2
	vhdxUnmapped     = 3
	vhdxFullyPresent = 6
	vhdxPartially    = 7
)

var (
	crc32c = crc32.MakeTable(crc32.Castagnoli)

	vhdxBATGUID      = msGUID("2DC27766-F623-4200-9D64-115E9BFD4A08")
	vhdxMetadataGUID = msGUID("8B7CA206-4790-4B9A-B8FE-575F050F886E")
	vhdxFileParams   = msGUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
	vhdxVirtualSize  = msGUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
	vhdxPage83       = msGUID("BECA12AB-B2E6-4523-93EF-C309E000C746")
	vhdxLogicalSec   = msGUID("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
	vhdxPhysicalSec  = msGUID("CDA348C7-445D-4471-9CC9-E9885251C556")
	vhdxParentLoc    = msGUID("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C")
)

// msGUID is the on-disk form of a GUID: its first three fields little-endian.
func msGUID(s string) [16]byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		panic("bad GUID " + s)
	}
	var g [16]byte
	copy(g[:], b)
	slices.Reverse(g[0:4])
	slices.Reverse(g[4:6])
	slices.Reverse(g[6:8])
	return g
}

func init() {
	Register(Format{
		Name:        "vhdx",
		Description: "a Hyper-V virtual hard disk (VHDX)",
		Extensions:  []string{".vhdx"},
		Order:       40,
		Probe: func(r io.ReaderAt, size int64, head []byte) bool {
			return bytes.HasPrefix(head, []byte("vhdxfile"))
		},
		Open:         openVHDX,
		OpenReaderAt: openVHDXAt,
	})
}

type vhdxImage struct {
	blockMap
	fixed bool     // LeaveBlocksAllocated
	bat   []uint64 // payload block entries only (sector bitmap entries dropped)
}

func openVHDX(f *os.File) (Image, error) {
	fsize, err := fileSize(f)
	if err != nil {
		return nil, err
	}
	return openVHDXAt(f, fsize, f)
}

// crcOK checks the CRC-32C of b whose checksum field is the u32 at off.
func crcOK(b []byte, off int) bool {
	want := binary.LittleEndian.Uint32(b[off:])
	h := crc32.Update(0, crc32c, b[:off])
	h = crc32.Update(h, crc32c, []byte{0, 0, 0, 0})
	h = crc32.Update(h, crc32c, b[off+4:])
	return h == want
}

// vhdxHeader is the current header's fields this reads.
type vhdxHeader struct {
	seq       uint64
	logGUID   [16]byte
	logLength uint32
	logOffset uint64
}

// span is a range of the file that one structure occupies: what names it, or it is
// payload block number block (one span per present block: no string each).
type span struct {
	off, n int64
	what   string
	block  int
}

func (s span) String() string {
	if s.what != "" {
		return s.what
	}
	return fmt.Sprintf("block %d", s.block)
}

// openVHDXAt opens a VHDX of fsize bytes read through ra; Close closes c.
func openVHDXAt(ra io.ReaderAt, fsize int64, c io.Closer) (Image, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: VHDX "+format, append([]any{ErrCorrupt}, a...)...)
	}
	if fsize < vhdxRegionOff+2*vhdxRegionSize {
		return nil, bad("file of %d bytes is shorter than its headers and region tables", fsize)
	}
	head := make([]byte, 8)
	if err := readFull(ra, head, 0); err != nil {
		return nil, err
	}
	if string(head) != "vhdxfile" {
		return nil, bad("file type identifier missing")
	}
	le := binary.LittleEndian

	// Headers: the valid one with the greater sequence number.
	var cur *vhdxHeader
	buf := make([]byte, vhdxRegionSize)
	for i := range 2 {
		h := buf[:vhdxHeaderSize]
		if err := readFull(ra, h, vhdxHeaderOff*int64(i+1)); err != nil {
			return nil, err
		}
		if string(h[:4]) != "head" || !crcOK(h, 4) || le.Uint16(h[66:]) != 1 {
			continue
		}
		hd := &vhdxHeader{seq: le.Uint64(h[8:]), logLength: le.Uint32(h[68:]), logOffset: le.Uint64(h[72:])}
		copy(hd.logGUID[:], h[48:64])
		if cur == nil || hd.seq > cur.seq {
			cur = hd
		}
	}
	if cur == nil {
		return nil, bad("has no valid header (signature, CRC-32C or version wrong in both copies)")
	}

	// Region table: the first copy, or the second if the first is damaged.
	var rt []byte
	for i := range 2 {
		if err := readFull(ra, buf, vhdxRegionOff+int64(i)*vhdxRegionSize); err != nil {
			return nil, err
		}
		if string(buf[:4]) == "regi" && crcOK(buf, 4) {
			rt = buf
			break
		}
	}
	if rt == nil {
		return nil, bad("has no valid region table (signature or CRC-32C wrong in both copies)")
	}
	count := le.Uint32(rt[8:])
	if count > vhdxMaxEntries {
		return nil, bad("region table of %d entries (at most %d)", count, vhdxMaxEntries)
	}
	var bat, meta *span
	used := []span{{0, vhdxMiB, "the headers", 0}}
	for i := range int(count) {
		e := rt[16+i*32 : 16+(i+1)*32]
		var g [16]byte
		copy(g[:], e[:16])
		off, n, required := le.Uint64(e[16:]), int64(le.Uint32(e[24:])), le.Uint32(e[28:])&1 != 0
		var slot **span
		what := "the BAT"
		switch g {
		case vhdxBATGUID:
			slot = &bat
		case vhdxMetadataGUID:
			slot, what = &meta, "the metadata region"
		default:
			if required {
				return nil, fmt.Errorf("%w: VHDX has a required region %x this does not know", ErrUnsupported, g)
			}
			continue
		}
		if *slot != nil {
			return nil, bad("region table lists region %x twice", g)
		}
		if off%vhdxMiB != 0 || off < vhdxMiB || n <= 0 || n%vhdxMiB != 0 || off > uint64(fsize) || int64(off)+n > fsize {
			return nil, bad("region %x of %d bytes at %d does not fit the %d-byte file", g, n, off, fsize)
		}
		*slot = &span{int64(off), n, what, 0}
		used = append(used, **slot)
	}
	if bat == nil || meta == nil {
		return nil, bad("region table lacks the BAT or the metadata region")
	}

	// Metadata.
	md := buf[:vhdxMetaTable]
	if meta.n < vhdxMetaTable {
		return nil, bad("metadata region of %d bytes", meta.n)
	}
	if err := readFull(ra, md, meta.off); err != nil {
		return nil, err
	}
	if string(md[:8]) != "metadata" {
		return nil, bad("metadata table signature missing")
	}
	mcount := int(le.Uint16(md[10:]))
	if mcount > vhdxMaxEntries {
		return nil, bad("metadata table of %d entries (at most %d)", mcount, vhdxMaxEntries)
	}
	items := map[[16]byte][]byte{}
	for i := range mcount {
		e := md[32+i*32 : 32+(i+1)*32]
		var g [16]byte
		copy(g[:], e[:16])
		off, n, flags := int64(le.Uint32(e[16:])), int64(le.Uint32(e[20:])), le.Uint32(e[24:])
		known := g == vhdxFileParams || g == vhdxVirtualSize || g == vhdxLogicalSec || g == vhdxPhysicalSec ||
			g == vhdxPage83 || g == vhdxParentLoc
		if !known {
			if flags&4 != 0 {
				return nil, fmt.Errorf("%w: VHDX has a required metadata item %x this does not know", ErrUnsupported, g)
			}
			continue
		}
		if _, dup := items[g]; dup {
			return nil, bad("metadata item %x listed twice", g)
		}
		if n > 0 && (off < vhdxMetaTable || off+n > meta.n) || n > 64<<10 {
			return nil, bad("metadata item %x of %d bytes at %d outside its %d-byte region", g, n, off, meta.n)
		}
		if g == vhdxParentLoc || g == vhdxPage83 {
			items[g] = nil
			continue
		}
		v := make([]byte, n)
		if err := readFull(ra, v, meta.off+off); err != nil {
			return nil, err
		}
		items[g] = v
	}
	get := func(g [16]byte, what string, n int) ([]byte, error) {
		v, ok := items[g]
		if !ok || len(v) < n {
			return nil, bad("metadata lacks the %s", what)
		}
		return v, nil
	}
	params, err := get(vhdxFileParams, "file parameters", 8)
	if err != nil {
		return nil, err
	}
	vs, err := get(vhdxVirtualSize, "virtual disk size", 8)
	if err != nil {
		return nil, err
	}
	lss, err := get(vhdxLogicalSec, "logical sector size", 4)
	if err != nil {
		return nil, err
	}
	pss, err := get(vhdxPhysicalSec, "physical sector size", 4)
	if err != nil {
		return nil, err
	}
	blockSize := int64(le.Uint32(params))
	pflags := le.Uint32(params[4:])
	if pflags&2 != 0 {
		return nil, fmt.Errorf("%w (differencing VHDX); merge it into its parent first (Merge-VHD, or qemu-img convert of the child)",
			ErrBackingFile)
	}
	if _, ok := items[vhdxParentLoc]; ok {
		return nil, fmt.Errorf("%w (VHDX with a parent locator); merge it into its parent first", ErrBackingFile)
	}
	logical, physical := int64(le.Uint32(lss)), le.Uint32(pss)
	vsize := le.Uint64(vs)
	switch {
	case blockSize < vhdxMinBlock || blockSize > vhdxMaxBlock || blockSize&(blockSize-1) != 0:
		return nil, bad("block size %d (a power of two from 1 to 256 MiB)", blockSize)
	case logical != 512 && logical != 4096:
		return nil, bad("logical sector size %d", logical)
	case physical != 512 && physical != 4096:
		return nil, bad("physical sector size %d", physical)
	}
	if err := checkVirtualSize("VHDX", vsize); err != nil {
		return nil, err
	}
	if vsize%uint64(logical) != 0 {
		return nil, bad("virtual size %d is not a multiple of the %d-byte logical sector", vsize, logical)
	}

	// The log: refused when it holds entries of the current log GUID (qemu replays them
	// when it may write the file; this only reads).
	if cur.logGUID != ([16]byte{}) {
		lo, ln := cur.logOffset, int64(cur.logLength)
		if lo%vhdxMiB != 0 || lo < vhdxMiB || ln <= 0 || ln%vhdxMiB != 0 || lo > uint64(fsize) || int64(lo)+ln > fsize {
			return nil, bad("log of %d bytes at %d does not fit the %d-byte file", ln, lo, fsize)
		}
		used = append(used, span{int64(lo), ln, "the log", 0})
		pending, err := vhdxLogPending(ra, int64(lo), ln, cur.logGUID)
		if err != nil {
			return nil, err
		}
		if pending {
			return nil, fmt.Errorf("%w: VHDX has log entries to replay (the disk was not closed cleanly); "+
				"open it once with qemu-img check -r all (or attach it in Hyper-V), then read it again", ErrUnsupported)
		}
	}

	// The BAT: its length follows from the virtual size, never from the file.
	chunkRatio := (int64(1) << 23) * logical / blockSize
	dataBlocks := (int64(vsize) + blockSize - 1) / blockSize
	entries := int64(0)
	if dataBlocks > 0 {
		entries = dataBlocks + (dataBlocks-1)/chunkRatio
	}
	if entries*8 > bat.n {
		return nil, bad("BAT region of %d bytes cannot hold the %d entries of a %d-byte disk in %d-byte blocks",
			bat.n, entries, vsize, blockSize)
	}
	v := &vhdxImage{blockMap: blockMap{ra: ra, c: c, name: "vhdx", size: int64(vsize), blockSize: blockSize}, fixed: pflags&1 != 0}
	v.at, v.kind = v.blockAt, v.blockKind
	v.bat = make([]uint64, dataBlocks)
	const chunk = 1 << 16 // entries read at a time
	raw := make([]byte, min(entries, chunk)*8)
	for first := int64(0); first < entries; first += chunk {
		n := min(entries-first, chunk)
		if err := readFull(ra, raw[:n*8], bat.off+first*8); err != nil {
			return nil, err
		}
		for k := range n {
			j := first + k
			if (j+1)%(chunkRatio+1) == 0 {
				continue // a sector bitmap entry
			}
			v.bat[j-j/(chunkRatio+1)] = le.Uint64(raw[k*8:])
		}
	}
	for i, e := range v.bat {
		switch e & vhdxStateMask {
		case vhdxNotPresent, vhdxUndefined, vhdxZero, vhdxUnmapped:
			continue
		case vhdxFullyPresent:
		case vhdxPartially:
			return nil, bad("block %d is partially present, which only a differencing disk may be", i)
		default:
			return nil, bad("block %d has state %d", i, e&vhdxStateMask)
		}
		mib := e >> 20
		need := min(blockSize, int64(vsize)-int64(i)*blockSize)
		if mib == 0 || mib > uint64(fsize)/vhdxMiB || int64(mib)*vhdxMiB+need > fsize {
			return nil, bad("block %d at %d MiB lies past the end of the %d-byte file", i, mib, fsize)
		}
		used = append(used, span{int64(mib) * vhdxMiB, need, "", i})
	}
	// No two structures share a byte: a few kilobytes cannot read back as terabytes.
	slices.SortFunc(used, func(a, b span) int { return int(min(max(a.off-b.off, -1), 1)) })
	for k := 1; k < len(used); k++ {
		if a, b := used[k-1], used[k]; a.off+a.n > b.off {
			return nil, bad("%s (at %d) overlaps %s (at %d)", b, b.off, a, a.off)
		}
	}
	return v, nil
}

// vhdxLogPending reports whether the log [off, off+n) holds a valid entry of guid.
func vhdxLogPending(ra io.ReaderAt, off, n int64, guid [16]byte) (bool, error) {
	le := binary.LittleEndian
	buf := make([]byte, min(n, vhdxMiB))
	for base := int64(0); base < n; base += int64(len(buf)) {
		b := buf[:min(int64(len(buf)), n-base)]
		if err := readFull(ra, b, off+base); err != nil {
			return false, err
		}
		for s := 0; s+64 <= len(b); s += vhdxLogSector {
			h := b[s:]
			if string(h[:4]) != "loge" || !bytes.Equal(h[32:48], guid[:]) {
				continue
			}
			length := int64(le.Uint32(h[8:]))
			at := base + int64(s)
			if length < vhdxLogSector || length%vhdxLogSector != 0 || at+length > n {
				continue
			}
			ok, err := vhdxEntryCRC(ra, off+at, length)
			if err != nil || ok {
				return ok, err
			}
		}
	}
	return false, nil
}

// vhdxEntryCRC checks the CRC-32C of the log entry of length bytes at off.
func vhdxEntryCRC(ra io.ReaderAt, off, length int64) (bool, error) {
	b := make([]byte, min(length, 64<<10))
	var h uint32
	var want uint32
	for done := int64(0); done < length; {
		k := min(int64(len(b)), length-done)
		if err := readFull(ra, b[:k], off+done); err != nil {
			return false, err
		}
		if done == 0 {
			want = binary.LittleEndian.Uint32(b[4:])
			clear(b[4:8])
		}
		h = crc32.Update(h, crc32c, b[:k])
		done += k
	}
	return h == want, nil
}

// VHDXSubformat is "fixed" (blocks left allocated) or "dynamic".
func (v *vhdxImage) VHDXSubformat() string {
	if v.fixed {
		return "fixed"
	}
	return "dynamic"
}

func (v *vhdxImage) blockAt(b int64) int64 {
	if e := v.bat[b]; e&vhdxStateMask == vhdxFullyPresent {
		return int64(e>>20) * vhdxMiB
	}
	return -1
}

func (v *vhdxImage) blockKind(b int64) ExtentKind {
	switch v.bat[b] & vhdxStateMask {
	case vhdxFullyPresent:
		return Data
	case vhdxZero:
		return Zero
	}
	return Hole
}
