package vmdktest

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"io"
	"os"
	"testing"
)

// GDAtEnd is the header's grain directory offset of VMware's own stream writer: "read the
// footer".
const GDAtEnd = ^uint64(0)

// Stream is what WalkStream found in a streamOptimized VMDK.
type Stream struct {
	HeaderGD uint64 // the header's grain directory offset (sectors): GDAtEnd or a sector
	FooterGD uint64 // the footer's
	GD       uint64 // the sector where the grain directory after the GD marker starts
	Capacity int64  // bytes
	Grains   int    // grain markers
	GTs      int    // grain table markers
}

const sector = 512

// WalkStream reads the streamOptimized VMDK at path front to back, as VMware's stream
// reader does (no seeking: the header, then one marker after another), checks the stream
// rules of the VMDK specification and writes the disk the grains make into a new sparse
// raw file at rawOut, for comparing with the source. The rules: header version 3 with the
// compressed and markers flags, deflate, the descriptor at sector 1 and createType
// streamOptimized; every record sector aligned; grains in strictly ascending LBA order,
// grain aligned, within the capacity, each a complete zlib stream of one grain (the last
// may stop at the capacity; what it holds past it must be zero);
// each grain table and the grain directory after its marker, of the declared size; one
// footer (a header copy, same fields but the directory offset) pointing at the grain
// directory; the end-of-stream marker last; the header's offset GD_AT_END or the footer's;
// and the directory and tables map exactly the grains the stream holds.
func WalkStream(t testing.TB, path, rawOut string) Stream {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s: "+format, append([]any{path}, args...)...)
	}
	le := binary.LittleEndian
	if len(data) < 3*sector || len(data)%sector != 0 {
		fail("%d bytes: not a whole number of sectors, or too short", len(data))
	}
	hdr := data[:sector]
	if string(hdr[:4]) != "KDMV" {
		fail("magic %q", hdr[:4])
	}
	version, flags := le.Uint32(hdr[4:]), le.Uint32(hdr[8:])
	capacity, grain := le.Uint64(hdr[12:]), le.Uint64(hdr[20:])
	descOff, descSize := le.Uint64(hdr[28:]), le.Uint64(hdr[36:])
	gtes := uint64(le.Uint32(hdr[44:]))
	headerGD, overhead := le.Uint64(hdr[56:]), le.Uint64(hdr[64:])
	switch {
	case version != 3:
		fail("version %d, want 3", version)
	case flags&(1|1<<16|1<<17) != 1|1<<16|1<<17:
		fail("flags %#x lack valid-newline-test, compressed or markers", flags)
	case string(hdr[73:77]) != "\n \r\n":
		fail("newline check bytes %q", hdr[73:77])
	case le.Uint16(hdr[77:]) != 1:
		fail("compression algorithm %d, want 1 (deflate)", le.Uint16(hdr[77:]))
	case grain == 0 || grain&(grain-1) != 0 || grain > 2048:
		fail("grain size %d sectors", grain)
	case gtes == 0 || gtes*4%sector != 0:
		fail("%d grain table entries per table", gtes)
	case descOff != 1 || descSize == 0 || overhead < descOff+descSize || overhead*sector > uint64(len(data)):
		fail("descriptor at sector %d, %d sectors, overhead %d", descOff, descSize, overhead)
	}
	desc := data[descOff*sector : (descOff+descSize)*sector]
	if !bytes.Contains(desc, []byte(`createType="streamOptimized"`)) {
		fail("descriptor without createType=\"streamOptimized\":\n%s", bytes.TrimRight(desc, "\x00"))
	}
	st := Stream{HeaderGD: headerGD, Capacity: int64(capacity) * sector}
	out, err := os.Create(rawOut)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := out.Truncate(st.Capacity); err != nil {
		t.Fatal(err)
	}
	grains := map[uint64]uint64{} // sector of a grain marker -> its LBA
	tables := map[uint64][]byte{} // sector of a grain table -> the table
	var gd []byte
	footer := false
	nextLBA := uint64(0)
	buf := make([]byte, grain*sector)
	pos := overhead * sector
	for {
		if pos+sector > uint64(len(data)) {
			fail("no end-of-stream marker (stream ends at %d)", pos)
		}
		m := data[pos : pos+sector]
		val, size, typ := le.Uint64(m), le.Uint32(m[8:]), le.Uint32(m[12:])
		if size > 0 {
			lba := val
			switch {
			case lba%grain != 0 || lba >= capacity:
				fail("grain at %d: LBA %d not grain aligned or beyond capacity %d", pos, lba, capacity)
			case lba < nextLBA:
				fail("grain at %d: LBA %d after LBA %d (must ascend)", pos, lba, nextLBA-grain)
			case pos+12+uint64(size) > uint64(len(data)):
				fail("grain at %d: %d compressed bytes past the end", pos, size)
			}
			zr, err := zlib.NewReader(bytes.NewReader(data[pos+12 : pos+12+uint64(size)]))
			if err != nil {
				fail("grain at %d: %v", pos, err)
			}
			n, err := io.ReadFull(zr, buf)
			if err != nil && err != io.ErrUnexpectedEOF {
				fail("grain at %d: %v", pos, err)
			}
			if k, _ := zr.Read(make([]byte, 1)); k != 0 {
				fail("grain at %d inflates to more than a grain", pos)
			}
			if err := zr.Close(); err != nil {
				fail("grain at %d: %v", pos, err)
			}
			// The last grain may be whole, its part past the capacity zero, or cut short.
			in := min(grain*sector, capacity*sector-lba*sector)
			if uint64(n) != in && uint64(n) != grain*sector {
				fail("grain at %d (LBA %d) inflates to %d bytes, want %d or a whole grain", pos, lba, n, in)
			}
			if !bytes.Equal(buf[min(uint64(n), in):n], make([]byte, uint64(n)-min(uint64(n), in))) {
				fail("grain at %d (LBA %d) has data past the capacity", pos, lba)
			}
			if _, err := out.WriteAt(buf[:in], int64(lba)*sector); err != nil {
				t.Fatal(err)
			}
			grains[pos/sector] = lba
			nextLBA = lba + grain
			st.Grains++
			pos += (12 + uint64(size) + sector - 1) / sector * sector
			continue
		}
		if !bytes.Equal(m[16:], make([]byte, sector-16)) {
			fail("marker at %d: non-zero padding", pos)
		}
		body := pos + sector
		switch typ {
		case 0:
			if val != 0 || body != uint64(len(data)) {
				fail("end-of-stream marker at %d (val %d) is not the last sector of %d bytes", pos, val, len(data))
			}
		case 1:
			if val != gtes*4/sector || body+val*sector > uint64(len(data)) || gd != nil {
				fail("grain table marker at %d: %d sectors (or after the directory)", pos, val)
			}
			tables[body/sector] = data[body : body+val*sector]
			st.GTs++
		case 2:
			numGTs := (capacity + grain*gtes - 1) / (grain * gtes)
			if val != (numGTs*4+sector-1)/sector || body+val*sector > uint64(len(data)) || gd != nil {
				fail("grain directory marker at %d: %d sectors for %d tables (or a second one)", pos, val, numGTs)
			}
			gd = data[body : body+numGTs*4]
			st.GD = body / sector
		case 3:
			if val != 1 || footer || gd == nil || body+sector > uint64(len(data)) {
				fail("footer marker at %d: %d sectors (or a second one, or before the directory)", pos, val)
			}
			foot := data[body : body+sector]
			st.FooterGD = le.Uint64(foot[56:])
			a, b := bytes.Clone(hdr), bytes.Clone(foot)
			clear(a[56:64])
			clear(b[56:64])
			if !bytes.Equal(a, b) {
				fail("the footer differs from the header in more than the grain directory offset")
			}
			if st.FooterGD != st.GD {
				fail("footer's grain directory offset %d, the directory is at %d", st.FooterGD, st.GD)
			}
			footer = true
		default:
			fail("marker at %d: unknown type %d", pos, typ)
		}
		if typ == 0 {
			break
		}
		pos = body + val*sector
	}
	switch {
	case !footer:
		fail("no footer")
	case headerGD != GDAtEnd && headerGD != st.FooterGD:
		fail("the header's grain directory offset %d is neither GD_AT_END nor the footer's %d", headerGD, st.FooterGD)
	}
	// The directory and tables map exactly the grains of the stream, each at its LBA.
	mapped := 0
	for i := 0; i < len(gd)/4; i++ {
		gt := uint64(le.Uint32(gd[i*4:]))
		if gt == 0 {
			continue
		}
		tab, ok := tables[gt]
		if !ok {
			fail("grain directory entry %d points at sector %d, where no grain table is", i, gt)
		}
		for j := uint64(0); j < gtes; j++ {
			g := uint64(le.Uint32(tab[j*4:]))
			if g == 0 {
				continue
			}
			lba := (uint64(i)*gtes + j) * grain
			if got, ok := grains[g]; !ok || got != lba {
				fail("grain table %d entry %d points at sector %d: no grain for LBA %d there", i, j, g, lba)
			}
			mapped++
		}
	}
	if mapped != len(grains) {
		fail("the tables map %d grains, the stream holds %d", mapped, len(grains))
	}
	return st
}
