package diskimage

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// qemuCheckJSON runs qemu-img check (exit 0 required: no corruption, no leaks) and returns
// its JSON report.
func qemuCheckJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	out, err := exec.Command("qemu-img", "check", "-f", "qcow2", "--output=json", path).Output()
	if err != nil {
		t.Fatalf("qemu-img check %s: %v\n%s", path, err, out)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"check-errors", "leaks", "corruptions"} {
		if v, ok := m[k].(float64); ok && v != 0 {
			t.Fatalf("qemu-img check %s: %s = %v", path, k, v)
		}
	}
	return m
}

// streamQcow2 writes src as qcow2 through a pipe (no seeking) into path and returns the
// number of bytes written.
func streamQcow2(t *testing.T, src Image, path string, o WriteOptions) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	var n int64
	go func() { var err error; n, err = io.Copy(f, pr); done <- err }()
	err = qcow2Writer{}.Write(context.Background(), struct{ io.Writer }{pw}, src, o)
	pw.CloseWithError(err)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return n
}

// TestQcow2Large converts a sparse disk larger than 8 GiB, not cluster aligned, with data
// at the start, around the 4 and 8 GiB marks and at the very end, in every mode.
func TestQcow2Large(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	const G = 1 << 30
	size := int64(9*G + 5*4096 + 512)
	segs := []seg{
		{0, 1 << 20, 'r'},
		{4*G - 3000, 6000, 'r'},
		{8*G - 70000, 200000, 't'},
		{8*G + 1<<20, 1 << 20, 'z'},
		{size - 10000, 10000, 'm'},
	}
	src := makeRaw(t, dir, "big.raw", size, segs, 31)
	img, err := Open(src)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { img.Close() }) // after the parallel subtests
	for _, v := range []struct {
		name string
		o    WriteOptions
	}{{"plain", WriteOptions{}}, {"zlib", WriteOptions{Compression: "zlib"}}, {"zstd", WriteOptions{Compression: "zstd"}},
		{"zlib-512", WriteOptions{Compression: "zlib", ClusterSize: 512}}, {"plain-512", WriteOptions{ClusterSize: 512}}} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel() // the writers share the read-only source; qemu-img waits on the disk
			out := filepath.Join(dir, v.name+".qcow2")
			if err := Convert(context.Background(), img, out, "qcow2", v.o); err != nil {
				t.Fatal(err)
			}
			qemuCheckJSON(t, out)
			qemuCompare(t, "raw", src, "qcow2", out)
			if st, _ := os.Stat(out); st.Size() > 16<<20 {
				t.Errorf("qcow2 of a mostly empty 9 GiB disk is %d bytes", st.Size())
			}
		})
	}
	t.Run("stream", func(t *testing.T) {
		t.Parallel()
		out := filepath.Join(dir, "stream.qcow2")
		n := streamQcow2(t, img, out, WriteOptions{})
		want, err := Qcow2Size(context.Background(), img, WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("streamed %d bytes, Qcow2Size said %d", n, want)
		}
		qemuCheckJSON(t, out)
		qemuCompare(t, "raw", src, "qcow2", out)
	})
}

