package diskimage

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// vhdxFile is a qemu-img made VHDX held in memory, to be damaged on purpose.
type vhdxFile struct {
	b                []byte
	batOff, metaOff  int64
	logOff           int64
	blockSize, ratio int64
}

func loadVHDX(t *testing.T, path string) *vhdxFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	v := &vhdxFile{b: b, logOff: int64(le.Uint64(b[vhdxHeaderOff+72:]))}
	n := int(le.Uint32(b[vhdxRegionOff+8:]))
	for i := range n {
		e := b[vhdxRegionOff+16+i*32:]
		var g [16]byte
		copy(g[:], e)
		switch g {
		case vhdxBATGUID:
			v.batOff = int64(le.Uint64(e[16:]))
		case vhdxMetadataGUID:
			v.metaOff = int64(le.Uint64(e[16:]))
		}
	}
	v.blockSize = int64(le.Uint32(v.item(vhdxFileParams)))
	v.ratio = (1 << 23) * 512 / v.blockSize
	return v
}

// item returns the bytes of a metadata item, in place.
func (v *vhdxFile) item(g [16]byte) []byte {
	le := binary.LittleEndian
	md := v.b[v.metaOff:]
	for i := range int(le.Uint16(md[10:])) {
		e := md[32+i*32:]
		if [16]byte(e[:16]) == g {
			off, n := le.Uint32(e[16:]), le.Uint32(e[20:])
			return md[off : off+n]
		}
	}
	panic("no metadata item")
}

// entry returns the BAT entry of payload block i, in place.
func (v *vhdxFile) entry(i int64) []byte {
	j := i + i/v.ratio
	return v.b[v.batOff+j*8 : v.batOff+j*8+8]
}

// seal recomputes the CRC-32C of both headers and both region tables.
func (v *vhdxFile) seal() {
	for _, r := range [][2]int{{vhdxHeaderOff, vhdxHeaderSize}, {2 * vhdxHeaderOff, vhdxHeaderSize},
		{vhdxRegionOff, vhdxRegionSize}, {vhdxRegionOff + vhdxRegionSize, vhdxRegionSize}} {
		b := v.b[r[0] : r[0]+r[1]]
		clear(b[4:8])
		binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(b, crc32c))
	}
}

