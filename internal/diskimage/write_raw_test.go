package diskimage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testSize = 20<<20 + 5*512 // not a multiple of any cluster size above 512

func TestOpenRawAndWriteRaw(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int64{testSize, testSize + 77} { // raw need not be sector aligned
		src := makeRaw(t, dir, "src.raw", size, standardSegs(size), 1)
		out := filepath.Join(dir, "out.raw")
		img := writeRawFile(t, src, out)
		if img.Format() != "raw" || img.Size() != size {
			t.Fatalf("got %s %d, want raw %d", img.Format(), img.Size(), size)
		}
		exts, err := img.Extents(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckExtents(exts, size); err != nil {
			t.Fatal(err)
		}
		holes := int64(0)
		for _, e := range exts {
			if e.Kind == Hole {
				holes += e.Length
			}
		}
		if holes < 8<<20 {
			t.Errorf("raw extents report only %d bytes of holes: %v", holes, exts)
		}
		sameContent(t, src, out)
		checkSparse(t, out, nonZeroBlocks(t, src), 256<<10)
	}
}

// qcow2Variants are the qemu-img convert options of the qcow2 inputs read back.
var qcow2Variants = []struct {
	name string
	args []string
}{
	{"v2", []string{"-o", "compat=0.10"}},
	{"v3", []string{"-o", "compat=1.1"}},
	{"v3-cluster512", []string{"-o", "cluster_size=512"}},
	{"v3-cluster4k", []string{"-o", "cluster_size=4096"}},
	{"v3-cluster2m", []string{"-o", "cluster_size=2M"}},
	{"v2-zlib", []string{"-c", "-o", "compat=0.10"}},
	{"v3-zlib", []string{"-c"}},
	{"v3-zlib-cluster4k", []string{"-c", "-o", "cluster_size=4096"}},
	{"v3-zstd", []string{"-c", "-o", "compression_type=zstd"}},
	{"v3-zstd-cluster2m", []string{"-c", "-o", "compression_type=zstd,cluster_size=2M"}},
	{"v3-extl2", []string{"-o", "extended_l2=on"}},
	{"v3-extl2-cluster2m", []string{"-o", "extended_l2=on,cluster_size=2M"}},
	{"v3-extl2-zstd", []string{"-c", "-o", "extended_l2=on,compression_type=zstd"}},
	{"v3-refcount1", []string{"-o", "refcount_bits=1"}},
}

func TestQcow2ReadBack(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	src := makeRaw(t, dir, "src.raw", testSize, standardSegs(testSize), 2)
	want, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	wantAlloc := nonZeroBlocks(t, src)
	for _, v := range qcow2Variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel() // qemu-img and file I/O: the variants wait on the disk, not the CPU
			q := filepath.Join(dir, v.name+".qcow2")
			args := append([]string{"convert", "-f", "raw", "-O", "qcow2"}, v.args...)
			run(t, "qemu-img", append(args, src, q)...)
			out := filepath.Join(dir, v.name+".raw")
			img := writeRawFile(t, q, out)
			if img.Format() != "qcow2" || img.Size() != testSize {
				t.Fatalf("got %s %d, want qcow2 %d", img.Format(), img.Size(), testSize)
			}
			sameContent(t, src, out)
			qemuCompare(t, "raw", out, "qcow2", q)
			checkSparse(t, out, wantAlloc, 256<<10)
			exts, err := img.Extents(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckExtents(exts, testSize); err != nil {
				t.Fatal(err)
			}
			// Unaligned reads across cluster boundaries, including past the end.
			rng := rand.New(rand.NewPCG(1, 2))
			for range 200 {
				off := rng.Int64N(testSize)
				n := rng.IntN(300000)
				buf := make([]byte, n)
				got, err := img.ReadAt(buf, off)
				wantN := int(min(int64(n), testSize-off))
				if got != wantN || (err != nil && !(err == io.EOF && wantN < n)) {
					t.Fatalf("ReadAt(%d, %d) = %d, %v; want %d", n, off, got, err, wantN)
				}
				if !bytes.Equal(buf[:got], want[off:off+int64(got)]) {
					t.Fatalf("ReadAt(%d, %d): wrong data", n, off)
				}
			}
		})
	}
}

