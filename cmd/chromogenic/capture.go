package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	ec2cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	oscloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/hostfile"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/transfer"
)

const captureUsage = `usage: chromogenic capture --from openstack (--server ID | --image ID) OUTPUT [options]
       chromogenic capture --from aws (--instance ID | --snapshot ID | --image AMI) OUTPUT [options]

Brings a cloud image home into the local file OUTPUT (never overwritten; mode 0600: it
holds the guest): a sparse raw working copy, converted when --format is not raw. The same
download code as the chromogenic-openstack and chromogenic-ec2 builders.

  --format F        OUTPUT's format (default raw): ` + "%s" + `
  -o key=value,...  writer options, as for convert
  --json            print {"output", "format", "source", ...} instead of OUTPUT alone
  --progress        show progress on stderr
  --timeout D       how long to wait for a snapshot (default 30m)
  --provenance=false  write no provenance record (by default OUTPUT.provenance.json: the
                    source captured, the working copy's block map, OUTPUT's format, size
                    and SHA-256)

  openstack: credentials from clouds.yaml (--os-cloud NAME, default $OS_CLOUD) or OS_*
  --server ID       snapshot the server (Nova createImage; the server is not changed) and
                    download the snapshot, which is deleted afterwards
  --image ID        download an existing Glance image (left as it is)
  --keep-snapshot   keep the snapshot --server (or --instance) made (one that never became
                    active is deleted all the same)
  --os-cloud NAME, --os-region R

  aws: credentials from the AWS_* environment or shared files (--profile P)
  --snapshot ID     read the EBS snapshot through the EBS direct API
  --instance ID     capture the instance with CreateImage (rebooting it unless --no-reboot)
                    into an intermediate AMI, read its root snapshot, then delete the AMI
                    and its snapshots (kept with --keep-snapshot)
  --image AMI       read the AMI's root snapshot
  --region R, --endpoint URL, --ebs-endpoint URL, --insecure, --concurrency N
`

var captureScope = map[string][]string{
	"server": {"openstack"}, "no-reboot": {"aws"}, "os-cloud": {"openstack"}, "os-region": {"openstack"},
	"snapshot": {"aws"}, "instance": {"aws"}, "region": {"aws"}, "profile": {"aws"}, "endpoint": {"aws"},
	"ebs-endpoint": {"aws"}, "insecure": {"aws"}, "concurrency": {"aws"},
	"s3-endpoint": {}, "s3-sigv2": {},
}

type captureConfig struct {
	from, output, format, opts string
	server, image              string
	snapshot, instance         string
	keepSnapshot, noReboot     bool
	asJSON, progress           bool
	record                     bool
	timeout                    time.Duration
	concurrency                int
	os                         osFlags
	aws                        awsFlags
	write                      convertConfig
}

func parseCapture(args []string) (*captureConfig, bool, error) {
	c := &captureConfig{}
	fs := flag.NewFlagSet("capture", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.from, "from", "", "")
	fs.StringVar(&c.format, "format", "raw", "")
	fs.StringVar(&c.format, "O", "raw", "")
	fs.StringVar(&c.opts, "o", "", "")
	fs.StringVar(&c.server, "server", "", "")
	fs.StringVar(&c.image, "image", "", "")
	fs.StringVar(&c.snapshot, "snapshot", "", "")
	fs.StringVar(&c.instance, "instance", "", "")
	fs.BoolVar(&c.keepSnapshot, "keep-snapshot", false, "")
	fs.BoolVar(&c.noReboot, "no-reboot", false, "")
	fs.BoolVar(&c.asJSON, "json", false, "")
	fs.BoolVar(&c.progress, "progress", false, "")
	fs.BoolVar(&c.record, "provenance", true, "")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Minute, "")
	fs.IntVar(&c.concurrency, "concurrency", 16, "")
	c.os.register(fs)
	c.aws.register(fs)
	pos, help, err := parseCloudArgs(fs, args, "capture", "--from", &c.from, []string{"openstack", "aws"}, captureScope)
	if err != nil || help {
		return nil, help, err
	}
	var given []string
	for _, s := range []struct{ name, v string }{{"--server", c.server}, {"--image", c.image}, {"--snapshot", c.snapshot}, {"--instance", c.instance}} {
		if s.v != "" {
			given = append(given, s.name)
		}
	}
	want := map[string]string{"openstack": "--server ID or --image ID", "aws": "--instance ID, --snapshot ID or --image AMI"}[c.from]
	switch {
	case len(given) == 0:
		return nil, false, usageError{fmt.Errorf("capture --from %s needs %s", c.from, want)}
	case len(given) > 1:
		return nil, false, usageError{fmt.Errorf("%s exclude each other: give one of %s", strings.Join(given, " and "), want)}
	}
	if len(pos) != 1 {
		return nil, false, usageError{errors.New("capture needs one OUTPUT")}
	}
	c.output = pos[0]
	if c.output == "-" {
		return nil, false, usageError{errors.New("capture writes a file: OUTPUT - (standard output) is not supported")}
	}
	fm, err := diskimage.Lookup(strings.ToLower(c.format))
	if err != nil {
		return nil, false, usageError{fmt.Errorf("--format: %w", err)}
	}
	c.format = fm.Name
	if c.write, err = parseOpts(c.opts, c.format); err != nil {
		return nil, false, err
	}
	if len(c.write.ovaOnly) > 0 && c.format != "ova" {
		return nil, false, usageError{fmt.Errorf("option %s is for ova output, not %s", c.write.ovaOnly[0], c.format)}
	}
	if err := checkLimits(c.timeout, c.concurrency); err != nil {
		return nil, false, err
	}
	if err := mustNotExist(c.output); err != nil {
		return nil, false, err
	}
	if fi, err := os.Stat(filepath.Dir(c.output)); err != nil || !fi.IsDir() {
		return nil, false, fmt.Errorf("OUTPUT %s: its directory does not exist", c.output)
	}
	return c, false, nil
}

func captureCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, help, err := parseCapture(args)
	if err != nil {
		return err
	}
	if help {
		fmt.Fprintf(stdout, captureUsage, strings.Join(diskimage.WriterFormats(), ", "))
		return nil
	}
	rep := newReporter(stderr, c.progress)
	res := map[string]any{"output": c.output, "format": c.format, "cloud": c.from}
	// The working copy: OUTPUT itself (through a temporary name) when raw, else a hidden
	// sparse file beside it, converted into OUTPUT and removed.
	dir, base := filepath.Dir(c.output), filepath.Base(c.output)
	working := filepath.Join(dir, "."+base+".capture.raw")
	if c.format == "raw" {
		working = filepath.Join(dir, "."+base+".part")
	}
	if err := mustNotExist(working); err != nil {
		return err
	}
	defer os.Remove(working)
	rec := provenance.New(producerCapture)
	switch c.from {
	case "openstack":
		err = captureOpenStack(ctx, c, working, rep, res, rec)
	case "aws":
		err = captureAWS(ctx, c, working, rep, res, rec)
	}
	if err != nil {
		return err
	}
	if c.format == "raw" {
		if err := mustNotExist(c.output); err != nil {
			return err
		}
		if err := os.Rename(working, c.output); err != nil {
			return err
		}
	} else if err := writeOutput(ctx, c, working, rep); err != nil {
		return err
	}
	rep.say(fmt.Sprintf("Captured into %s (%s)", c.output, c.format))
	if c.record {
		path, err := writeCaptureRecord(rec, c.output, c.format)
		if err != nil {
			return err
		}
		res["provenance"] = path
		rep.message("Provenance record written: " + path)
	}
	return printResult(stdout, res, "output", c.asJSON)
}

// writeOutput converts the raw working copy into OUTPUT through a temporary name.
func writeOutput(ctx context.Context, c *captureConfig, working string, rep *reporter) error {
	src, err := diskimage.OpenFormat(working, "raw")
	if err != nil {
		return err
	}
	defer src.Close()
	if err := mustNotExist(c.output); err != nil {
		return err
	}
	rep.say(fmt.Sprintf("Converting the working copy to %s...", c.format))
	opts := c.write.wo
	opts.Progress = rep.progress
	opts.ExtentName = filepath.Base(c.output)
	opts.FormatOptions = map[string]any{"ova": c.write.ova}
	if err := diskimage.WriteFile(ctx, src, c.output, c.format, 0o600, opts); err != nil {
		return fmt.Errorf("convert to %s: %w", c.format, err)
	}
	return nil
}