func (v *vhdxFile) write(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, v.b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestVHDXExtents: the extent map of qemu-img made VHDXs (several block sizes, zero
// block states on and off, fixed) has Data exactly on the blocks that hold a non-zero
// byte (qemu-img convert allocates no other) and reads back as qemu-img converts it.
func TestVHDXExtents(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	const size = 24 << 20
	src := makeRaw(t, dir, "src.raw", size, []seg{{3<<20 + 100, 5000, 'r'}, {9 << 20, 1 << 20, 'z'}, {16<<20 - 10, 20, 't'}, {size - 512, 512, 'r'}}, 5)
	data, _ := os.ReadFile(src)
	for _, o := range []string{"block_size=1M", "block_size=2M,block_state_zero=off", "block_size=8M", "subformat=fixed,block_size=1M,block_state_zero=off"} {
		t.Run(o, func(t *testing.T) {
			p := filepath.Join(dir, strings.NewReplacer("=", "", ",", "-").Replace(o)+".vhdx")
			run(t, "qemu-img", "convert", "-f", "raw", "-O", "vhdx", "-o", o, src, p)
			oracle := p + ".oracle"
			run(t, "qemu-img", "convert", "-f", "vhdx", "-O", "raw", p, oracle)
			out := p + ".raw"
			img := writeRawFile(t, p, out)
			sameContent(t, oracle, out)
			sameContent(t, src, out)
			bs := int64(1 << 20)
			switch {
			case strings.Contains(o, "2M"):
				bs = 2 << 20
			case strings.Contains(o, "8M"):
				bs = 8 << 20
			}
			fixed := strings.Contains(o, "fixed")
			err := WalkExtents(context.Background(), img, func(e Extent) error {
				if e.Offset%bs != 0 {
					t.Errorf("extent at %d not on a %d-byte block", e.Offset, bs)
				}
				want := Data
				if !fixed && IsZero(data[e.Offset:e.Offset+e.Length]) {
					want = Hole
					if !strings.Contains(o, "zero=off") {
						want = Zero // qemu-img marks unwritten blocks ZERO
					}
				}
				if e.Kind != want {
					t.Errorf("extent %+v, want kind %d", e, want)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if sub := img.(*vhdxImage).VHDXSubformat(); (sub == "fixed") != fixed {
				t.Errorf("subformat %s", sub)
			}
		})
	}
}

// TestVHDXRefuses: damaged and hostile VHDXs made from a qemu-img one are refused with
// ErrCorrupt, ErrTooLarge or ErrUnsupported naming the file, within bounded memory; one
// damaged header of two, or a log GUID with an empty log, still read.
func TestVHDXRefuses(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	src := makeRaw(t, dir, "src.raw", 8<<20, []seg{{0, 4096, 'r'}, {3 << 20, 1 << 20, 't'}}, 7)
	good := filepath.Join(dir, "good.vhdx")
	run(t, "qemu-img", "convert", "-f", "raw", "-O", "vhdx", "-o", "block_size=1M", src, good)
	le := binary.LittleEndian
	cases := []struct {
		name string
		mut  func(v *vhdxFile)
		want error  // nil: opens and reads as src
		msg  string // in the message
	}{
		{"one-header-bad", func(v *vhdxFile) { v.seal(); v.b[vhdxHeaderOff+8]++ }, nil, ""},
		{"both-headers-bad", func(v *vhdxFile) { v.b[vhdxHeaderOff+8]++; v.b[2*vhdxHeaderOff+8]++ }, ErrCorrupt, "no valid header"},
		{"region-tables-bad", func(v *vhdxFile) { v.b[vhdxRegionOff+20]++; v.b[vhdxRegionOff+vhdxRegionSize+20]++ }, ErrCorrupt, "region table"},
		{"region-past-eof", func(v *vhdxFile) {
			for _, r := range []int{vhdxRegionOff, vhdxRegionOff + vhdxRegionSize} {
				le.PutUint64(v.b[r+16+16:], 1<<40)
			}
			v.seal()
		}, ErrCorrupt, "does not fit"},
		{"bat-claims-64TiB", func(v *vhdxFile) { le.PutUint64(v.item(vhdxVirtualSize), 64<<40) }, ErrCorrupt, "cannot hold"},
		{"too-large", func(v *vhdxFile) { le.PutUint64(v.item(vhdxVirtualSize), 64<<40+1<<30) }, ErrTooLarge, "VHDX"},
		{"block-512MiB", func(v *vhdxFile) { le.PutUint32(v.item(vhdxFileParams), 512<<20) }, ErrCorrupt, "block size"},
		{"block-3MiB", func(v *vhdxFile) { le.PutUint32(v.item(vhdxFileParams), 3<<20) }, ErrCorrupt, "block size"},
		{"sector-1000", func(v *vhdxFile) { le.PutUint32(v.item(vhdxLogicalSec), 1000) }, ErrCorrupt, "logical sector"},
		{"block-past-eof", func(v *vhdxFile) { le.PutUint64(v.entry(0), 1<<40|vhdxFullyPresent) }, ErrCorrupt, "past the end"},
		{"blocks-overlap", func(v *vhdxFile) { copy(v.entry(5), v.entry(3)) }, ErrCorrupt, "overlaps"},
		{"block-on-bat", func(v *vhdxFile) { le.PutUint64(v.entry(0), uint64(v.batOff)|vhdxFullyPresent) }, ErrCorrupt, "overlaps the BAT"},
		{"partially-present", func(v *vhdxFile) { v.entry(3)[0] = v.entry(3)[0]&^7 | vhdxPartially }, ErrCorrupt, "partially present"},
		{"bad-state", func(v *vhdxFile) { v.entry(1)[0] = 4 }, ErrCorrupt, "state 4"},
		{"has-parent", func(v *vhdxFile) { v.item(vhdxFileParams)[4] |= 2 }, ErrBackingFile, "differencing VHDX"},
		{"required-metadata", func(v *vhdxFile) {
			md := v.b[v.metaOff:]
			n := le.Uint16(md[10:])
			e := md[32+int(n)*32:]
			copy(e, "an unknown item!")
			le.PutUint32(e[16:], 64<<10)
			le.PutUint32(e[20:], 8)
			le.PutUint32(e[24:], 4)
			le.PutUint16(md[10:], n+1)
		}, ErrUnsupported, "required metadata"},
		{"empty-log", func(v *vhdxFile) { setLogGUID(v); v.seal() }, nil, ""},
		{"log-to-replay", func(v *vhdxFile) {
			g := setLogGUID(v)
			e := v.b[v.logOff : v.logOff+4096]
			clear(e) // qemu-img's own (flushed) entries of another GUID lie there
			copy(e, "loge")
			le.PutUint32(e[8:], 4096)
			le.PutUint64(e[16:], 1)
			copy(e[32:48], g)
			le.PutUint64(e[48:], uint64(len(v.b)))
			le.PutUint64(e[56:], uint64(len(v.b)))
			le.PutUint32(e[4:], crc32.Checksum(e, crc32c))
			v.seal()
		}, ErrUnsupported, "qemu-img check -r all"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := loadVHDX(t, good)
			c.mut(v)
			p := v.write(t, dir, c.name+".vhdx")
			boundedMemory(t, 16<<20, func() {
				img, err := Open(p)
				if c.want == nil {
					if err != nil {
						t.Fatal(err)
					}
					img.Close()
					out := filepath.Join(dir, c.name+".raw")
					writeRawFile(t, p, out).Close()
					sameContent(t, src, out)
					return
				}
				if err == nil {
					img.Close()
					t.Fatalf("opened; want %v", c.want)
				}
				if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) || !strings.Contains(err.Error(), p) {
					t.Errorf("%v; want %v saying %q and naming the file", err, c.want, c.msg)
				}
			})
		})
	}
	// qemu replays the log when it may write the file, as the message says; then it reads.
	p := filepath.Join(dir, "log-to-replay.vhdx")
	run(t, "qemu-img", "check", "-q", "-r", "all", p)
	out := filepath.Join(dir, "replayed.raw")
	writeRawFile(t, p, out).Close()
	sameContent(t, src, out)
}

// setLogGUID gives both headers a log GUID (sealed by the caller) and returns it.
func setLogGUID(v *vhdxFile) []byte {
	g := []byte("log guid 0123456")
	for _, h := range []int{vhdxHeaderOff, 2 * vhdxHeaderOff} {
		copy(v.b[h+48:h+64], g)
	}
	return g
}
