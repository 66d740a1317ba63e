package diskimage

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVDIExtents: the extent map of qemu-img made VDIs is qemu-img map's: Data where it
// reports data, holes elsewhere (dynamic); all Data when static.
func TestVDIExtents(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	const size = 12<<20 + 1024
	src := makeRaw(t, dir, "src.raw", size, []seg{{2<<20 + 7, 100, 'r'}, {5 << 20, 1 << 20, 'z'}, {size - 600, 600, 't'}}, 9)
	for _, static := range []bool{false, true} {
		p := filepath.Join(dir, "dyn.vdi")
		args := []string{"convert", "-f", "raw", "-O", "vdi", src, p}
		if static {
			p = filepath.Join(dir, "static.vdi")
			args = []string{"convert", "-f", "raw", "-O", "vdi", "-o", "static=on", src, p}
		}
		run(t, "qemu-img", args...)
		var qmap []struct {
			Start, Length int64
			Data          bool
		}
		if err := json.Unmarshal([]byte(run(t, "qemu-img", "map", "--output=json", "-f", "vdi", p)), &qmap); err != nil {
			t.Fatal(err)
		}
		img, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		exts, err := img.Extents(context.Background())
		img.Close()
		if err != nil {
			t.Fatal(err)
		}
		var want []Extent
		for _, m := range qmap {
			k := Hole
			if m.Data {
				k = Data
			}
			want = appendExtent(want, Extent{m.Start, m.Length, k})
		}
		if len(exts) != len(want) {
			t.Fatalf("static %v: extents %v, qemu-img map %v", static, exts, want)
		}
		for i := range exts {
			if exts[i] != want[i] {
				t.Fatalf("static %v: extents %v, qemu-img map %v", static, exts, want)
			}
		}
		if static && (len(exts) != 1 || exts[0].Kind != Data) {
			t.Errorf("static VDI extents %v", exts)
		}
	}
}

// TestVDIRefuses: damaged and hostile VDIs made from a qemu-img one are refused with
// ErrCorrupt, ErrTooLarge or ErrUnsupported naming the file, within bounded memory.
func TestVDIRefuses(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	src := makeRaw(t, dir, "src.raw", 8<<20, []seg{{0, 4096, 'r'}, {3 << 20, 2 << 20, 't'}}, 8)
	good := filepath.Join(dir, "good.vdi")
	run(t, "qemu-img", "convert", "-f", "raw", "-O", "vdi", src, good)
	le := binary.LittleEndian
	bmap := func(b []byte, i int) []byte { o := int(le.Uint32(b[0x154:])) + 4*i; return b[o : o+4] }
	cases := []struct {
		name string
		mut  func(b []byte)
		want error
		msg  string
	}{
		{"blocks-claim-1G-entries", func(b []byte) {
			le.PutUint32(b[0x180:], 64<<20) // 64 TiB of 1 MiB blocks: a 256 MiB map
			le.PutUint64(b[0x170:], 64<<40)
		}, ErrCorrupt, "block map"},
		{"too-large", func(b []byte) { le.PutUint64(b[0x170:], 65<<40) }, ErrTooLarge, "VDI"},
		{"size-past-blocks", func(b []byte) { le.PutUint64(b[0x170:], 9<<20) }, ErrCorrupt, "blocks of"},
		{"block-512MiB", func(b []byte) { le.PutUint32(b[0x178:], 512<<20) }, ErrCorrupt, "block size"},
		{"block-past-eof", func(b []byte) { le.PutUint32(bmap(b, 0), 7) }, ErrCorrupt, "past the end"},
		{"blocks-overlap", func(b []byte) { copy(bmap(b, 4), bmap(b, 3)) }, ErrCorrupt, "mapped twice"},
		{"data-before-map", func(b []byte) { le.PutUint32(b[0x158:], 512) }, ErrCorrupt, "data offset"},
		{"diff", func(b []byte) { le.PutUint32(b[0x4c:], vdiTypeDiff) }, ErrBackingFile, "differencing"},
		{"parent", func(b []byte) { b[0x1b8] = 1 }, ErrBackingFile, "parent"},
		{"version-1.0", func(b []byte) { le.PutUint32(b[0x44:], 0x00010000) }, ErrUnsupported, "version 1.0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := os.ReadFile(good)
			if err != nil {
				t.Fatal(err)
			}
			c.mut(b)
			p := filepath.Join(dir, c.name+".vdi")
			os.WriteFile(p, b, 0o644)
			boundedMemory(t, 16<<20, func() {
				img, err := Open(p)
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
}
