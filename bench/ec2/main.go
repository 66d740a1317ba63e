// Command ec2 benchmarks the ways a disk image travels to and from AWS, against the project's
// EC2/EBS/S3 wire emulator (test/ec2emu) with an AWS-like latency added to every request:
//
//   - EBS direct upload: the plugin's own path (internal/cloud/ec2.UploadSnapshot, as
//     chromogenic-ec2-import and the chromogenic-ec2 builder call it): the image's data extents
//     in 512 KiB blocks, PutSnapshotBlock in parallel with per-block SHA-256, CompleteSnapshot
//     with the LINEAR checksum, wait for completed;
//   - EBS direct download: internal/cloud/ec2.DownloadSnapshot (the builder's path):
//     ListSnapshotBlocks, GetSnapshotBlock in parallel, sparse writes;
//   - S3 multipart upload + ImportImage: the whole raw disk through the SDK's upload manager
//     into a bucket, then ImportImage and DescribeImportImageTasks polling until the AMI
//     exists (the classic VM Import path);
//   - S3 ranged download: the SDK's download manager reading the raw object back (what follows
//     an ExportImage);
//   - the changed-block paths (incremental.go): a full push and a full capture (with its block
//     map), then a delta push (ParentSnapshotId, only the blocks whose hash differs) and a
//     changed-block recapture (ListChangedBlocks from the previous working copy) after
//     -changed-pct % of the disk's blocks changed at random places, with the ratios;
//   - the Eucalyptus bundle capture over a base (eucabase.go): no changed-block API, the
//     bundle read whole, only the blocks that differ from the base's working copy written,
//     next to the full download of the same bundle.
//
// It prints a markdown table: wall time, MB/s of the disk's virtual size and of the data
// actually moved, the concurrency used and the requests sent. Run it through bench/ec2-bench.sh.
//
// The emulator runs in this process, so client and server share the CPUs: the figures are a
// lower bound of what the clients do against AWS, where the latency is the same but the server
// side costs nothing here.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

type row struct {
	name        string
	wall        time.Duration
	virtual     int64 // the disk's size
	moved       int64 // bytes that crossed the wire
	concurrency string
	requests    int
	note        string
}

