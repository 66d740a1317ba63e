package diskimage

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestBenchWriteRaw compares WriteRaw with qemu-img convert on a 1 GiB image (about 600 MiB
// of data). It runs only with CHROMOGENIC_BENCH=1; both sides include an fsync of the output.
//
//	CHROMOGENIC_BENCH=1 TMPDIR=/var/tmp go test -run BenchWriteRaw -v ./internal/diskimage/
func TestBenchWriteRaw(t *testing.T) {
	if os.Getenv("CHROMOGENIC_BENCH") == "" {
		t.Skip("set CHROMOGENIC_BENCH=1")
	}
	needQemuImg(t)
	dir := os.Getenv("CHROMOGENIC_BENCH_DIR") // kept between runs if set
	if dir == "" {
		dir = t.TempDir()
	}
	const M = 1 << 20
	var segs []seg
	for i := int64(0); i < 40; i++ { // 40 × 15 MiB spread over 1 GiB, half random half text
		kind := byte('r')
		if i%2 == 1 {
			kind = 't'
		}
		segs = append(segs, seg{i * 25 * M, 15 * M, kind})
	}
	src := filepath.Join(dir, "bench.raw")
	if _, err := os.Stat(src); err != nil {
		makeRaw(t, dir, "bench.raw", 1<<30, segs, 9)
	}
	inputs := map[string]string{"raw": src}
	for name, args := range map[string][]string{
		"qcow2":      nil,
		"qcow2-zlib": {"-c"},
		"qcow2-zstd": {"-c", "-o", "compression_type=zstd"},
	} {
		p := filepath.Join(dir, name)
		inputs[name] = p
		if _, err := os.Stat(p); err == nil {
			continue
		}
		run(t, "qemu-img", append(append([]string{"convert", "-f", "raw", "-O", "qcow2"}, args...), src, p)...)
	}
	for _, name := range []string{"raw", "qcow2", "qcow2-zlib", "qcow2-zstd"} {
		in := inputs[name]
		fmtName := "qcow2"
		if name == "raw" {
			fmtName = "raw"
		}
		out := filepath.Join(dir, "out.raw")
		os.Remove(out)
		exec.Command("sync").Run()
		start := time.Now()
		run(t, "qemu-img", "convert", "-f", fmtName, "-O", "raw", in, out)
		f, _ := os.OpenFile(out, os.O_RDWR, 0)
		f.Sync()
		f.Close()
		qemu := time.Since(start)

		os.Remove(out)
		exec.Command("sync").Run()
		start = time.Now()
		img, err := Open(in)
		if err != nil {
			t.Fatal(err)
		}
		f, err = os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteRaw(context.Background(), f, img, nil); err != nil {
			t.Fatal(err)
		}
		f.Sync()
		f.Close()
		img.Close()
		ours := time.Since(start)
		qemuCompare(t, "raw", src, "raw", out)
		fmt.Printf("%-11s -> raw: qemu-img %6.2fs  WriteRaw %6.2fs  ratio %.2fx\n", name, qemu.Seconds(), ours.Seconds(), qemu.Seconds()/ours.Seconds())
	}
}

// TestBenchVMDKStream times raw→VMDK streamOptimized against qemu-img (CHROMOGENIC_BENCH=1,
// CHROMOGENIC_BENCH_DIR holding bench.raw from TestBenchWriteRaw).
func TestBenchVMDKStream(t *testing.T) {
	dir := os.Getenv("CHROMOGENIC_BENCH_DIR")
	if os.Getenv("CHROMOGENIC_BENCH") == "" || dir == "" {
		t.Skip("set CHROMOGENIC_BENCH=1 and CHROMOGENIC_BENCH_DIR")
	}
	src := filepath.Join(dir, "bench.raw")
	out := filepath.Join(dir, "out.vmdk")
	img, err := Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	start := time.Now()
	if err := Convert(context.Background(), img, out, "vmdk", WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(out, os.O_RDWR, 0)
	f.Sync()
	f.Close()
	ours := time.Since(start)
	qemuCompare(t, "raw", src, "vmdk", out)
	st, _ := os.Stat(out)
	start = time.Now()
	run(t, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", src, out+".q")
	f, _ = os.OpenFile(out+".q", os.O_RDWR, 0)
	f.Sync()
	f.Close()
	qemu := time.Since(start)
	qst, _ := os.Stat(out + ".q")
	fmt.Printf("raw -> vmdk streamOptimized: qemu-img %.2fs (%d bytes)  ours %.2fs (%d bytes)  ratio %.1fx\n",
		qemu.Seconds(), qst.Size(), ours.Seconds(), st.Size(), qemu.Seconds()/ours.Seconds())
}
