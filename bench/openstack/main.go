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
// With -rounds N every measurement runs once per round, round robin, and the fastest of each
// is reported (a guard against other load on the machine), with each round's own ratios.
// Each step also prints, on stderr, the CPU time it cost this process and the glance-api
// processes of the machine (the all-in-one cloud's), which says where a migration's time
// goes. With -cpuprofile the migrations are profiled.
//
// It prints a markdown table: wall time and the ratio of the migration to the slower of its
// download and upload (the goal: <= 1.2). Every image it makes is deleted (each
// round's before the next). Run it through bench/openstack-bench.sh.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	openstackcommon "github.com/chromogenic/packer-plugin-chromogenic/common/openstack"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	openstackimport "github.com/chromogenic/packer-plugin-chromogenic/post-processor/openstack-import"
)

// snapshotArtifact stands for what chromogenic-openstack hands a post-processor in snapshot
// mode: a Glance image, no files.
type snapshotArtifact struct{ id string }

func (a snapshotArtifact) BuilderId() string        { return openstackcommon.BuilderID }
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
	nRounds := flag.Int("rounds", 1, "rounds: every measurement runs once per round, the fastest is reported")
	withRaw := flag.Bool("raw-part", true, "also time the converted path (qcow2 -> raw) and the raw upload")
	withBoth := flag.Bool("both", true, "also time an independent download and upload at the same time")
	cpuProfile := flag.String("cpuprofile", "", "write CPU profiles of the migrations (this process's side) to FILE.qcow2 and FILE.raw")
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
	if *nRounds < 1 {
		log.Fatal("-rounds: want at least 1")
	}
	// profiled runs fn under the CPU profiler when -cpuprofile is set: only the migrations
	// are profiled, so the profile shows where this side's time goes while migrating.
	var profBuf bytes.Buffer
	profiled := func(name string, fn func() time.Duration) time.Duration {
		if *cpuProfile == "" {
			return fn()
		}
		if err := pprof.StartCPUProfile(&profBuf); err != nil {
			log.Fatal(err)
		}
		d := fn()
		pprof.StopCPUProfile()
		// One file per kind of migration: the last round's.
		if err := os.WriteFile(*cpuProfile+"."+name, profBuf.Bytes(), 0o644); err != nil {
			log.Fatal(err)
		}
		profBuf.Reset()
		return d
	}
	var made []string
	defer func() {
		for _, id := range made {
			cloud.DeleteImage(context.Background(), b.Image, id)
		}
	}()
	timeIt := func(what string, fn func() (*images.Image, error)) time.Duration {
		start, ours0, glance0 := time.Now(), ownCPU(), glanceCPU()
		img, err := fn()
		d := time.Since(start)
		if img != nil {
			made = append(made, img.ID)
		}
		if err != nil {
			log.Fatalf("%s: %v", what, err)
		}
		fmt.Fprintf(os.Stderr, ">> %s: %.2f s (CPU: this process %.1f s, glance-api %.1f s; load %s)\n",
			what, d.Seconds(), ownCPU()-ours0, glanceCPU()-glance0, loadavg())
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

	type round struct{ download, upQcow, upRaw, both, migQcow, migRaw time.Duration }
	var rounds []round
	load0 := loadavg()
	for i := 0; i < *nRounds; i++ {
		fmt.Fprintf(os.Stderr, ">> round %d/%d (load %s)\n", i+1, *nRounds, loadavg())
		var r round
		r.download = timeIt("download alone (qcow2, hashed)", func() (*images.Image, error) {
			body, err := cloud.Download(ctx, a.Image, src)
			if err != nil {
				return nil, err
			}
			defer body.Close()
			_, err = io.Copy(io.Discard, body)
			return nil, err
		})
		r.upQcow = timeIt("upload alone (qcow2)", upload(*qcowFile, "qcow2"))
		if *withBoth {
			// Both ends in one Glance: this row measures what the cloud gives a download and
			// an upload that run at the same time, independently (the floor of a migration
			// on this cloud).
			r.both = timeIt("download and upload at the same time, independent (qcow2)", func() (*images.Image, error) {
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
		}
		r.migQcow = profiled("qcow2", func() time.Duration { return timeIt("migration qcow2 -> qcow2", migrate("qcow2")) })
		if *withRaw {
			r.upRaw = timeIt("upload alone (raw)", upload(*rawFile, "raw"))
			r.migRaw = profiled("raw", func() time.Duration { return timeIt("migration qcow2 -> raw", migrate("raw")) })
		}
		fmt.Fprintf(os.Stderr, ">> round %d: qcow2 ratio %.2f", i+1, r.migQcow.Seconds()/max(r.download, r.upQcow).Seconds())
		if *withRaw {
			fmt.Fprintf(os.Stderr, ", raw ratio %.2f", r.migRaw.Seconds()/max(r.download, r.upRaw).Seconds())
		}
		fmt.Fprintln(os.Stderr)
		rounds = append(rounds, r)
		// Every round's images go before the next round starts: the next one measures the
		// same cloud, not one that also holds the last round's copies.
		for _, id := range made {
			cloud.DeleteImage(context.Background(), b.Image, id)
		}
		made = nil
	}
	load1 := loadavg()

	// The fastest run of each measurement over the rounds (a guard against other load on
	// the machine), and the ratios of those; each round's own ratios follow.
	best := rounds[0]
	for _, r := range rounds[1:] {
		best.download, best.upQcow, best.upRaw = min(best.download, r.download), min(best.upQcow, r.upQcow), min(best.upRaw, r.upRaw)
		best.both, best.migQcow, best.migRaw = min(best.both, r.both), min(best.migQcow, r.migQcow), min(best.migRaw, r.migRaw)
	}
	ratio := func(m, a, b time.Duration) string { return fmt.Sprintf("%.2f×", m.Seconds()/max(a, b).Seconds()) }
	perRound := func(f func(r round) string) string {
		var s []string
		for _, r := range rounds {
			s = append(s, f(r))
		}
		return strings.Join(s, ", ")
	}
	fmt.Printf("Fastest of %d round(s); load average %s at the start, %s at the end.\n\n", len(rounds), load0, load1)
	fmt.Printf("| step | wall s (fastest) | ratio to the slower of download and upload | each round's ratio |\n|---|---:|---:|---|\n")
	fmt.Printf("| download alone (qcow2, %d MiB, sha512 verified) | %.2f | | |\n", src.SizeBytes>>20, best.download.Seconds())
	fmt.Printf("| upload alone (qcow2) | %.2f | | |\n", best.upQcow.Seconds())
	if *withBoth {
		fmt.Printf("| download and upload (qcow2) at the same time, independent: this Glance's floor | %.2f | %s | %s |\n", best.both.Seconds(),
			ratio(best.both, best.download, best.upQcow), perRound(func(r round) string { return ratio(r.both, r.download, r.upQcow) }))
	}
	fmt.Printf("| **migration A->B, qcow2 unconverted** | %.2f | **%s** | %s |\n", best.migQcow.Seconds(),
		ratio(best.migQcow, best.download, best.upQcow), perRound(func(r round) string { return ratio(r.migQcow, r.download, r.upQcow) }))
	if *withRaw {
		fmt.Printf("| upload alone (raw, whole disk) | %.2f | | |\n", best.upRaw.Seconds())
		fmt.Printf("| **migration A->B, qcow2 -> raw (Range reads)** | %.2f | **%s** | %s |\n", best.migRaw.Seconds(),
			ratio(best.migRaw, best.download, best.upRaw), perRound(func(r round) string { return ratio(r.migRaw, r.download, r.upRaw) }))
	}
}

// loadavg is the first three fields of /proc/loadavg.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// ownCPU is this process's user + system CPU time in seconds.
func ownCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// glanceCPU is the user + system CPU time in seconds of the glance-api processes on this
// machine (the all-in-one cloud's; 0 where there are none).
func glanceCPU() float64 {
	dirs, _ := os.ReadDir("/proc")
	var ticks int64
	for _, d := range dirs {
		cmd, err := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		if err != nil || !bytes.Contains(cmd, []byte("glance-api")) {
			continue
		}
		stat, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// fields after the command's closing parenthesis: utime and stime are the 12th and 13th
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) > 12 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			s, _ := strconv.ParseInt(f[12], 10, 64)
			ticks += u + s
		}
	}
	return float64(ticks) / 100 // USER_HZ
}
