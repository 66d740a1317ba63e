package transfer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// sparseDisk is a 64 MiB disk with 1 MiB of data at 0 and at 40 MiB, zeros elsewhere.
func sparseDisk() []byte {
	data := make([]byte, 64<<20)
	copy(data, randomData(1<<20))
	copy(data[40<<20:], randomData(1<<20))
	return data
}

func allocated(t *testing.T, p string) int64 {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Blocks * 512
}

func checkHome(t *testing.T, p string, want []byte, perm os.FileMode, st Stats) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("working copy differs from the source (%d bytes, want %d): %v", len(got), len(want), err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != perm {
		t.Errorf("mode %v, want %v", fi.Mode().Perm(), perm)
	}
	if a := allocated(t, p); a > 2<<20+256<<10 {
		t.Errorf("%d bytes allocated for 2 MiB of data in a 64 MiB disk: zeros were written", a)
	}
	if st.Size != int64(len(want)) || st.Written != allocated(t, p) || st.Skipped != st.Size-st.Written || st.Duration <= 0 {
		t.Errorf("stats %+v (allocated %d)", st, allocated(t, p))
	}
}

// TestBringHomeSources: each kind of source gives the source's bytes, sparse, with the mode
// asked for (a prior file at the path truncated), and says what it read.
func TestBringHomeSources(t *testing.T) {
	ctx := context.Background()
	data := sparseDisk()
	dir := t.TempDir()
	rawPath := filepath.Join(dir, "src.raw")
	if err := SpoolSparse(ctx, rawPath, 0o600, bytes.NewReader(data)); err != nil { // with holes
		t.Fatal(err)
	}
	qcowPath := filepath.Join(dir, "src.qcow2")
	if out, err := exec.Command("qemu-img", "convert", "-f", "raw", "-O", "qcow2", rawPath, qcowPath).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v\n%s", err, out)
	}
	open := func(p, format string) diskimage.Image {
		img, err := diskimage.OpenFormat(p, format)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { img.Close() })
		return img
	}
	var progressed int64
	for _, c := range []struct {
		name    string
		src     From
		perm    os.FileMode
		readMin int64
		readMax int64
	}{
		{"raw image", FromImage(open(rawPath, "raw")), 0o600, 2 << 20, 2 << 20},
		{"qcow2 image", FromImage(open(qcowPath, "qcow2")), 0o640, 2 << 20, 2 << 20},
		{"stream", FromStream(bytes.NewReader(data), int64(len(data))), 0o644, 64 << 20, 64 << 20},
		{"func", FromFunc(func(ctx context.Context, f *os.File, p Progress) (int64, error) {
			if err := f.Truncate(int64(len(data))); err != nil {
				return 0, err
			}
			for _, off := range []int64{0, 40 << 20} {
				if _, err := f.WriteAt(data[off:off+1<<20], off); err != nil {
					return 0, err
				}
			}
			p(int64(len(data)), int64(len(data)))
			return 123, nil
		}), 0o600, 123, 123},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "work.raw")
			if err := os.WriteFile(p, bytes.Repeat([]byte{7}, 80<<20), 0o666); err != nil { // a prior, larger file
				t.Fatal(err)
			}
			progressed = 0
			st, err := BringHome(ctx, p, c.perm, c.src, func(done, total int64) {
				if total != int64(len(data)) {
					t.Errorf("progress total %d", total)
				}
				progressed = done
			})
			if err != nil {
				t.Fatal(err)
			}
			checkHome(t, p, data, c.perm, st)
			if st.Read < c.readMin || st.Read > c.readMax {
				t.Errorf("read %d bytes, want %d..%d", st.Read, c.readMin, c.readMax)
			}
			if progressed != int64(len(data)) {
				t.Errorf("progress ended at %d", progressed)
			}
			if line := st.String(); !strings.Contains(line, "MiB read") || !strings.Contains(line, "64 MiB") {
				t.Errorf("throughput line %q", line)
			}
		})
	}
}

// failingReader gives n bytes of data, then err.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

// TestBringHomeRemovesHalfFile: a source failing midway, a cancelled context, a remote file
// failing verification after every byte was written: no file is left, the neighbour is.
func TestBringHomeRemovesHalfFile(t *testing.T) {
	data := sparseDisk()
	dir := t.TempDir()
	neighbour := filepath.Join(dir, "keep")
	if err := os.WriteFile(neighbour, []byte("user's"), 0o600); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	ctx, cancel := context.WithCancel(context.Background())
	cancelled := func() context.Context { cancel(); return ctx }
	img, err := OpenRanged(&fakeRanged{Reader: bytes.NewReader(data), verr: errors.New("hash mismatch")}, "raw")
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	for _, c := range []struct {
		name string
		ctx  func() context.Context
		src  From
		want error
	}{
		{"stream error", context.Background, FromStream(&failingReader{bytes.NewReader(data[:9<<20]), boom}, 0), boom},
		{"func error after writing", context.Background, FromFunc(func(ctx context.Context, f *os.File, p Progress) (int64, error) {
			f.WriteAt(data[:1<<20], 0)
			return 0, boom
		}), boom},
		{"cancelled", cancelled, FromStream(bytes.NewReader(data), 0), context.Canceled},
		{"cancelled during a func", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			return ctx
		}, nil, context.Canceled},
		{"verification fails", context.Background, FromRanged(img), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, "work.raw")
			ctx := c.ctx()
			src := c.src
			if src == nil { // a source that ignores ctx and returns fine after it ended
				ctx2, cancel2 := context.WithCancel(ctx)
				ctx = ctx2
				src = FromFunc(func(_ context.Context, f *os.File, p Progress) (int64, error) {
					f.WriteAt(data[:1<<20], 0)
					cancel2()
					return 1 << 20, nil
				})
			}
			_, err := BringHome(ctx, p, 0o600, src, nil)
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if _, serr := os.Lstat(p); !os.IsNotExist(serr) {
				t.Errorf("the half file is still there after %v", err)
			}
			if b, err := os.ReadFile(neighbour); err != nil || string(b) != "user's" {
				t.Errorf("the neighbour file is gone or changed: %v", err)
			}
		})
	}
}

