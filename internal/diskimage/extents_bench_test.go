package diskimage

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// Benchmarks of the extent maps and of a conversion, run before and after a change to the
// readers:
//
//	go test -run XXX -bench . -benchmem ./internal/diskimage/
//
// benchImages makes (once per process) a 256 MiB raw image with 64 data segments and its
// qcow2 and VMDK conversions by qemu-img.
var benchDir string

func benchImages(b *testing.B) map[string]string {
	b.Helper()
	needQemuImg(b)
	if benchDir == "" {
		d, err := os.MkdirTemp("", "diskimage-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchDir = d
		var segs []seg
		for i := int64(0); i < 64; i++ {
			kind := byte('r')
			if i%2 == 1 {
				kind = 'm'
			}
			segs = append(segs, seg{i * 4 << 20, 1 << 20, kind})
		}
		src := makeRaw(b, d, "b.raw", 256<<20, segs, 5)
		run(b, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", src, filepath.Join(d, "b.qcow2"))
		run(b, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=16384,extended_l2=on", src, filepath.Join(d, "b.xl2.qcow2"))
		run(b, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=monolithicSparse", src, filepath.Join(d, "b.vmdk"))
	}
	return map[string]string{
		"raw":       filepath.Join(benchDir, "b.raw"),
		"qcow2":     filepath.Join(benchDir, "b.qcow2"),
		"qcow2-xl2": filepath.Join(benchDir, "b.xl2.qcow2"),
		"vmdk":      filepath.Join(benchDir, "b.vmdk"),
	}
}

func BenchmarkExtents(b *testing.B) {
	imgs := benchImages(b)
	for _, name := range []string{"raw", "qcow2", "qcow2-xl2", "vmdk"} {
		b.Run(name, func(b *testing.B) {
			img, err := Open(imgs[name])
			if err != nil {
				b.Fatal(err)
			}
			defer img.Close()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := img.Extents(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkWriteRaw(b *testing.B) {
	imgs := benchImages(b)
	for _, name := range []string{"raw", "qcow2", "qcow2-xl2", "vmdk"} {
		b.Run(name, func(b *testing.B) {
			img, err := Open(imgs[name])
			if err != nil {
				b.Fatal(err)
			}
			defer img.Close()
			out := filepath.Join(b.TempDir(), "out.raw")
			b.SetBytes(img.Size())
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				f, err := os.Create(out)
				if err != nil {
					b.Fatal(err)
				}
				if err := WriteRaw(context.Background(), f, img, nil); err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
	}
}
