package provenance

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// CloneInto makes a byte-equal copy that keeps the source's holes (a reflink shares them; a
// sparse copy does not write them), and VerifyData finds a flipped byte and a block the map
// says holds data where the copy has a hole.
func TestCloneIntoAndVerifyData(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	f, _ := os.Create(src)
	size := int64(64 * BlockSize)
	f.Truncate(size)
	data := bytes.Repeat([]byte("chromogenic"), 1000)
	for _, b := range []int64{0, 17, 63} {
		f.WriteAt(data, b*BlockSize+100)
	}
	f.Close()
	ctx := context.Background()
	m, err := Map(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	dstPath := filepath.Join(dir, "dst.raw")
	dst, _ := os.Create(dstPath)
	reflink, err := CloneInto(ctx, src, dst)
	dst.Close()
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(src)
	b, _ := os.ReadFile(dstPath)
	if !bytes.Equal(a, b) {
		t.Fatal("the copy differs")
	}
	var st syscall.Stat_t
	syscall.Stat(dstPath, &st)
	if !reflink && st.Blocks*512 > 8*BlockSize {
		t.Errorf("sparse copy allocates %d bytes for 3 blocks of data", st.Blocks*512)
	}
	if err := m.VerifyData(ctx, dstPath); err != nil {
		t.Fatal(err)
	}
	w, _ := os.OpenFile(dstPath, os.O_WRONLY, 0)
	w.WriteAt([]byte{'X'}, 17*BlockSize+200)
	w.Close()
	if err := m.VerifyData(ctx, dstPath); err == nil || !bytes.Contains([]byte(err.Error()), []byte("block 17 ")) {
		t.Errorf("flipped byte: %v", err)
	}
	bad := *m
	bad.Blocks = append([]string(nil), m.Blocks...)
	bad.Blocks[40] = m.Blocks[0] // a hole in the file, data in the map
	if err := bad.VerifyData(ctx, src); err == nil || !bytes.Contains([]byte(err.Error()), []byte("block 40 ")) {
		t.Errorf("a hole where the map says data: %v", err)
	}
}

// A sparse copy of data ranges longer than one piece (and of several ranges) is byte-equal
// whatever order the workers finish in, and keeps the holes; a cancelled context stops it.
func TestCloneIntoPieces(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	size := int64(3*clonePiece + 40<<20)
	f.Truncate(size)
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	// 2.5 pieces of data in one range from 8 MiB on, and three small ranges after it.
	for off := int64(8 << 20); off < 8<<20+5*clonePiece/2; off += int64(len(buf)) {
		buf[0] = byte(off >> 20)
		f.WriteAt(buf, off)
	}
	for _, off := range []int64{3*clonePiece + 1<<20, 3*clonePiece + 17<<20, size - 4096} {
		f.WriteAt([]byte("chromogenic piece"), off)
	}
	f.Close()
	dstPath := filepath.Join(dir, "dst.raw")
	dst, _ := os.Create(dstPath)
	reflink, err := CloneInto(context.Background(), src, dst)
	dst.Close()
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(src)
	b, _ := os.ReadFile(dstPath)
	if !bytes.Equal(a, b) {
		t.Fatal("the copy differs")
	}
	var st syscall.Stat_t
	syscall.Stat(dstPath, &st)
	if !reflink && st.Blocks*512 > 5*clonePiece/2+16<<20 {
		t.Errorf("sparse copy allocates %d bytes for %d of data", st.Blocks*512, 5*clonePiece/2)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dst2, _ := os.Create(filepath.Join(dir, "cancelled.raw"))
	defer dst2.Close()
	if reflink, err := CloneInto(ctx, src, dst2); !reflink && err == nil {
		t.Error("a cancelled sparse copy returned no error")
	}
}
