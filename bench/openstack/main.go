// Command openstack times a Glance-to-Glance migration against its two halves on the
// all-in-one cloud (test/openstack-aio), in one run, on one source image:
//
//   - download alone: the source image's data streamed from project A and hash-verified
//     (internal/cloud/openstack.Download into io.Discard);
//   - upload alone: the same bytes from a local file into project B (cloud.Upload), and, for
//     the converted case, the raw disk from a local sparse file;
//   - migration: chromogenic-openstack-import's own code (PostProcessor.PostProcess with a
//     `source` block, given an artifact of chromogenic-openstack in snapshot mode), A -> B,
//     unconverted (qcow2 streamed Glance to Glance) and converted to raw (qcow2 read in place
//     through Range requests).
//
// It prints a markdown table: wall time and the ratio of the migration to the slower of its
// download and upload (the goal: <= 1.2). Every image it makes is deleted. Run it
// through bench/openstack-bench.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	osbuilder "github.com/chromogenic/packer-plugin-chromogenic/builder/openstack"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	openstackimport "github.com/chromogenic/packer-plugin-chromogenic/post-processor/openstack-import"
)

// snapshotArtifact stands for what chromogenic-openstack hands a post-processor in snapshot
// mode: a Glance image, no files.
type snapshotArtifact struct{ id string }

func (a snapshotArtifact) BuilderId() string        { return osbuilder.BuilderID }
func (a snapshotArtifact) Files() []string          { return nil }
func (a snapshotArtifact) Id() string               { return a.id }
func (a snapshotArtifact) String() string           { return "image " + a.id }
func (a snapshotArtifact) State(string) interface{} { return nil }
func (a snapshotArtifact) Destroy() error           { return nil }

func main() {
	clouds := flag.String("clouds", "", "clouds.yaml with aio-a and aio-b")
	imageID := flag.String("image", "", "source image ID in aio-a (qcow2)")
	qcowFile := flag.String("qcow2", "", "local copy of the source image's file (for upload alone)")
	rawFile := flag.String("raw", "", "local sparse raw disk of the same image (for raw upload alone)")
	flag.Parse()
	if *clouds == "" || *imageID == "" || *qcowFile == "" || *rawFile == "" {
		log.Fatal("usage: openstack -clouds FILE -image ID -qcow2 FILE -raw FILE")
	}
	ctx := context.Background()
	a, err := cloud.Connect(ctx, cloud.Auth{Cloud: "aio-a", CloudsFile: *clouds})
	if err != nil {
		log.Fatal(err)
	}
	b, err := cloud.Connect(ctx, cloud.Auth{Cloud: "aio-b", CloudsFile: *clouds})
	if err != nil {
		log.Fatal(err)
	}
	src, err := cloud.GetImage(ctx, a.Image, *imageID)
	if err != nil {
		log.Fatal(err)
	}
	var made []string
	defer func() {
		for _, id := range made {
			cloud.DeleteImage(context.Background(), b.Image, id)
		}
	}()
	timeIt := func(what string, fn func() (*images.Image, error)) time.Duration {
		start := time.Now()
		img, err := fn()
		d := time.Since(start)
		if img != nil {
			made = append(made, img.ID)
		}
		if err != nil {
			log.Fatalf("%s: %v", what, err)
		}
		fmt.Fprintf(os.Stderr, ">> %s: %.2f s\n", what, d.Seconds())
		return d
	}
	upload := func(path, format string) func() (*images.Image, error) {
		return func() (*images.Image, error) {
			f, err := os.Open(path)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			return cloud.Upload(ctx, b.Image, cloud.NewImage{Name: "bench-upload-" + format, DiskFormat: format}, f, nil)
		}
	}
	migrate := func(format string) func() (*images.Image, error) {
		return func() (*images.Image, error) {
			var pp openstackimport.PostProcessor
			cfg := map[string]interface{}{
				"cloud": "aio-b", "clouds_file": *clouds, "image_name": "bench-migrate-" + format,
				"disk_format": format,
				"source":      map[string]interface{}{"cloud": "aio-a", "clouds_file": *clouds},
			}
			if err := pp.Configure(cfg); err != nil {
				return nil, err
			}
			ui := &packersdk.BasicUi{Reader: os.Stdin, Writer: os.Stderr, ErrorWriter: os.Stderr, PB: &packersdk.NoopProgressTracker{}}
			art, _, _, err := pp.PostProcess(ctx, ui, snapshotArtifact{id: src.ID})
			if err != nil {
				return nil, err
			}
			return &images.Image{ID: art.Id()}, nil
		}
	}

	download := timeIt("download alone (qcow2, hashed)", func() (*images.Image, error) {
		body, err := cloud.Download(ctx, a.Image, src)
		if err != nil {
			return nil, err
		}
		defer body.Close()
		_, err = io.Copy(io.Discard, body)
		return nil, err
	})
	upQcow := timeIt("upload alone (qcow2)", upload(*qcowFile, "qcow2"))
	upRaw := timeIt("upload alone (raw)", upload(*rawFile, "raw"))
	// The all-in-one cloud serves both ends from one glance-api process (workers = 0,
	// eventlet: its file reads and writes block the whole process), so a download and an
	// upload slow each other down there even when independent. This row measures that
	// floor: the same download and upload run at the same time, independently.
	both := timeIt("download and upload at the same time, independent (qcow2)", func() (*images.Image, error) {
		type res struct {
			img *images.Image
			err error
		}
		ch := make(chan res, 1)
		go func() {
			img, err := upload(*qcowFile, "qcow2")()
			ch <- res{img, err}
		}()
		body, err := cloud.Download(ctx, a.Image, src)
		if err == nil {
			_, err = io.Copy(io.Discard, body)
			body.Close()
		}
		r := <-ch
		if err == nil {
			err = r.err
		}
		return r.img, err
	})
	migQcow := timeIt("migration qcow2 -> qcow2", migrate("qcow2"))
	migRaw := timeIt("migration qcow2 -> raw", migrate("raw"))

	fmt.Printf("| step | wall s | ratio to the slower of download and upload | ratio to download + upload |\n|---|---:|---:|---:|\n")
	fmt.Printf("| download alone (qcow2, %d MiB, sha512 verified) | %.2f | | |\n", src.SizeBytes>>20, download.Seconds())
	fmt.Printf("| upload alone (qcow2) | %.2f | | |\n", upQcow.Seconds())
	fmt.Printf("| upload alone (raw, whole disk) | %.2f | | |\n", upRaw.Seconds())
	fmt.Printf("| download and upload (qcow2) at the same time, independent: this Glance's floor | %.2f | %.2f× | %.2f× |\n", both.Seconds(), both.Seconds()/max(download, upQcow).Seconds(), both.Seconds()/(download+upQcow).Seconds())
	fmt.Printf("| **migration A->B, qcow2 unconverted** | %.2f | **%.2f×** | %.2f× |\n", migQcow.Seconds(), migQcow.Seconds()/max(download, upQcow).Seconds(), migQcow.Seconds()/(download+upQcow).Seconds())
	fmt.Printf("| **migration A->B, qcow2 -> raw (Range reads)** | %.2f | **%.2f×** | %.2f× |\n", migRaw.Seconds(), migRaw.Seconds()/max(download, upRaw).Seconds(), migRaw.Seconds()/(download+upRaw).Seconds())
}