// TestBringHomeOverBase: a stream and a local image brought home over a base (the earlier
// disk's working copy and map) give the new disk's bytes, write only the blocks that differ
// and return the map of the result; a base corrupted since its map was made falls back to a
// full copy, byte-equal too, saying why; the base is never written, and a base that is the
// target itself is refused before anything is truncated.
func TestBringHomeOverBase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old := sparseDisk()
	basePath := filepath.Join(dir, "base.raw")
	if err := SpoolSparse(ctx, basePath, 0o600, bytes.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	base, err := provenance.Map(ctx, basePath)
	if err != nil {
		t.Fatal(err)
	}
	changed := append([]byte(nil), old...)
	copy(changed[100:], "changed")           // block 0
	clear(changed[40<<20 : 40<<20+512<<10])  // block 80 becomes zeros
	copy(changed[63<<20:], randomData(4096)) // block 126 gets data
	newRaw := filepath.Join(dir, "new.raw")
	if err := SpoolSparse(ctx, newRaw, 0o600, bytes.NewReader(changed)); err != nil {
		t.Fatal(err)
	}
	for _, src := range []struct {
		name string
		from func(t *testing.T) From
	}{
		{"stream", func(*testing.T) From { return FromStream(bytes.NewReader(changed), int64(len(changed))) }},
		{"image", func(t *testing.T) From {
			img, err := diskimage.OpenFormat(newRaw, "raw")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { img.Close() })
			return FromImage(img)
		}},
	} {
		t.Run(src.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "w.raw")
			st, err := BringHomeWith(ctx, dst, 0o600, src.from(t), HomeOptions{Base: base})
			if err != nil {
				t.Fatal(err)
			}
			checkHome(t, dst, changed, 0o600, st)
			if st.Update == nil || st.Update.Written != 3 || st.Update.Zeroed != 1 || st.Update.Blocks != 128 || st.Fallback != "" {
				t.Errorf("update %+v, fallback %q; want 3 of 128 blocks written, 1 zeroed", st.Update, st.Fallback)
			}
			again, _ := provenance.Map(ctx, dst)
			if st.Map == nil || strings.Join(st.Map.Blocks, ",") != strings.Join(again.Blocks, ",") {
				t.Error("the map made on the way is not the result's")
			}
		})
	}
	// Corrupt the base (block 2, which the map says is zeros) after its map was made.
	w, _ := os.OpenFile(basePath, os.O_WRONLY, 0)
	w.WriteAt([]byte("corrupt"), 2<<20)
	w.Close()
	corrupt, _ := os.ReadFile(basePath)
	dst := filepath.Join(dir, "w.raw")
	var said string
	st, err := BringHomeWith(ctx, dst, 0o600, FromStream(bytes.NewReader(changed), 0), HomeOptions{Base: base, Say: func(s string) { said = s }})
	if err != nil {
		t.Fatal(err)
	}
	checkHome(t, dst, changed, 0o600, st)
	if st.Update != nil || !strings.Contains(st.Fallback, "block 4 ") || !strings.Contains(said, "block 4 ") || st.Map == nil {
		t.Errorf("corrupted base: update %+v, fallback %q, said %q", st.Update, st.Fallback, said)
	}
	if after, _ := os.ReadFile(basePath); !bytes.Equal(after, corrupt) {
		t.Error("the base was written")
	}
	// The base as the target (through a symlink): refused, the base intact.
	link := filepath.Join(dir, "link.raw")
	os.Symlink(basePath, link)
	if _, err := BringHomeWith(ctx, basePath, 0o600, FromStream(bytes.NewReader(changed), 0), HomeOptions{Base: &provenance.BlockMap{Path: link, BlockSize: provenance.BlockSize}}); err == nil {
		t.Error("a base that is the target was taken")
	}
	if after, _ := os.ReadFile(basePath); !bytes.Equal(after, corrupt) {
		t.Error("the base was truncated")
	}
	if _, err := BringHomeWith(ctx, dst, 0o600, FromFunc(func(context.Context, *os.File, Progress) (int64, error) { return 0, nil }), HomeOptions{Map: true}); err == nil {
		t.Error("FromFunc hashed on the way")
	}
}
