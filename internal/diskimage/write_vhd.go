package diskimage

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"strings"
)

// VHD writer: fixed (raw data + footer; streamable; optionally 1 MiB aligned for Azure) and
// dynamic (footer copy, dynamic header, block allocation table, 2 MiB blocks each preceded
// by a full sector bitmap, footer; needs a seekable file since the BAT precedes the data).
// Dynamic blocks are placed so that their data is 4 KiB-aligned in the file (3.5 KiB of hole
// before each bitmap sector); the BAT entries point at the bitmap sectors as usual.
// The creator application is "win " (as Hyper-V writes): qemu and Microsoft tools then take
// the size from the footer's current_size rather than the CHS geometry, which cannot
// express most sizes (qemu only trusts current_size for a fixed list of creators).

type vhdWriter struct{}

const (
	vhdBlock      = 2 << 20
	vhdMaxDynamic = 2040 << 30
)

// vhdBlockPad is the padding to put before a dynamic block (its one-sector bitmap, then its
// data) that would otherwise start at pos, so that its data starts on a 4 KiB boundary of
// the file: guest pages then map to whole file pages, the page cache and the file system
// are written in whole blocks, and all-zero guest pages become whole holes.
func vhdBlockPad(pos int64) int64 {
	const align = 4096
	return (align - (pos+sector)%align) % align
}

func (vhdWriter) NeedsSeek(o WriteOptions) bool { return !strings.EqualFold(o.Subformat, "fixed") }

// vhdGeometry is the CHS algorithm of the VHD specification.
func vhdGeometry(size int64) (cyl uint16, heads, spt uint8) {
	ts := size / sector
	ts = min(ts, 65535*16*255)
	var cth, h, s int64
	if ts >= 65535*16*63 {
		s, h = 255, 16
		cth = ts / s
	} else {
		s = 17
		cth = ts / s
		h = max((cth+1023)/1024, 4)
		if cth >= h*1024 || h > 16 {
			s, h = 31, 16
			cth = ts / s
		}
		if cth >= h*1024 {
			s, h = 63, 16
			cth = ts / s
		}
	}
	return uint16(cth / h), uint8(h), uint8(s)
}

func vhdFooterBytes(size int64, diskType uint32, dataOffset uint64) []byte {
	b := make([]byte, sector)
	be := binary.BigEndian
	copy(b, vhdCookie)
	be.PutUint32(b[8:], 2)
	be.PutUint32(b[12:], 0x00010000)
	be.PutUint64(b[16:], dataOffset)
	// Timestamp left at 0 (2000-01-01) so the same input gives the same file.
	copy(b[28:], "win ")
	be.PutUint32(b[32:], 0x00010000)
	copy(b[36:], "Wi2k")
	be.PutUint64(b[40:], uint64(size))
	be.PutUint64(b[48:], uint64(size))
	c, h, s := vhdGeometry(size)
	be.PutUint16(b[56:], c)
	b[58], b[59] = h, s
	be.PutUint32(b[60:], diskType)
	f := fnv.New128a()
	fmt.Fprint(f, size, diskType)
	copy(b[68:84], f.Sum(nil))
	be.PutUint32(b[64:], vhdChecksum(b, 64))
	return b
}

func (vhdWriter) Write(ctx context.Context, dst io.Writer, src Image, o WriteOptions) error {
	size := (src.Size() + sector - 1) / sector * sector
	sub := strings.ToLower(o.Subformat)
	if o.AzureAlign {
		if sub != "fixed" {
			return fmt.Errorf("vhd: AzureAlign needs subformat fixed")
		}
		size = (size + 1<<20 - 1) >> 20 << 20
	}
	s, err := newSink(dst)
	if err != nil {
		return err
	}
	defer s.close()
	switch sub {
	case "fixed":
		if err := writeGuestBytes(ctx, s, src, o); err != nil {
			return err
		}
		if err := s.zeros(size - s.pos); err != nil {
			return err
		}
		if err := s.write(vhdFooterBytes(size, vhdTypeFixed, ^uint64(0))); err != nil {
			return err
		}
		return s.finish()
	case "", "dynamic":
	default:
		return fmt.Errorf("vhd subformat %q (want dynamic or fixed)", o.Subformat)
	}
	if size > vhdMaxDynamic {
		return fmt.Errorf("image of %d bytes is too large for a dynamic VHD (max 2040 GiB)", size)
	}
	if !s.seekable() {
		return fmt.Errorf("dynamic vhd needs a seekable regular file; use subformat fixed for streams")
	}
	exts, err := prepare(ctx, src)
	if err != nil {
		return err
	}
	entries := (size + vhdBlock - 1) / vhdBlock
	batBytes := (entries*4 + sector - 1) / sector * sector
	footer := vhdFooterBytes(size, vhdTypeDynamic, sector)
	dh := make([]byte, 1024)
	be := binary.BigEndian
	copy(dh, vhdDynCookie)
	be.PutUint64(dh[8:], ^uint64(0))
	be.PutUint64(dh[16:], 3*sector)
	be.PutUint32(dh[24:], 0x00010000)
	be.PutUint32(dh[28:], uint32(entries))
	be.PutUint32(dh[32:], vhdBlock)
	be.PutUint32(dh[36:], vhdChecksum(dh, 36))
	bat := make([]byte, batBytes)
	for i := range bat {
		bat[i] = 0xff
	}
	for _, b := range [][]byte{footer, dh, bat} {
		if err := s.write(b); err != nil {
			return err
		}
	}
	bitmap := make([]byte, sector) // 4096 sectors per 2 MiB block: one sector, all present
	for i := range bitmap {
		bitmap[i] = 0xff
	}
	vsize := src.Size()
	// The workers find the non-zero pages of each block (marks: [start, end) pairs within
	// the block); the emitter only places and writes them. A block without any is not
	// allocated; its zero pages are holes (the data is page aligned in the file).
	work := func(w *unitWork) error {
		w.marks = nonZeroRuns(w.data[:vhdBlock], w.marks[:0])
		return nil
	}
	emit := func(w *unitWork) error {
		if len(w.marks) == 0 {
			return nil
		}
		// Each block starts with its sector bitmap; a hole before it puts the block's data
		// on a 4 KiB boundary of the file (the BAT may point at any sector).
		if err := s.zeros(vhdBlockPad(s.pos)); err != nil {
			return err
		}
		be.PutUint32(bat[(w.off/vhdBlock)*4:], uint32(s.pos/sector))
		if err := s.write(bitmap); err != nil {
			return err
		}
		return s.runs(w.data[:vhdBlock], w.marks)
	}
	if err := runUnits(ctx, src, exts, vhdBlock, 1, max(4, o.workers()), work, emit, o.Progress); err != nil {
		return err
	}
	if err := s.write(footer); err != nil {
		return err
	}
	if err := s.writeAt(bat, 3*sector); err != nil {
		return err
	}
	if o.Progress != nil {
		o.Progress(vsize, vsize)
	}
	return s.finish()
}
