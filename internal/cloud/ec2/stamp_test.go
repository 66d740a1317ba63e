package ec2

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// countingReader counts the blocks read from an image.
type countingReader struct {
	io.ReaderAt
	reads atomic.Int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.reads.Add(1)
	return c.ReaderAt.ReadAt(p, off)
}

// Stamped maps: a delta push given the image's current map (Current) reads only the blocks
// that differ from the parent's, and the snapshot reads back as the image; a current map that
// does not describe the image fails the push. A recapture from a base whose stamp matches
// does not read the base again (Trusted) and is byte-equal to a full capture; the base
// written after its map was made is checked block by block and refused, naming the block.
func TestStampedMapsSkipReading(t *testing.T) {
	srv := ec2emu.Start(t)
	cl := connect(t, srv)
	ctx := t.Context()
	size := int64(64 << 20)
	at := map[int64]int{}
	for b := int64(0); b < 128; b += 2 {
		at[b*BlockSize] = BlockSize
	}
	path, want := testImage(t, size, at)
	a, st, err := UploadSnapshot(ctx, cl, openRaw(t, path), size, nil, UploadOptions{WaitTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	pushedA := st.Map
	dir := t.TempDir()
	w1 := filepath.Join(dir, "w1.raw")
	m1 := downloadMap(t, cl, a, w1)
	if err := m1.SetStamp(); err != nil {
		t.Fatal(err)
	}

	change := []int64{4, 40, 99}
	want2 := changeBlocks(t, path, want, change, 10)
	cur, err := provenance.Map(ctx, path)
	if err != nil || cur.Stamp == nil {
		t.Fatalf("map of the changed image: %+v %v", cur, err)
	}
	src := &countingReader{ReaderAt: openRaw(t, path)}
	b, st, err := UploadSnapshot(ctx, cl, src, size, nil, UploadOptions{WaitTimeout: time.Minute,
		ParentSnapshotID: a, Base: pushedA, Current: cur})
	if err != nil {
		t.Fatal(err)
	}
	if n := src.reads.Load(); n != int64(len(change)+1) || st.Blocks != len(change)+1 {
		t.Errorf("delta push with the current map read %d blocks and sent %d, want %d", n, st.Blocks, len(change)+1)
	}
	if got := snapshotBytes(t, srv, b, len(want2)); !bytes.Equal(got, want2) {
		t.Fatal("the delta snapshot reads back otherwise than the new disk")
	}
	if !equalBlocks(st.Map.Blocks, cur.Blocks) {
		t.Error("the pushed map is not the current one")
	}

	// A current map that lies (block 40 written again after it was made).
	changeBlocks(t, path, want2, []int64{40}, 11)
	_, _, err = UploadSnapshot(ctx, cl, openRaw(t, path), size, nil, UploadOptions{WaitTimeout: time.Minute,
		ParentSnapshotID: a, Base: pushedA, Current: cur})
	if err == nil || !strings.Contains(err.Error(), "block 40 of the image differs from its block map") {
		t.Errorf("push with a stale current map: %v", err)
	}

	w2 := filepath.Join(dir, "w2.raw")
	f, _ := os.Create(w2)
	_, rs, err := DownloadChanged(ctx, cl.EBS, m1, nil, w1, a, b, f, TransferOptions{})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	full := filepath.Join(dir, "full.raw")
	downloadMap(t, cl, b, full)
	if !rs.Trusted || !packertest.SameBytes(t, w2, full) {
		t.Fatalf("recapture from a stamped base: trusted %v (%s), same as a full capture %v", rs.Trusted, rs.Untrusted, packertest.SameBytes(t, w2, full))
	}

	bad, _ := os.OpenFile(w1, os.O_WRONLY, 0)
	bad.WriteAt([]byte{0x42}, 42*BlockSize+7)
	bad.Close()
	f, _ = os.Create(filepath.Join(dir, "w3.raw"))
	_, rs, err = DownloadChanged(ctx, cl.EBS, m1, nil, w1, a, b, f, TransferOptions{})
	f.Close()
	var be *BaseError
	if rs.Trusted || !strings.Contains(rs.Untrusted, "written after") || !errors.As(err, &be) || !strings.Contains(err.Error(), "block 42 ") {
		t.Errorf("a base written after its map: trusted %v (%s), %v", rs.Trusted, rs.Untrusted, err)
	}
}
