package diskimage

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"strings"
)

// VDI writer (VirtualBox's native format), version 1.1 with 1 MiB blocks:
//   - "dynamic" (default, VirtualBox's "normal"): header, block map, then only the blocks
//     that hold a non-zero byte, in guest order; all-zero blocks stay free (holes). The
//     map precedes the data and the blocks that are allocated are known only once read,
//     so it needs a seekable file (the map and the allocated count are written last).
//   - "fixed" ("static"): every block allocated in guest order; streams (the map is known
//     up front), and all-zero 4 KiB pages of a file become holes.
//
// The data area starts 1 MiB into the file, so every block is 1 MiB aligned in it (guest
// pages map to whole file pages). The UUIDs are derived from the size and subformat (no
// clock, no randomness): the same input gives the same file; VirtualBox refuses to attach
// two disks of one UUID, so `VBoxManage internalcommands sethduuid` gives a copy its own.

type vdiWriter struct{}

const vdiText = "<<< Oracle VM VirtualBox Disk Image >>>\n"

func (vdiWriter) NeedsSeek(o WriteOptions) bool { return !strings.EqualFold(o.Subformat, "fixed") }

// vdiHeader returns the 512-byte header of a VDI of size bytes in blocks 1 MiB blocks, with
// the block map at 512 and the data at dataOff.
func vdiHeader(size int64, static bool, blocks, allocated uint32, dataOff int64) []byte {
	h := make([]byte, vdiHeaderBytes)
	le := binary.LittleEndian
	copy(h, vdiText)
	le.PutUint32(h[0x40:], vdiSignature)
	le.PutUint32(h[0x44:], vdiVersion11)
	le.PutUint32(h[0x48:], 0x180) // header size after the pre-header, as qemu writes it
	typ := uint32(vdiTypeNormal)
	if static {
		typ = vdiTypeFixed
	}
	le.PutUint32(h[0x4c:], typ)
	le.PutUint32(h[0x154:], vdiHeaderBytes)
	le.PutUint32(h[0x158:], uint32(dataOff))
	c, hd, s := vhdGeometry(size) // legacy geometry, informational
	le.PutUint32(h[0x15c:], uint32(c))
	le.PutUint32(h[0x160:], uint32(hd))
	le.PutUint32(h[0x164:], uint32(s))
	le.PutUint32(h[0x168:], sector)
	le.PutUint64(h[0x170:], uint64(size))
	le.PutUint32(h[0x178:], vdiBlockSize)
	le.PutUint32(h[0x180:], blocks)
	le.PutUint32(h[0x184:], allocated)
	for i, k := range []int{0x188, 0x198} { // image and last-snapshot UUIDs; link and parent stay nil
		f := fnv.New128a()
		fmt.Fprint(f, "vdi", size, typ, i)
		u := f.Sum(nil)
		u[6] = u[6]&0x0f | 0x40 // version 4
		u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
		copy(h[k:k+16], u)
	}
	return h
}

func (vdiWriter) Write(ctx context.Context, dst io.Writer, src Image, o WriteOptions) error {
	var static bool
	switch strings.ToLower(o.Subformat) {
	case "", "dynamic", "normal":
	case "fixed", "static":
		static = true
	default:
		return fmt.Errorf("vdi subformat %q (want dynamic or fixed)", o.Subformat)
	}
	size := (src.Size() + sector - 1) / sector * sector
	if err := checkVirtualSize("VDI output", uint64(size)); err != nil {
		return err
	}
	nblocks := (size + vdiBlockSize - 1) / vdiBlockSize
	dataOff := (vdiHeaderBytes + nblocks*4 + vdiBlockSize - 1) / vdiBlockSize * vdiBlockSize
	if dataOff > 0xffffffff {
		return fmt.Errorf("image of %d bytes is too large for a VDI (its block map would end past 4 GiB)", size)
	}
	s, err := newSink(dst)
	if err != nil {
		return err
	}
	defer s.close()
	if !static && !s.seekable() {
		return fmt.Errorf("dynamic vdi needs a seekable regular file; use subformat fixed for streams")
	}
	le := binary.LittleEndian
	bmap := make([]byte, dataOff-vdiHeaderBytes)
	for i := range nblocks {
		e := uint32(vdiFree)
		if static {
			e = uint32(i)
		}
		le.PutUint32(bmap[i*4:], e)
	}
	alloc := uint32(0)
	if static {
		alloc = uint32(nblocks)
	}
	if err := s.write(vdiHeader(size, static, uint32(nblocks), alloc, dataOff)); err != nil {
		return err
	}
	if err := s.write(bmap); err != nil {
		return err
	}
	if static {
		if err := writeGuestBytes(ctx, s, src, o); err != nil {
			return err
		}
		if err := s.zeros(dataOff + nblocks*vdiBlockSize - s.pos); err != nil {
			return err
		}
		return s.finish()
	}
	exts, err := prepare(ctx, src)
	if err != nil {
		return err
	}
	// The workers find the non-zero pages of each block; the emitter gives a block with any
	// the next data block and writes those pages (the rest of it: holes).
	work := func(w *unitWork) error {
		w.marks = nonZeroRuns(w.data[:vdiBlockSize], w.marks[:0])
		return nil
	}
	emit := func(w *unitWork) error {
		if len(w.marks) == 0 {
			return nil
		}
		le.PutUint32(bmap[(w.off/vdiBlockSize)*4:], alloc)
		alloc++
		return s.runs(w.data[:vdiBlockSize], w.marks)
	}
	if err := runUnits(ctx, src, exts, vdiBlockSize, 1, max(4, o.workers()), work, emit, o.Progress); err != nil {
		return err
	}
	if err := s.writeAt(bmap, vdiHeaderBytes); err != nil {
		return err
	}
	if err := s.writeAt(vdiHeader(size, false, uint32(nblocks), alloc, dataOff), 0); err != nil {
		return err
	}
	if o.Progress != nil {
		o.Progress(src.Size(), src.Size())
	}
	return s.finish()
}