// TestQcow2ZeroAndSubclusters reads images whose L2 entries hold zero flags, and extended
// L2 images with partly allocated and zeroed subclusters, made with qemu-io.
func TestQcow2ZeroAndSubclusters(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	for _, opts := range []string{"compat=1.1", "compat=1.1,extended_l2=on", "compat=1.1,extended_l2=on,cluster_size=32k"} {
		q := filepath.Join(dir, "z.qcow2")
		os.Remove(q)
		run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-o", opts, q, "10M")
		run(t, "qemu-io", "-f", "qcow2",
			"-c", "write -P 0xab 0 1M",
			"-c", "write -z 64k 128k", // zero clusters inside data
			"-c", "write -P 0x11 2M 2k", // one subcluster (extended L2)
			"-c", "write -P 0x22 2105344 1k",
			"-c", "write -z 2101248 4k",
			"-c", "write -z -u 3M 192k",
			"-c", "write -P 0x33 10485248 512",
			q)
		oracle := filepath.Join(dir, "oracle.raw")
		run(t, "qemu-img", "convert", "-f", "qcow2", "-O", "raw", q, oracle)
		out := filepath.Join(dir, "out.raw")
		img := writeRawFile(t, q, out)
		sameContent(t, oracle, out)
		checkSparse(t, out, nonZeroBlocks(t, oracle), 128<<10)
		exts, _ := img.Extents(context.Background())
		if !strings.Contains(opts, "extended") {
			var zero bool
			for _, e := range exts {
				zero = zero || e.Kind == Zero
			}
			if !zero {
				t.Errorf("%s: no Zero extent in %v", opts, exts)
			}
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	base := filepath.Join(dir, "base.qcow2")
	run(t, "qemu-img", "create", "-q", "-f", "qcow2", base, "1M")
	cases := []struct {
		name string
		make []string
		want error
	}{
		{"backing", []string{"create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", "$OUT"}, ErrBackingFile},
		{"backing-v2", []string{"create", "-q", "-f", "qcow2", "-o", "compat=0.10", "-b", base, "-F", "qcow2", "$OUT"}, ErrBackingFile},
		{"datafile", []string{"create", "-q", "-f", "qcow2", "-o", "data_file=" + filepath.Join(dir, "data.raw"), "$OUT", "1M"}, ErrExternalDataFile},
		{"luks", []string{"create", "-q", "--object", "secret,id=s0,data=pw", "-f", "qcow2", "-o", "encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10", "$OUT", "1M"}, ErrEncrypted},
	}
	for _, c := range cases {
		out := filepath.Join(dir, c.name+".qcow2")
		args := append([]string(nil), c.make...)
		for i := range args {
			args[i] = strings.ReplaceAll(args[i], "$OUT", out)
		}
		run(t, "qemu-img", args...)
		img, err := Open(out)
		if err == nil {
			img.Close()
			t.Errorf("%s: opened", c.name)
			continue
		}
		if !errors.Is(err, c.want) || !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		if c.name == "backing" && !strings.Contains(err.Error(), "base.qcow2") {
			t.Errorf("backing error does not name the file: %v", err)
		}
	}
	// Forcing raw reads the container itself.
	img, err := OpenFormat(filepath.Join(dir, "backing.qcow2"), "raw")
	if err != nil {
		t.Fatal(err)
	}
	img.Close()
}

func TestOpenFormatNames(t *testing.T) {
	dir := t.TempDir()
	p := makeRaw(t, dir, "a.raw", 1<<20, []seg{{0, 4096, 'r'}}, 3)
	for _, f := range []string{"", "auto", "raw", "RAW"} {
		img, err := OpenFormat(p, f)
		if err != nil {
			t.Fatalf("%q: %v", f, err)
		}
		if img.Format() != "raw" {
			t.Errorf("%q: format %s", f, img.Format())
		}
		img.Close()
	}
	_, err := OpenFormat(p, "floppy")
	if !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), `"floppy"`) {
		t.Errorf("unknown format: %v", err)
	}
	if _, err := OpenFormat(p, "qcow2"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("raw opened as qcow2: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// Known foreign formats are refused rather than read as raw.
	qed := filepath.Join(dir, "x.qed")
	os.WriteFile(qed, append([]byte("QED\x00"), make([]byte, 1000)...), 0o644)
	if _, err := Open(qed); !errors.Is(err, ErrUnsupported) {
		t.Errorf("qed: %v", err)
	}
	// A file that starts like a VHDX but is cut short is corrupt, not raw.
	vhdx := filepath.Join(dir, "x.vhdx")
	os.WriteFile(vhdx, append([]byte("vhdxfile"), make([]byte, 1000)...), 0o644)
	if _, err := Open(vhdx); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), vhdx) {
		t.Errorf("short vhdx: %v, want ErrCorrupt naming the file", err)
	}
}