// TestQcow2SmallSizes covers empty, one-sector and just-over-a-cluster disks.
func TestQcow2SmallSizes(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	for _, size := range []int64{0, 512, 64<<10 + 512} {
		var segs []seg
		if size > 0 {
			segs = []seg{{0, size, 'r'}}
		}
		src := makeRaw(t, dir, "s"+fmtSize(size)+".raw", size, segs, 5)
		img, err := Open(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []string{"", "zlib", "zstd"} {
			out := filepath.Join(dir, "s"+fmtSize(size)+c+".qcow2")
			if err := Convert(context.Background(), img, out, "qcow2", WriteOptions{Compression: c}); err != nil {
				t.Fatal(err)
			}
			qemuCheckJSON(t, out)
			qemuCompare(t, "raw", src, "qcow2", out)
		}
		sout := filepath.Join(dir, "s"+fmtSize(size)+"-stream.qcow2")
		streamQcow2(t, img, sout, WriteOptions{})
		qemuCheckJSON(t, sout)
		qemuCompare(t, "raw", src, "qcow2", sout)
		img.Close()
	}
}

// TestQcow2Compaction: in a file, clusters of Data extents that hold only zeros are not
// allocated; a stream stores every cluster of the Data extents. Stream sizes are exact.
func TestQcow2Compaction(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	src := makeRaw(t, dir, "src.raw", testSize, standardSegs(testSize), 41)
	img, err := Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	fout := filepath.Join(dir, "file.qcow2")
	if err := Convert(context.Background(), img, fout, "qcow2", WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	sout := filepath.Join(dir, "stream.qcow2")
	n := streamQcow2(t, img, sout, WriteOptions{})
	if want, _ := Qcow2Size(context.Background(), img, WriteOptions{}); n != want {
		t.Errorf("streamed %d bytes, Qcow2Size said %d", n, want)
	}
	fa := qemuCheckJSON(t, fout)["allocated-clusters"].(float64)
	sa := qemuCheckJSON(t, sout)["allocated-clusters"].(float64)
	// standardSegs has a 1 MiB written-zero extent: 16 clusters.
	if fa > sa-16 {
		t.Errorf("file mode allocates %v clusters, stream %v: zero clusters not skipped", fa, sa)
	}
	if err := (qcow2Writer{}).Write(context.Background(), struct{ io.Writer }{io.Discard}, img, WriteOptions{Compression: "zlib"}); err == nil {
		t.Error("compressed qcow2 to a stream did not fail")
	}
	if _, err := newQcow2Layout(1<<30, nil, 3000, false); err == nil {
		t.Error("cluster size 3000 accepted")
	}
}

// TestQcow2ZlibWindow decompresses every compressed cluster the way qemu configures zlib
// (raw deflate, windowBits -12), streaming so the 4 KiB window is enforced: a 32 KiB window
// encoder would fail with "invalid distance too far back".
func TestQcow2ZlibWindow(t *testing.T) {
	needQemuImg(t)
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	dir := t.TempDir()
	src := makeRaw(t, dir, "src.raw", testSize, standardSegs(testSize), 51)
	img, err := Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	out := filepath.Join(dir, "z.qcow2")
	if err := Convert(context.Background(), img, out, "qcow2", WriteOptions{Compression: "zlib"}); err != nil {
		t.Fatal(err)
	}
	res := run(t, "python3", "-c", zlibWindowCheck, out)
	if res == "0\n" {
		t.Fatal("no compressed clusters found")
	}
}

const zlibWindowCheck = `
import struct, sys, zlib
d = open(sys.argv[1], 'rb').read()
cb = struct.unpack('>I', d[20:24])[0]; cs = 1 << cb
l1n = struct.unpack('>I', d[36:40])[0]; l1o = struct.unpack('>Q', d[40:48])[0]
x = 62 - (cb - 8); n = 0
for i in range(l1n):
    e = struct.unpack('>Q', d[l1o+8*i:l1o+8*i+8])[0] & ((1 << 56) - 1) & ~511
    if not e: continue
    for j in range(cs // 8):
        v = struct.unpack('>Q', d[e+8*j:e+8*j+8])[0]
        if not v >> 62 & 1: continue
        off = v & ((1 << x) - 1); ns = (v >> x) & ((1 << (cb - 8)) - 1)
        data = d[off:(off & ~511) + (ns + 1) * 512]
        o = zlib.decompressobj(-12); out = b''
        for k in range(0, len(data), 97):
            out += o.decompress(data[k:k+97], 512)
            while o.unconsumed_tail and len(out) < cs:
                out += o.decompress(o.unconsumed_tail, 512)
            if len(out) >= cs: break
        assert len(out) >= cs and not any(out[cs:]), (i, j, len(out))
        n += 1
print(n)
`
