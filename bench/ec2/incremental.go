package main

import (
	"context"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// incremental measures the changed-block paths next to the full ones, at w blocks in flight:
// a full push of the image (snapshot A) and a full capture of A (DownloadSnapshotMap, the
// chromogenic-ec2 builder's path, with its block map); then pct % of the disk's blocks,
// chosen at random across the whole disk, get new data; that image is pushed as a delta onto
// A (snapshot B: only the blocks whose hash differs from A's map), captured from the first
// working copy with ListChangedBlocks(A, B) (DownloadChanged: copy of the base, its check
// against its map, the changed blocks only), and captured in full for comparison. The
// recapture must be byte-equal to the full capture of B and to the changed image.
func incremental(ctx context.Context, srv *ec2emu.Server, image, dir string, w int, pct float64) ([]row, string) {
	cl := connect(ctx, srv, w+8)
	var rows []row
	measure := func(name string, moved int64, note string, f func()) time.Duration {
		n0 := len(srv.Calls())
		start := time.Now()
		f()
		d := time.Since(start)
		rows = append(rows, row{name, d, 0, moved, fmt.Sprintf("%d blocks in flight", w), len(srv.Calls()) - n0, note})
		log.Printf("%s: %v", name, d)
		return d
	}
	img := openImage(image)
	size := img.Size()
	data := dataRanges(ctx, img)

	var a string
	var mapA *provenance.BlockMap
	var st cloud.TransferStats
	var err error
	tFullPush := measure("full push (UploadSnapshot)", 0, "", func() {
		a, st, err = cloud.UploadSnapshot(ctx, cl, img, size, data, cloud.UploadOptions{
			TransferOptions: cloud.TransferOptions{Workers: w}, Description: "bench A"})
	})
	check(err, "full push")
	mapA = st.Map
	img.Close()
	rows[len(rows)-1].moved, rows[len(rows)-1].note = st.Bytes, fmt.Sprintf("%d blocks", st.Blocks)
	fullPushBytes := st.Bytes

	w1 := filepath.Join(dir, "inc-w1.raw")
	var m1 *provenance.BlockMap
	tFullCap := measure("full capture (DownloadSnapshotMap)", 0, "", func() {
		f := create(w1)
		m1, st, err = cloud.DownloadSnapshotMap(ctx, cl.EBS, a, f, cloud.TransferOptions{Workers: w})
		if err == nil {
			err = f.Sync()
		}
		f.Close()
	})
	check(err, "full capture")
	// The build's record stamps the working copy's map (StepRecordWorkingCopy): a later
	// recapture trusts an unwritten base without reading it.
	check(m1.SetStamp(), "stamp the first capture's map")
	rows[len(rows)-1].moved, rows[len(rows)-1].note = st.Bytes, fmt.Sprintf("%d blocks, block map from the checked checksums", st.Blocks)
	fullCapBytes := st.Bytes

	image2 := filepath.Join(dir, "inc-image2.raw")
	nblocks := size / cloud.BlockSize
	want := changedCopy(ctx, image, image2, size, pct)
	// The build that made the changed image recorded its map (StepProvenance,
	// StepRecordWorkingCopy hash the working copy as part of the build): the delta push is
	// given it, as ec2-import is the record beside its input.
	tMap := time.Now()
	map2, err := provenance.Map(ctx, image2)
	check(err, "map of the changed image")
	mapTime := time.Since(tMap)
	img2 := openImage(image2)
	data2 := dataRanges(ctx, img2)

	var b string
	tDelta := measure("delta push (UploadSnapshot, ParentSnapshotId)", 0, "", func() {
		b, st, err = cloud.UploadSnapshot(ctx, cl, img2, size, data2, cloud.UploadOptions{
			TransferOptions: cloud.TransferOptions{Workers: w}, Description: "bench B", ParentSnapshotID: a, Base: mapA, Current: map2})
	})
	check(err, "delta push")
	img2.Close()
	rows[len(rows)-1].moved, rows[len(rows)-1].note = st.Bytes, fmt.Sprintf("%d blocks written of %d changed; parent %s; the image's map from its build's record (hashing it took %.2f s in that build)", st.Blocks, want, a, mapTime.Seconds())
	deltaBytes := st.Bytes

	w2 := filepath.Join(dir, "inc-w2.raw")
	var rs cloud.RecaptureStats
	tInc := measure("changed-block recapture (DownloadChanged)", 0, "", func() {
		f := create(w2)
		_, rs, err = cloud.DownloadChanged(ctx, cl.EBS, m1, nil, w1, a, b, f, cloud.TransferOptions{Workers: w})
		if err == nil {
			err = f.Sync()
		}
		f.Close()
	})
	check(err, "recapture")
	how := "sparse copy"
	if rs.Reflink {
		how = "reflink"
	}
	rows[len(rows)-1].moved, rows[len(rows)-1].note = rs.Bytes, fmt.Sprintf("%d blocks listed changed, %d read; base %s %.2f s, %s", rs.Changed, rs.Blocks, how, rs.Copy.Seconds(), checkNote(rs))

	full2 := filepath.Join(dir, "inc-full2.raw")
	measure("full capture of the new snapshot (for comparison)", 0, "", func() {
		f := create(full2)
		_, st, err = cloud.DownloadSnapshotMap(ctx, cl.EBS, b, f, cloud.TransferOptions{Workers: w})
		f.Close()
	})
	check(err, "full capture of B")
	rows[len(rows)-1].moved, rows[len(rows)-1].note = st.Bytes, fmt.Sprintf("%d blocks", st.Blocks)
	if err := sameData(w2, full2); err != nil {
		log.Fatalf("recapture vs full capture: %v", err)
	}
	if err := sameData(image2, full2); err != nil {
		log.Fatalf("delta push vs the changed image: %v", err)
	}
	for _, p := range []string{w1, w2, full2, image2} {
		os.Remove(p)
	}
	for i := range rows {
		rows[i].virtual = size
	}
	summary := fmt.Sprintf("Changed blocks: %d of %d (%.1f %%), scattered at random; %d blocks in flight.\n"+
		"Capture: full %.2f s / %d MB, recapture %.2f s / %d MB: %.1fx fewer bytes, %.1fx faster; byte-equal to a full capture of the new snapshot.\n"+
		"Push: full %.2f s / %d MB, delta %.2f s / %d MB: %.1fx fewer bytes, %.1fx faster; the delta snapshot reads back as the changed image.\n",
		want, nblocks, pct, w,
		tFullCap.Seconds(), fullCapBytes/1e6, tInc.Seconds(), rs.Bytes/1e6, ratio(fullCapBytes, rs.Bytes), tFullCap.Seconds()/tInc.Seconds(),
		tFullPush.Seconds(), fullPushBytes/1e6, tDelta.Seconds(), deltaBytes/1e6, ratio(fullPushBytes, deltaBytes), tFullPush.Seconds()/tDelta.Seconds())
	return rows, summary
}

// changedCopy makes dst a sparse copy of image (size bytes) with pct % of its 512 KiB blocks,
// chosen at random across the whole disk (the same ones for the same size and pct), given 4 KiB
// of new random data each; it returns how many blocks changed.
func changedCopy(ctx context.Context, image, dst string, size int64, pct float64) int {
	f := create(dst)
	defer f.Close()
	if _, err := provenance.CloneInto(ctx, image, f); err != nil {
		log.Fatal(err)
	}
	nblocks := size / cloud.BlockSize
	r := rand.New(rand.NewPCG(42, uint64(size)))
	changed := map[int64]bool{}
	want := int(float64(nblocks) * pct / 100)
	buf := make([]byte, 4096)
	for len(changed) < want {
		b := r.Int64N(nblocks)
		if changed[b] {
			continue
		}
		changed[b] = true
		for i := range buf {
			buf[i] = byte(r.Uint32())
		}
		if _, err := f.WriteAt(buf, b*cloud.BlockSize+int64(r.IntN(cloud.BlockSize-len(buf)))); err != nil {
			log.Fatal(err)
		}
	}
	check(f.Sync(), "sync "+dst)
	return want
}

func checkNote(rs cloud.RecaptureStats) string {
	if rs.Trusted {
		return "not read again (its stamp matches)"
	}
	return fmt.Sprintf("its check against its map %.2f s (%s)", rs.Check.Seconds(), rs.Untrusted)
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func openImage(p string) diskimage.Image {
	img, err := diskimage.OpenFormat(p, "raw")
	if err != nil {
		log.Fatal(err)
	}
	return img
}

func dataRanges(ctx context.Context, img diskimage.Image) []cloud.Range {
	exts, err := img.Extents(ctx)
	if err != nil {
		log.Fatal(err)
	}
	var data []cloud.Range
	for _, e := range exts {
		if e.Kind == diskimage.Data {
			data = append(data, cloud.Range{Offset: e.Offset, Length: e.Length})
		}
	}
	return data
}

func create(p string) *os.File {
	f, err := os.Create(p)
	if err != nil {
		log.Fatal(err)
	}
	return f
}

func check(err error, what string) {
	if err != nil {
		log.Fatalf("%s: %v", what, err)
	}
}