// TestLargeSparse converts a 9 GiB sparse disk with data past 4 GiB and 8 GiB.
func TestLargeSparse(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	const G = 1 << 30
	size := int64(9*G + 512)
	segs := []seg{
		{0, 1 << 20, 'r'},
		{4*G - 1024, 8192, 'r'},
		{8*G + 1<<20, 1 << 20, 't'},
		{size - 4096, 4096, 'r'},
	}
	src := makeRaw(t, dir, "big.raw", size, segs, 4)
	q := filepath.Join(dir, "big.qcow2")
	run(t, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", src, q)
	for _, in := range []string{src, q} {
		out := filepath.Join(dir, "out.raw")
		img := writeRawFile(t, in, out)
		if img.Size() != size {
			t.Fatalf("%s: size %d", in, img.Size())
		}
		qemuCompare(t, "raw", src, "raw", out)
		checkSparse(t, out, 1<<20+12288+1<<20+4096, 512<<10)
	}
}

// blockingImage delays every read until released, to test cancellation.
type blockingImage struct {
	Image
	reads   atomic.Int64
	delay   time.Duration
	started chan struct{}
	once    sync.Once
}

func (b *blockingImage) ReadAt(p []byte, off int64) (int, error) {
	b.reads.Add(1)
	b.once.Do(func() { close(b.started) })
	time.Sleep(b.delay)
	return b.Image.ReadAt(p, off)
}

// allData reports the whole image as one data extent, so that every chunk of it is read.
type allData struct{ Image }

func (a allData) Extents(context.Context) ([]Extent, error) {
	return []Extent{{Offset: 0, Length: a.Size(), Kind: Data}}, nil
}

func TestWriteRawCancel(t *testing.T) {
	dir := t.TempDir()
	size := int64(256 << 20)
	// 128 chunks that all need reading: a sparse file seen as data (writing 256 MiB of it
	// would cost the disk, not the test).
	src := makeRaw(t, dir, "src.raw", size, []seg{{0, 4096, 't'}}, 5)
	raw, err := Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	img := allData{raw}
	dst, err := os.Create(filepath.Join(dir, "out.raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := WriteRaw(ctx, dst, img, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("pre-cancelled: %v", err)
	}

	b := &blockingImage{Image: img, delay: 20 * time.Millisecond, started: make(chan struct{})}
	ctx, cancel = context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- WriteRaw(ctx, dst, b, nil) }()
	<-b.started
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WriteRaw did not stop after cancel")
	}
	if n := b.reads.Load(); n > 2*int64(copyWorkers()) {
		t.Errorf("%d reads after cancel (of %d chunks)", n, size/copyChunk)
	}
}

func TestWriteRawProgress(t *testing.T) {
	dir := t.TempDir()
	size := int64(64<<20 + 512)
	src := makeRaw(t, dir, "src.raw", size, []seg{{0, 8 << 20, 'r'}, {10 << 20, 50 << 20, 't'}}, 6)
	img, err := Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	dst, err := os.Create(filepath.Join(dir, "out.raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	var last, calls int64
	err = WriteRaw(context.Background(), dst, &blockingImage{Image: img, delay: 50 * time.Millisecond, started: make(chan struct{})}, func(done, total int64) {
		if total != size || done < last || done > total {
			t.Errorf("progress(%d, %d) after %d", done, total, last)
		}
		last = done
		calls++
	})
	if err != nil {
		t.Fatal(err)
	}
	if last != size || calls < 2 {
		t.Errorf("last progress %d of %d after %d calls", last, size, calls)
	}
	sameContent(t, src, dst.Name())
}

// A destination with content is fully overwritten (holes included).
func TestWriteRawOverwrites(t *testing.T) {
	dir := t.TempDir()
	src := makeRaw(t, dir, "src.raw", 4<<20, []seg{{1 << 20, 4096, 'r'}}, 7)
	out := filepath.Join(dir, "out.raw")
	os.WriteFile(out, bytes.Repeat([]byte{0xff}, 8<<20), 0o644)
	writeRawFile(t, src, out)
	sameContent(t, src, out)
}
