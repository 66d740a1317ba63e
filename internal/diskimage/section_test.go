package diskimage

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestSectionWriteRawAt copies an unaligned byte range of a raw and of a qcow2 image into
// the middle of a fresh sparse file: the range arrives byte for byte, nothing outside it is
// written, and the copy allocates exactly the 4 KiB blocks of the destination that are not
// zero (counted by data extents, so the ext4 extent-tree block that writeback under load
// may add is not mistaken for a written zero block).
func TestSectionWriteRawAt(t *testing.T) {
	needQemuImg(t)
	const M = 1 << 20
	dir := t.TempDir()
	size := int64(24 * M)
	src := makeRaw(t, dir, "src.raw", size, standardSegs(size), 7)
	run(t, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", src, filepath.Join(dir, "src.qcow2"))
	want, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	const off, n, dstOff = M + 300, 17*M + 5, 3*M + 4096
	for _, in := range []string{"src.raw", "src.qcow2"} {
		t.Run(in, func(t *testing.T) {
			img, err := Open(filepath.Join(dir, in))
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			sec, err := Section(img, off, n)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, in+".out")
			f, err := os.Create(out)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(32 * M); err != nil {
				t.Fatal(err)
			}
			var last int64
			if err := WriteRawAt(context.Background(), f, dstOff, sec, func(done, total int64) { last = done }); err != nil {
				t.Fatal(err)
			}
			f.Close()
			if last != n {
				t.Errorf("progress ended at %d, want %d", last, n)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[dstOff:dstOff+n], want[off:off+n]) {
				t.Error("the copied range differs from the source range")
			}
			if !IsZero(got[:dstOff]) || !IsZero(got[dstOff+n:]) {
				t.Error("bytes outside the copied range were written")
			}
			checkAllocatedExactly(t, out)
		})
	}
}

func TestSectionBounds(t *testing.T) {
	const M = 1 << 20
	dir := t.TempDir()
	src := makeRaw(t, dir, "s.raw", 4*M, []seg{{M - 10, 20, 'r'}, {3 * M, M, 'r'}}, 3)
	img, err := Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	for _, r := range [][2]int64{{-1, 10}, {0, 4*M + 1}, {4*M + 1, 0}, {M, -1}, {3 * M, M + 1}} {
		if _, err := Section(img, r[0], r[1]); err == nil {
			t.Errorf("Section(%d, %d) of a 4 MiB image: no error", r[0], r[1])
		}
	}
	sec, err := Section(img, M-4, 3*M+4)
	if err != nil {
		t.Fatal(err)
	}
	exts, err := sec.Extents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckExtents(exts, sec.Size()); err != nil {
		t.Fatal(err)
	}
	if exts[0].Kind != Data {
		t.Errorf("first extent %+v: want data (the source has data at %d)", exts[0], M-10)
	}
	b := make([]byte, 100)
	k, err := sec.ReadAt(b, sec.Size()-40)
	if k != 40 || err != io.EOF {
		t.Errorf("read across the end: %d, %v; want 40, EOF", k, err)
	}
	if k, err := sec.ReadAt(b, sec.Size()); k != 0 || err != io.EOF {
		t.Errorf("read at the end: %d, %v; want 0, EOF", k, err)
	}
	whole := make([]byte, 4*M)
	if _, err := img.ReadAt(whole, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[:40], whole[4*M-40:]) {
		t.Error("the section's last bytes differ from the image's")
	}
}
