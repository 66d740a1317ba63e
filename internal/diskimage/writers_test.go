package diskimage

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var writerVariants = []struct {
	name, format, qemuFmt string
	opts                  WriteOptions
}{
	{"vmdk-stream", "vmdk", "vmdk", WriteOptions{}},
	{"vmdk-stream-ide-l1", "vmdk", "vmdk", WriteOptions{AdapterType: "ide", Level: 1, Workers: 3}},
	{"vmdk-sparse", "vmdk", "vmdk", WriteOptions{Subformat: "monolithicSparse"}},
	{"vhd-dynamic", "vhd", "vpc", WriteOptions{}},
	{"vhd-fixed", "vhd", "vpc", WriteOptions{Subformat: "fixed"}},
	{"vhd-fixed-azure", "vhd", "vpc", WriteOptions{Subformat: "fixed", AzureAlign: true}},
	{"vdi-dynamic", "vdi", "vdi", WriteOptions{}},
	{"vdi-fixed", "vdi", "vdi", WriteOptions{Subformat: "fixed"}},
	{"raw", "raw", "raw", WriteOptions{}},
	{"qcow2", "qcow2", "qcow2", WriteOptions{}},
	{"qcow2-zlib", "qcow2", "qcow2", WriteOptions{Compression: "zlib"}},
	{"qcow2-zstd", "qcow2", "qcow2", WriteOptions{Compression: "zstd", Workers: 3}},
	{"qcow2-512", "qcow2", "qcow2", WriteOptions{ClusterSize: 512}},
	{"qcow2-512-zlib", "qcow2", "qcow2", WriteOptions{ClusterSize: 512, Compression: "zlib"}},
	{"qcow2-2M-zstd", "qcow2", "qcow2", WriteOptions{ClusterSize: 2 << 20, Compression: "zstd", Level: 9}},
	{"qcow2-4k", "qcow2", "qcow2", WriteOptions{ClusterSize: 4096}},
}

func qemuCheck(t *testing.T, qfmt, path string) {
	t.Helper()
	out, err := exec.Command("qemu-img", "check", "-f", qfmt, path).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img check %s: %v\n%s", path, err, out)
	}
}

// TestWriters converts a raw image with every writer and checks the result with qemu-img
// (check clean, compare identical to the source) and with our own readers.
func TestWriters(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	src := makeRaw(t, dir, "src.raw", testSize, standardSegs(testSize), 21)
	img, err := Open(src)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { img.Close() }) // after the parallel subtests
	for _, v := range writerVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel() // qemu-img and file I/O: the variants wait on the disk, not the CPU
			out := filepath.Join(dir, v.name)
			if err := Convert(context.Background(), img, out, v.format, v.opts); err != nil {
				t.Fatal(err)
			}
			if v.qemuFmt != "vpc" && v.qemuFmt != "raw" {
				qemuCheck(t, v.qemuFmt, out)
			}
			qemuCompare(t, "raw", src, v.qemuFmt, out)
			back := filepath.Join(dir, v.name+".raw")
			rb := writeRawFile(t, out, back)
			if rb.Format() != v.format {
				t.Errorf("read back as %s", rb.Format())
			}
			sameContentPrefix(t, src, back)
		})
	}
}

// TestStreamWriters writes the streamable formats into a pipe (no seeking possible).
func TestStreamWriters(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	src := makeRaw(t, dir, "src.raw", testSize, standardSegs(testSize), 22)
	img, err := Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	for _, v := range writerVariants {
		w, err := LookupWriter(v.format)
		if err != nil {
			t.Fatal(err)
		}
		if w.NeedsSeek(v.opts) {
			continue
		}
		out := filepath.Join(dir, v.name)
		f, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() { _, err := io.Copy(f, pr); done <- err }()
		err = w.Write(context.Background(), struct{ io.Writer }{pw}, img, v.opts)
		pw.CloseWithError(err)
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		f.Close()
		if v.qemuFmt != "vpc" && v.qemuFmt != "raw" {
			qemuCheck(t, v.qemuFmt, out)
		}
		qemuCompare(t, "raw", src, v.qemuFmt, out)
	}
}

// sameContentPrefix compares a with the first len(a) bytes of b, and checks that the rest
// of b (format rounding) is zero.
func sameContentPrefix(t *testing.T, a, b string) {
	t.Helper()
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	if len(db) < len(da) {
		t.Fatalf("%s is shorter (%d) than %s (%d)", b, len(db), a, len(da))
	}
	if !IsZero(db[len(da):]) {
		t.Fatalf("%s has data past %d", b, len(da))
	}
	if string(da) != string(db[:len(da)]) {
		for i := range da {
			if da[i] != db[i] {
				t.Fatalf("differ at %d", i)
			}
		}
	}
}