func main() {
	image := flag.String("image", "", "raw disk image to move (required)")
	work := flag.String("work", os.TempDir(), "scratch directory (emulator data, downloads)")
	latency := flag.Duration("latency", 40*time.Millisecond, "latency added to every request")
	workers := flag.String("workers", "16,64", "EBS direct concurrency levels, comma separated")
	s3Conc := flag.Int("s3-concurrency", 8, "S3 upload/download manager concurrency")
	partMiB := flag.Int64("part-mib", 16, "S3 multipart part size, MiB")
	table := flag.String("table", "", "also write the markdown table to this file")
	pct := flag.Float64("changed-pct", 1, "incremental paths: percent of the disk's blocks changed (0: skip them)")
	only := flag.String("only", "", `"incremental": measure the EBS changed-block paths only; "euca-base": the Eucalyptus update over a base only`)
	flag.Parse()
	if *image == "" {
		flag.Usage()
		os.Exit(2)
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp(*work, "ec2-bench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Mkdir(filepath.Join(dir, "emu"), 0o755); err != nil {
		log.Fatal(err)
	}
	srv, err := ec2emu.New(ec2emu.Options{Latency: *latency, Dir: filepath.Join(dir, "emu")})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	img, err := diskimage.Open(*image)
	if err != nil {
		log.Fatal(err)
	}
	defer img.Close()
	size := img.Size()
	data := dataRanges(ctx, img)
	var rows []row
	levels := strings.Split(*workers, ",")
	var snap string
	if *only == "incremental" || *only == "euca-base" {
		levels = nil
	}
	for _, l := range levels {
		w, err := strconv.Atoi(strings.TrimSpace(l))
		if err != nil || w < 1 {
			log.Fatalf("-workers: %q", l)
		}
		cl := connect(ctx, srv, w+8)

		n0 := len(srv.Calls())
		start := time.Now()
		id, st, err := cloud.UploadSnapshot(ctx, cl, img, size, data, cloud.UploadOptions{
			TransferOptions: cloud.TransferOptions{Workers: w}, Description: "bench"})
		if err != nil {
			log.Fatalf("EBS direct upload: %v", err)
		}
		rows = append(rows, row{"EBS direct upload (PutSnapshotBlock)", time.Since(start), size, st.Bytes,
			fmt.Sprintf("%d blocks in flight", w), len(srv.Calls()) - n0, fmt.Sprintf("%d blocks, %d retries", st.Blocks, st.Retries)})
		log.Printf("%s: %v", rows[len(rows)-1].name, rows[len(rows)-1].wall)

		dst := filepath.Join(dir, "download.raw")
		f, err := os.Create(dst)
		if err != nil {
			log.Fatal(err)
		}
		n0 = len(srv.Calls())
		start = time.Now()
		dst2, err := cloud.DownloadSnapshot(ctx, cl.EBS, id, f, cloud.TransferOptions{Workers: w})
		if err == nil {
			err = f.Sync()
		}
		f.Close()
		if err != nil {
			log.Fatalf("EBS direct download: %v", err)
		}
		rows = append(rows, row{"EBS direct download (GetSnapshotBlock)", time.Since(start), size, dst2.Bytes,
			fmt.Sprintf("%d blocks in flight", w), len(srv.Calls()) - n0, fmt.Sprintf("%d blocks, %d retries", dst2.Blocks, dst2.Retries)})
		log.Printf("%s: %v", rows[len(rows)-1].name, rows[len(rows)-1].wall)
		if err := sameData(*image, dst); err != nil {
			log.Fatalf("EBS direct round trip: %v", err)
		}
		os.Remove(dst)
		if snap != "" {
			if err := cloud.DeleteSnapshot(ctx, cl.EC2, snap); err != nil {
				log.Fatal(err)
			}
		}
		snap = id
	}

	// The changed-block paths: recapture and delta push, next to their full counterparts.
	var incSummary string
	if *pct > 0 && *only != "euca-base" {
		w, err := strconv.Atoi(strings.TrimSpace(strings.Split(*workers, ",")[0]))
		if err != nil || w < 1 {
			log.Fatalf("-workers: %q", *workers)
		}
		var inc []row
		inc, incSummary = incremental(ctx, srv, *image, dir, w, *pct)
		rows = append(rows, inc...)
	}
	if *pct > 0 && (*only == "" || *only == "euca-base") {
		euca, eucaSummary := eucaBase(ctx, *image, dir, *latency, *pct)
		rows = append(rows, euca...)
		incSummary += eucaSummary
	}
	if *only == "incremental" || *only == "euca-base" {
		printTable(rows, *image, size, data, *latency, *table, incSummary)
		return
	}

	// S3 multipart + ImportImage.
	cl := connect(ctx, srv, *s3Conc+8)
	srv.CreateBucket("vmimport")
	src, err := os.Open(*image)
	if err != nil {
		log.Fatal(err)
	}
	n0 := len(srv.Calls())
	start := time.Now()
	up := manager.NewUploader(cl.S3, func(u *manager.Uploader) {
		u.PartSize = *partMiB << 20
		u.Concurrency = *s3Conc
		u.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	})
	if _, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String("vmimport"), Key: aws.String("disk.raw"),
		Body: src}); err != nil {
		log.Fatalf("S3 upload: %v", err)
	}
	src.Close()
	upWall := time.Since(start)
	upReq := len(srv.Calls()) - n0
	ii, err := cl.EC2.ImportImage(ctx, &sdkec2.ImportImageInput{Description: aws.String("bench"),
		BootMode: types.BootModeValuesLegacyBios, DiskContainers: []types.ImageDiskContainer{{
			Format: aws.String("raw"), UserBucket: &types.UserBucket{S3Bucket: aws.String("vmimport"), S3Key: aws.String("disk.raw")}}}})
	if err != nil {
		log.Fatalf("ImportImage: %v", err)
	}
	var ami string
	for delay := 100 * time.Millisecond; ami == ""; delay = min(2*delay, 2*time.Second) {
		time.Sleep(delay)
		out, err := cl.EC2.DescribeImportImageTasks(ctx, &sdkec2.DescribeImportImageTasksInput{ImportTaskIds: []string{aws.ToString(ii.ImportTaskId)}})
		if err != nil {
			log.Fatalf("DescribeImportImageTasks: %v", err)
		}
		t := out.ImportImageTasks[0]
		switch aws.ToString(t.Status) {
		case "completed":
			ami = aws.ToString(t.ImageId)
		case "deleted", "deleting":
			log.Fatalf("import failed: %s", aws.ToString(t.StatusMessage))
		}
	}
	total := time.Since(start)
	rows = append(rows, row{"S3 multipart upload (UploadPart)", upWall, size, size,
		fmt.Sprintf("%d parts of %d MiB in flight", *s3Conc, *partMiB), upReq, "whole raw disk, zeros included"})
	rows = append(rows, row{"S3 multipart upload + ImportImage until the AMI exists", total, size, size,
		fmt.Sprintf("%d parts of %d MiB in flight", *s3Conc, *partMiB), len(srv.Calls()) - n0,
		fmt.Sprintf("%s; the emulator's import is a local copy, AWS's takes minutes", ami)})
	log.Printf("%s: %v", rows[len(rows)-1].name, total)

	dst := filepath.Join(dir, "s3.raw")
	f, err := os.Create(dst)
	if err != nil {
		log.Fatal(err)
	}
	n0 = len(srv.Calls())
	start = time.Now()
	down := manager.NewDownloader(cl.S3, func(d *manager.Downloader) {
		d.PartSize = *partMiB << 20
		d.Concurrency = *s3Conc
	})
	n, err := down.Download(ctx, f, &s3.GetObjectInput{Bucket: aws.String("vmimport"), Key: aws.String("disk.raw")})
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err != nil {
		log.Fatalf("S3 download: %v", err)
	}
	rows = append(rows, row{"S3 ranged download (GetObject), as after ExportImage", time.Since(start), size, n,
		fmt.Sprintf("%d ranges of %d MiB in flight", *s3Conc, *partMiB), len(srv.Calls()) - n0, "whole raw disk, zeros included"})
	if err := sameData(*image, dst); err != nil {
		log.Fatalf("S3 round trip: %v", err)
	}
	os.Remove(dst)

	printTable(rows, *image, size, data, *latency, *table, incSummary)
}

