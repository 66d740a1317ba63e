package diskimage

import (
	"context"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage/diskimagetest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Fuzz targets for the readers. Their seed corpus (small qemu-img made images) runs in
// every `go test`; fuzz with e.g. `go test -fuzz FuzzOpenVMDK ./internal/diskimage/`.

// fuzzSeeds adds images made by qemu-img (if installed) from a small raw with a few writes.
func fuzzSeeds(f *testing.F, format string, optsList ...[]string) {
	f.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		return
	}
	dir := f.TempDir()
	src := makeRaw(f, dir, "seed.raw", 64<<10, []seg{{0, 4096, 't'}, {30000, 3000, 'r'}, {48 << 10, 8192, 'z'}, {64<<10 - 512, 512, 'r'}}, 99)
	for i, opts := range optsList {
		out := filepath.Join(dir, "seed"+fmtSize(int64(i)))
		run(f, "qemu-img", append(append([]string{"convert", "-f", "raw", "-O", format}, opts...), src, out)...)
		data, err := os.ReadFile(out)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// fuzzMem bounds what one fuzz input may allocate, whatever size its header claims: the
// tables the file holds, the readers' caches (at most 8 MiB of qcow2 L2 tables, plus the
// library's), and the 8 MiB of data read.
const fuzzMem = 128 << 20

// fuzzOpen opens data as format and exercises the extent map and reads, within fuzzMem of
// memory (boundedMemory stops the process past it).
func fuzzOpen(t *testing.T, data []byte, format string) {
	boundedMemory(t, fuzzMem, func() { fuzzOpenImage(t, data, format) })
}

func fuzzOpenImage(t *testing.T, data []byte, format string) {
	p := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := OpenFormat(p, format)
	if err != nil {
		return
	}
	defer img.Close()
	exts, err := img.Extents(context.Background())
	if err != nil {
		return
	}
	if err := CheckExtents(exts, img.Size()); err != nil {
		t.Fatalf("bad extent map: %v", err)
	}
	buf := make([]byte, 256<<10)
	budget := 8 << 20
	for _, e := range exts {
		if e.Kind != Data {
			continue
		}
		for off := e.Offset; off < e.Offset+e.Length && budget > 0; off += int64(len(buf)) {
			n := min(int64(len(buf)), e.Offset+e.Length-off)
			if _, err := img.ReadAt(buf[:n], off); err != nil {
				return
			}
			budget -= int(n)
		}
	}
}

// bombSeeds adds crafted images (a few hundred KiB) whose tables are shared by every
// directory entry or whose data is shared by every table entry (diskimagetest): 16 GiB of
// qcow2 in 2 KiB subclusters, 1 TiB of VMDK in 64 KiB grains, 8 M and 16 M extents.
func bombSeeds(f *testing.F, format string) {
	dir := f.TempDir()
	size := uint64(16 << 30)
	if format == "vmdk" {
		size = 1 << 40
	}
	for _, share := range []diskimagetest.Sharing{diskimagetest.SharedTables, diskimagetest.SharedData} {
		p := bomb{format, size, share}.make(f, dir)
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

func FuzzOpenQcow2(f *testing.F) {
	fuzzSeeds(f, "qcow2", []string{"-o", "cluster_size=512"}, []string{"-o", "cluster_size=512,compat=0.10"},
		[]string{"-c", "-o", "cluster_size=4096"}, []string{"-c", "-o", "cluster_size=4096,compression_type=zstd"},
		[]string{"-o", "cluster_size=16384,extended_l2=on"})
	f.Add([]byte("QFI\xfb\x00\x00\x00\x03"))
	bombSeeds(f, "qcow2")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzOpen(t, data, "qcow2") })
}

func FuzzOpenVMDK(f *testing.F) {
	fuzzSeeds(f, "vmdk", []string{"-o", "subformat=monolithicSparse"}, []string{"-o", "subformat=streamOptimized"})
	f.Add([]byte("KDMV\x01\x00\x00\x00"))
	bombSeeds(f, "vmdk")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzOpen(t, data, "vmdk") })
}

func FuzzOpenVHD(f *testing.F) {
	fuzzSeeds(f, "vpc", []string{"-o", "subformat=fixed"}, []string{"-o", "subformat=fixed,force_size=on"})
	// A dynamic VHD with data is 2 MiB+; use an empty one as the seed.
	if _, err := exec.LookPath("qemu-img"); err == nil {
		p := filepath.Join(f.TempDir(), "d.vhd")
		run(f, "qemu-img", "create", "-q", "-f", "vpc", p, "64M")
		data, _ := os.ReadFile(p)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzOpen(t, data, "vhd") })
}

func FuzzProbe(f *testing.F) {
	f.Add([]byte("QFI\xfb"))
	f.Add([]byte("KDMV"))
	f.Add([]byte("conectix"))
	f.Add([]byte("vhdxfile"))
	f.Add(append(make([]byte, 64), 0x7f, 0x10, 0xda, 0xbe, 1, 0, 1, 0))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzOpen(t, data, "auto") })
}

func FuzzOpenVHDX(f *testing.F) {
	fuzzSeeds(f, "vhdx", []string{"-o", "block_size=1M"}, []string{"-o", "block_size=1M,block_state_zero=off"},
		[]string{"-o", "subformat=fixed,block_size=1M"})
	f.Add([]byte("vhdxfile"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzOpen(t, data, "vhdx") })
}

func FuzzOpenVDI(f *testing.F) {
	fuzzSeeds(f, "vdi", nil, []string{"-o", "static=on"})
	f.Fuzz(func(t *testing.T, data []byte) { fuzzOpen(t, data, "vdi") })
}
