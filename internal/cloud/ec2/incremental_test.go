package ec2

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// download brings snapshot id home with DownloadSnapshotMap into a new file of dir.
func downloadMap(t *testing.T, cl *Clients, id, p string) *provenance.BlockMap {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, _, err := DownloadSnapshotMap(t.Context(), cl.EBS, id, f, TransferOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// changeBlocks rewrites the image at p (content want): new random data in blocks change,
// zeros over block zero (a hole now), and returns the new content.
func changeBlocks(t *testing.T, p string, want []byte, change []int64, zero int64) []byte {
	t.Helper()
	got := append([]byte(nil), want...)
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, b := range change {
		off := b*BlockSize + 1000
		rand.Read(got[off : off+3000])
		f.WriteAt(got[off:off+3000], off)
	}
	clear(got[zero*BlockSize : (zero+1)*BlockSize])
	f.WriteAt(got[zero*BlockSize:(zero+1)*BlockSize], zero*BlockSize)
	return got
}

// The changed-block recapture and the delta push: a disk pushed in full (snapshot A) and
// captured home with its block map (made from the checked checksums: equal to a hashing of
// the file); a few blocks changed, one zeroed, one written where there was a hole; pushed
// as a delta onto A (only those blocks sent, zeros included; the snapshot read back equals
// the new disk); recaptured from the first working copy with ListChangedBlocks (only those
// blocks fetched; byte-equal to the disk and to a full capture; its map equal to a hashing).
// A flipped byte in the base is a *BaseError naming the block; so is a deleted first
// snapshot.
func TestChangedBlocksRecaptureAndDeltaPush(t *testing.T) {
	srv := ec2emu.Start(t)
	cl := connect(t, srv)
	ctx := t.Context()
	size := int64(64 << 20) // 1 GiB volume in EBS terms, 128 blocks of data here
	at := map[int64]int{}
	for b := int64(0); b < 128; b += 2 {
		at[b*BlockSize] = BlockSize
	}
	path, want := testImage(t, size, at)
	a, st, err := UploadSnapshot(ctx, cl, openRaw(t, path), size, nil, UploadOptions{WaitTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if st.Map == nil || st.Map.Count() != 128 {
		t.Fatalf("pushed map %+v", st.Map)
	}
	pushedA := st.Map
	dir := t.TempDir()
	w1 := filepath.Join(dir, "w1.raw")
	m1 := downloadMap(t, cl, a, w1)
	if hashed, err := provenance.Map(ctx, w1); err != nil || !equalBlocks(hashed.Blocks, m1.Blocks) {
		t.Fatalf("downloaded map differs from the file's: %v", err)
	}
	if !equalBlocks(pushedA.Blocks, m1.Blocks[:128]) {
		t.Fatal("the pushed map differs from the downloaded one")
	}

	change := []int64{4, 40, 41, 99, 127, 3} // 3 was a hole
	want2 := changeBlocks(t, path, want, change, 10)
	b, st, err := UploadSnapshot(ctx, cl, openRaw(t, path), size, nil, UploadOptions{WaitTimeout: time.Minute,
		ParentSnapshotID: a, Base: pushedA})
	if err != nil {
		t.Fatal(err)
	}
	if st.Blocks != len(change)+1 {
		t.Errorf("delta push sent %d blocks, want %d", st.Blocks, len(change)+1)
	}
	if got := snapshotBytes(t, srv, b, len(want2)); !bytes.Equal(got, want2) {
		t.Fatal("the delta snapshot reads back otherwise than the new disk")
	}

	w2 := filepath.Join(dir, "w2.raw")
	f, _ := os.Create(w2)
	m2, rs, err := DownloadChanged(ctx, cl.EBS, m1, nil, w1, a, b, f, TransferOptions{})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The zeroed block was written (as zeros) into the child: it is listed and fetched too.
	if rs.Changed != len(change)+1 || rs.Blocks != len(change)+1 {
		t.Errorf("recapture: %d changed, %d fetched; want %d", rs.Changed, rs.Blocks, len(change)+1)
	}
	full := filepath.Join(dir, "full.raw")
	mf := downloadMap(t, cl, b, full)
	if !packertest.SameBytes(t, w2, full) || !bytes.Equal(readPrefix(t, w2, size), want2) {
		t.Fatal("the recapture differs from a full capture of the new snapshot")
	}
	if hashed, err := provenance.Map(ctx, w2); err != nil || !equalBlocks(hashed.Blocks, m2.Blocks) || !equalBlocks(mf.Blocks, m2.Blocks) {
		t.Fatalf("recaptured map differs: %v", err)
	}

	// The build changed its working copy after the capture (block 50 has data, 61 is a hole
	// in the snapshot): a recapture from that record (its final map, the dirty blocks) reads
	// them again, and so equals the snapshot even where nothing changed in EBS.
	pushedB := st.Map
	wf, _ := os.OpenFile(w2, os.O_WRONLY, 0)
	wf.WriteAt([]byte("provisioned"), 50*BlockSize+9)
	wf.WriteAt([]byte("provisioned"), 61*BlockSize+9)
	wf.Close()
	final, err := provenance.Map(ctx, w2)
	if err != nil {
		t.Fatal(err)
	}
	dirty, _ := final.Changed(m2)
	if len(dirty) != 2 {
		t.Fatalf("dirty %v", dirty)
	}
	c, st, err := UploadSnapshot(ctx, cl, openRaw(t, path), size, nil, UploadOptions{WaitTimeout: time.Minute,
		ParentSnapshotID: b, Base: pushedB})
	if err != nil || st.Blocks != 0 {
		t.Fatalf("delta push of an unchanged disk: %d blocks, %v", st.Blocks, err)
	}
	w5 := filepath.Join(dir, "w5.raw")
	f, _ = os.Create(w5)
	_, rs, err = DownloadChanged(ctx, cl.EBS, final, dirty, w2, b, c, f, TransferOptions{})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if rs.Changed != 0 || rs.Blocks != 1 || !packertest.SameBytes(t, w5, full) {
		t.Fatalf("recapture over dirty blocks: %d changed, %d fetched, same as the snapshot: %v", rs.Changed, rs.Blocks, packertest.SameBytes(t, w5, full))
	}

	// A corrupted base: refused, naming the block.
	bad, _ := os.OpenFile(w1, os.O_WRONLY, 0)
	bad.WriteAt([]byte{0x42}, 40*BlockSize+7)
	bad.Close()
	f, _ = os.Create(filepath.Join(dir, "w3.raw"))
	_, _, err = DownloadChanged(ctx, cl.EBS, m1, nil, w1, a, b, f, TransferOptions{})
	f.Close()
	var be *BaseError
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "block 40 ") {
		t.Errorf("corrupted base: %v", err)
	}
	// The first snapshot deleted: ListChangedBlocks fails, a base error too.
	if err := DeleteSnapshot(ctx, cl.EC2, a); err != nil {
		t.Fatal(err)
	}
	f, _ = os.Create(filepath.Join(dir, "w4.raw"))
	_, _, err = DownloadChanged(ctx, cl.EBS, m2, nil, w2, a, b, f, TransferOptions{})
	f.Close()
	if !errors.As(err, &be) || !strings.Contains(err.Error(), a) {
		t.Errorf("deleted first snapshot: %v", err)
	}
}

// A delta push onto an encrypted parent: the child is encrypted with the parent's key
// (Encrypted and KmsKeyArn not sent, as EBS requires), its blocks read back as the new disk
// (a block zeroed over the parent's data is written, not skipped); a push asking another key
// than the parent's falls back to a full push (Publish says why) encrypted with that key.
func TestDeltaPushEncryptedParent(t *testing.T) {
	srv := ec2emu.Start(t)
	cl := connect(t, srv)
	ctx := t.Context()
	size := int64(16 << 20)
	path, want := testImage(t, size, map[int64]int{0: BlockSize, 5 * BlockSize: BlockSize, 9 * BlockSize: 4096})
	res, err := Publish(ctx, cl, openRaw(t, path), "disk", PublishOptions{StateTimeout: time.Minute, Name: "enc-a", Encrypted: true})
	if err != nil {
		t.Fatal(err)
	}
	want2 := changeBlocks(t, path, want, []int64{9, 12}, 5)
	res2, err := Publish(ctx, cl, openRaw(t, path), "disk", PublishOptions{StateTimeout: time.Minute, Name: "enc-b", Encrypted: true,
		ParentSnapshotID: res.SnapshotID, Base: res.Map})
	if err != nil {
		t.Fatal(err)
	}
	if res2.Parent != res.SnapshotID || res2.Note != "" || res2.Stats.Blocks != 3 {
		t.Errorf("delta push: parent %q note %q, %d blocks sent (want 3)", res2.Parent, res2.Note, res2.Stats.Blocks)
	}
	info, _ := srv.Snapshot(res2.SnapshotID)
	if !info.Encrypted || info.KmsKeyID != srv.DefaultKMSKeyID() {
		t.Errorf("child %+v: want encrypted with the parent's key", info)
	}
	if got := snapshotBytes(t, srv, res2.SnapshotID, len(want2)); !bytes.Equal(got, want2) {
		t.Fatal("the encrypted child reads back otherwise than the new disk")
	}
	res3, err := Publish(ctx, cl, openRaw(t, path), "disk", PublishOptions{StateTimeout: time.Minute, Name: "enc-c", Encrypted: true, KMSKeyID: testKey,
		ParentSnapshotID: res2.SnapshotID, Base: res2.Map})
	if err != nil {
		t.Fatal(err)
	}
	if res3.Parent != "" || !strings.Contains(res3.Note, "keeps its parent's key") {
		t.Errorf("other key: parent %q note %q", res3.Parent, res3.Note)
	}
	if info, _ := srv.Snapshot(res3.SnapshotID); info.KmsKeyID != testKey {
		t.Errorf("full push after the fallback: %+v", info)
	}
	if got := snapshotBytes(t, srv, res3.SnapshotID, len(want2)); !bytes.Equal(got, want2) {
		t.Fatal("the full push reads back otherwise than the disk")
	}
}

func equalBlocks(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func readPrefix(t *testing.T, p string, n int64) []byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(f, b); err != nil {
		t.Fatal(err)
	}
	return b
}