func printTable(rows []row, image string, size int64, data []cloud.Range, latency time.Duration, table, summary string) {
	var b strings.Builder
	fmt.Fprintf(&b, "| path | wall s | MB/s (disk size) | MB/s (bytes moved) | MB moved | concurrency | requests | notes |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---|---:|---|\n")
	for _, r := range rows {
		s := max(r.wall.Seconds(), 0.001)
		fmt.Fprintf(&b, "| %s | %.2f | %.0f | %.0f | %.0f | %s | %d | %s |\n", r.name, s,
			float64(r.virtual)/s/1e6, float64(r.moved)/s/1e6, float64(r.moved)/1e6, r.concurrency, r.requests, r.note)
	}
	if summary != "" {
		b.WriteString("\n" + summary)
	}
	fmt.Printf("\nImage: %s (%d MiB virtual, %d MiB of data extents); emulator latency %s per request; %s.\n\n",
		image, size>>20, dataBytes(data)>>20, latency, "client and emulator in one process")
	fmt.Print(b.String())
	if table != "" {
		if err := os.WriteFile(table, []byte(b.String()), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

func connect(ctx context.Context, srv *ec2emu.Server, conns int) *cloud.Clients {
	cl, err := cloud.Connect(ctx, cloud.Access{AccessKey: srv.AccessKeyID, SecretKey: srv.SecretAccessKey,
		Region: srv.Region, EC2Endpoint: srv.EC2Endpoint, EBSEndpoint: srv.EBSEndpoint, S3Endpoint: srv.S3Endpoint,
		Connections: conns})
	if err != nil {
		log.Fatal(err)
	}
	return cl
}

func dataBytes(rs []cloud.Range) int64 {
	var n int64
	for _, r := range rs {
		n += r.Length
	}
	return n
}

// sameData compares two raw files of possibly different sizes: the longer one's tail must be
// zeros.
func sameData(a, b string) error {
	fa, err := os.Open(a)
	if err != nil {
		return err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return err
	}
	defer fb.Close()
	ba, bb := make([]byte, 4<<20), make([]byte, 4<<20)
	for off := int64(0); ; off += int64(len(ba)) {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		n := max(na, nb)
		clear(ba[na:n])
		clear(bb[nb:n])
		if string(ba[:n]) != string(bb[:n]) {
			return fmt.Errorf("%s and %s differ in the 4 MiB at %d", a, b, off)
		}
		if (ea != nil) && (eb != nil) {
			return nil
		}
	}
}
