package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2/bundle"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/transfer"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// eucaBase measures the working-copy update over a base where the cloud has no changed-block
// API (chromogenic-ec2's capture_method bundle on Eucalyptus, with base_provenance), next to
// the full download: on a Eucalyptus-dialect emulator with the same latency, the image and
// its changed copy (pct % of the blocks, as for incremental) are registered as instance-store
// images (bundles: gzip, AES, signed manifest); the first is downloaded and unbundled into a
// working copy with its block map (transfer.BringHomeWith, as StepDownloadBundle), the second
// in full and then over the first working copy (HomeOptions.Base: the same bundle read whole,
// only the blocks whose hash differs written). The update must be byte-equal to the full
// download and to the changed image. Bundling is not timed.
func eucaBase(ctx context.Context, image, dir string, latency time.Duration, pct float64) ([]row, string) {
	emu := filepath.Join(dir, "euca-emu")
	check(os.Mkdir(emu, 0o755), "emulator directory")
	srv, err := ec2emu.New(ec2emu.Options{Dialect: ec2emu.Eucalyptus, Latency: latency, Dir: emu})
	check(err, "Eucalyptus emulator")
	defer srv.Close()
	user, err := bundle.NewIdentity("bench-user")
	check(err, "user identity")
	cloudCert, err := bundle.ParseCertificate(srv.CloudCertPEM())
	check(err, "cloud certificate")
	keys := cloud.BundleKeys{UserKey: user.Key, UserCert: user.Cert, CloudCert: cloudCert}
	cl, err := cloud.Connect(ctx, cloud.Access{AccessKey: srv.AccessKeyID, SecretKey: srv.SecretAccessKey,
		Region: srv.Region, EC2Endpoint: srv.EC2Endpoint, S3Endpoint: srv.S3Endpoint, Eucalyptus: true, Connections: 16})
	check(err, "connect")

	size := openImageSize(image)
	image2 := filepath.Join(dir, "euca-image2.raw")
	want := changedCopy(ctx, image, image2, size, pct)
	nblocks := (size + cloud.BlockSize - 1) / cloud.BlockSize
	t0 := time.Now()
	for name, file := range map[string]string{"bench-a": image, "bench-b": image2} {
		_, err := srv.SeedBundle(ec2emu.SeedBundle{Name: name, File: file, Bucket: "bench", User: user})
		check(err, "bundle "+name)
	}
	log.Printf("bundled both images in %s (not timed)", time.Since(t0).Round(time.Second))

	var rows []row
	home := func(name, loc, dst string, o transfer.HomeOptions) transfer.Stats {
		n0 := len(srv.Calls())
		start := time.Now()
		st, err := transfer.BringHomeWith(ctx, dst, 0o600, transfer.FromOrdered(
			func(ctx context.Context, sink transfer.Sink, progress transfer.Progress) (int64, error) {
				m, err := cloud.DownloadBundle(ctx, cl, loc, keys, sink, progress)
				if err != nil {
					return 0, err
				}
				return m.BundledSize, nil
			}), o)
		check(err, name)
		d := time.Since(start)
		rows = append(rows, row{name, d, size, st.Read, "parts in order", len(srv.Calls()) - n0, ""})
		log.Printf("%s: %v", name, d)
		return st
	}
	w1 := filepath.Join(dir, "euca-w1.raw")
	st := home("Eucalyptus bundle download, full (DownloadBundle into a new working copy)", "bench/bench-a.manifest.xml", w1, transfer.HomeOptions{Map: true})
	rows[len(rows)-1].note = fmt.Sprintf("%d MB written; block map made on the way", st.Written/1e6)
	base := st.Map
	base.Path = w1
	check(base.SetStamp(), "stamp the base") // as the build's record does (StepRecordWorkingCopy)

	full2 := filepath.Join(dir, "euca-full2.raw")
	st = home("Eucalyptus bundle download of the changed image, full (for comparison)", "bench/bench-b.manifest.xml", full2, transfer.HomeOptions{Map: true})
	rows[len(rows)-1].note = fmt.Sprintf("%d MB written", st.Written/1e6)
	tFull, fullWritten := rows[len(rows)-1].wall, st.Written

	w2 := filepath.Join(dir, "euca-w2.raw")
	st = home("Eucalyptus bundle download of the changed image over the base (base_provenance)", "bench/bench-b.manifest.xml", w2, transfer.HomeOptions{Base: base})
	if st.Update == nil {
		log.Fatalf("the base was not used: %s", st.Fallback)
	}
	u := st.Update
	how := "sparse copy"
	if u.Reflink {
		how = "reflink"
	}
	trust := "not read again (its stamp matches)"
	if !u.Trusted {
		trust = fmt.Sprintf("checked against its map in %.2f s (%s)", u.Check.Seconds(), u.Untrusted)
	}
	rows[len(rows)-1].note = fmt.Sprintf("%d of %d blocks written (%d MB; %d changed); base %s %.2f s, %s", u.Written, u.Blocks, u.Bytes/1e6, want, how, u.Copy.Seconds(), trust)
	tUpd := rows[len(rows)-1].wall
	if err := sameData(w2, full2); err != nil {
		log.Fatalf("update over the base vs full download: %v", err)
	}
	if err := sameData(w2, image2); err != nil {
		log.Fatalf("update over the base vs the changed image: %v", err)
	}
	for _, p := range []string{w1, w2, full2, image2} {
		os.Remove(p)
	}
	summary := fmt.Sprintf("Eucalyptus bundle capture over a base (no changed-block API: the bundle is read whole): %d of %d blocks changed; "+
		"full download %.2f s writing %d MB, over the base %.2f s writing %d MB (%.0fx fewer bytes written, %.1fx the speed); byte-equal to the full download.\n",
		want, nblocks, tFull.Seconds(), fullWritten/1e6, tUpd.Seconds(), u.Bytes/1e6, ratio(fullWritten, u.Bytes), tFull.Seconds()/tUpd.Seconds())
	return rows, summary
}

func openImageSize(p string) int64 {
	img := openImage(p)
	defer img.Close()
	return img.Size()
}