func captureOpenStack(ctx context.Context, c *captureConfig, working string, rep *reporter, res map[string]any, rec *provenance.Record) (err error) {
	rec.Source = provenance.Source{Cloud: "openstack", Region: c.os.region}
	if c.os.cloud != "" {
		rec.Source.Endpoint = "clouds.yaml:" + c.os.cloud
	}
	rep.say("Connecting to OpenStack...")
	cl, err := oscloud.Connect(ctx, c.os.auth())
	if err != nil {
		return err
	}
	var img *images.Image
	if c.image != "" {
		if img, err = oscloud.GetImage(ctx, cl.Image, c.image); err != nil {
			return err
		}
		if img.Status != images.ImageStatusActive {
			return fmt.Errorf("image %s is %s, not active", img.ID, img.Status)
		}
		res["source"] = "image " + img.ID
		rec.Source.Image, rec.Source.ImageName = img.ID, img.Name
	} else {
		srv, err := oscloud.FindServer(ctx, cl.Compute, c.server, "")
		if err != nil {
			return fmt.Errorf("--server: %w", err)
		}
		res["source"] = "server " + srv.ID
		rec.Source.Instance = srv.ID
		rec.Source.Image, _ = srv.Image["id"].(string)
		name := fmt.Sprintf("chromogenic-capture-%s-%d", srv.ID, time.Now().Unix())
		rep.say(fmt.Sprintf("Creating snapshot %s of server %s...", name, srv.ID))
		id, err := oscloud.Snapshot(ctx, cl.Compute, srv.ID, name, nil)
		if err != nil {
			return err
		}
		res["snapshot_id"] = id
		rec.Source.Snapshots = []string{id}
		active := false
		// The snapshot is this command's: deleted once its data is home (or on failure),
		// unless kept; one that never became active is deleted all the same.
		defer func() {
			if c.keepSnapshot && active {
				res["snapshot_kept"] = true
				rep.say(fmt.Sprintf("Keeping snapshot %s", id))
				return
			}
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
			defer cancel()
			rep.say(fmt.Sprintf("Deleting snapshot %s...", id))
			if derr := oscloud.DeleteImage(dctx, cl.Image, id); derr != nil && err == nil {
				err = derr
			}
		}()
		wctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		start := time.Now()
		img, err = oscloud.WaitImage(wctx, cl.Image, id, func(st string) {
			rep.message(fmt.Sprintf("Snapshot %s: %s (%s)", id, st, time.Since(start).Round(time.Second)))
		})
		if err != nil {
			return fmt.Errorf("snapshot of server %s: %w", srv.ID, oscloud.TimeoutErr(ctx, err, "--timeout", c.timeout))
		}
		active = true
		if _, bdm := img.Properties["block_device_mapping"]; img.SizeBytes == 0 && bdm {
			return fmt.Errorf("server %s boots from a volume: Nova made a 0-byte snapshot that points at Cinder volume snapshots; capturing boot-from-volume servers is not supported yet", srv.ID)
		}
	}
	rep.say(fmt.Sprintf("Downloading image %s (%s, %d MiB)...", img.ID, img.DiskFormat, img.SizeBytes>>20))
	st, err := oscloud.BringHome(ctx, cl.Image, img, working, oscloud.BringHomeOptions{
		Mode:  0o600,
		Map:   true,
		Stage: func(string) (transfer.Progress, func()) { return rep.progress, nil },
		Say:   rep.message,
	})
	if err != nil {
		return err
	}
	rep.message(st.String())
	res["image_id"] = img.ID
	rec.WorkingCopy = st.Map
	return nil
}

func captureAWS(ctx context.Context, c *captureConfig, working string, rep *reporter, res map[string]any, rec *provenance.Record) (err error) {
	rep.say("Connecting to EC2...")
	cl, err := ec2cloud.Connect(ctx, c.aws.access(false, c.concurrency+8))
	if err != nil {
		return err
	}
	snap := c.snapshot
	res["source"] = "snapshot " + snap
	rec.Source = provenance.Source{Cloud: "aws", Region: cl.Region, Endpoint: c.aws.endpoint, Instance: c.instance, Image: c.image}
	if c.instance != "" {
		res["source"] = "instance " + c.instance
		im, err := ec2cloud.CreateIntermediate(ctx, cl, c.instance, ec2cloud.IntermediateOptions{
			NoReboot: c.noReboot, Timeout: c.timeout, Say: rep.say,
			// The root disk is what is read: the other volumes are left out of the AMI
			// unless it is kept (then it stays an image of the whole instance).
			RootOnly: !c.keepSnapshot})
		if err != nil {
			return err
		}
		res["intermediate_image"] = im.ID
		// The intermediate AMI is this command's: deleted once its data is home (or on
		// failure), unless kept.
		defer func() {
			if c.keepSnapshot {
				res["snapshot_kept"] = true
				rep.say(fmt.Sprintf("Keeping the intermediate AMI %s and its snapshots", im.ID))
				return
			}
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
			defer cancel()
			rep.say(fmt.Sprintf("Deleting the intermediate AMI %s and its snapshots...", im.ID))
			if derr := im.Delete(dctx); derr != nil && err == nil {
				err = derr
			}
		}()
		if snap, _, err = ec2cloud.RootSnapshot(im.Image); err != nil {
			return err
		}
	} else if c.image != "" {
		img, err := ec2cloud.GetImage(ctx, cl.EC2, c.image)
		if err != nil {
			return err
		}
		if snap, _, err = ec2cloud.RootSnapshot(img); err != nil {
			return err
		}
		res["source"] = "image " + c.image
	}
	res["snapshot_id"] = snap
	rec.Source.Snapshots = []string{snap}
	rep.say(fmt.Sprintf("Downloading snapshot %s through the EBS direct API...", snap))
	f, err := hostfile.Create(working, 0o600)
	if err != nil {
		return err
	}
	start := time.Now()
	m, st, err := ec2cloud.DownloadSnapshotMap(ctx, cl.EBS, snap, f, ec2cloud.TransferOptions{
		Workers: c.concurrency, Progress: rep.progress,
		Logf: func(format string, args ...any) { rep.message(fmt.Sprintf(format, args...)) },
	})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	secs := max(time.Since(start).Seconds(), 0.001)
	rep.message(fmt.Sprintf("%d blocks (%d MiB of a %d GiB volume) in %s, %.0f MiB/s, %d retries",
		st.Blocks, st.Bytes>>20, st.VolumeSize/ec2cloud.GiB, time.Since(start).Round(time.Millisecond), float64(st.Bytes)/secs/(1<<20), st.Retries))
	rec.WorkingCopy = m
	return nil
}
