package openstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/transfer"
)

// BringHomeOptions say how BringHome writes the local raw copy and reports.
type BringHomeOptions struct {
	// Mode is the exact mode of the file written (0600 when zero: it holds the guest).
	Mode os.FileMode
	// Progress sees the bytes moved (of the file for a stream, of the disk for a ranged
	// read); Say sees what is done, one sentence at a time. Either may be nil.
	Progress transfer.Progress
	Say      func(string)
}

// BringHome writes Glance image img as a sparse raw disk at target (created with
// o.Mode; removed again on failure), verifying Glance's hash of the whole file:
//
//   - raw (and ami): one streamed GET written sparsely, hashed on the way;
//   - qcow2: read in place through HTTP Range requests (RangeReader, transfer.OpenRanged):
//     only the guest's data is fetched and written, no spool; Verify completes the hash
//     before BringHome returns. A Glance that ignores Range falls back to the spool below;
//   - any other format the image engine reads (vmdk, vhd): spooled to a compact local file
//     beside target, then converted.
//
// This is the engine half of builder/openstack's StepDownload (cmd/chromogenic capture
// calls it); the step's Packer half is its progress bar and state.
func BringHome(ctx context.Context, c *gophercloud.ServiceClient, img *images.Image, target string, o BringHomeOptions) error {
	if o.Mode == 0 {
		o.Mode = 0o600
	}
	say := func(f string, a ...any) {
		if o.Say != nil {
			o.Say(fmt.Sprintf(f, a...))
		}
	}
	stream := func(write func(io.Reader) error) error {
		body, err := Download(ctx, c, img)
		if err != nil {
			return err
		}
		defer body.Close()
		return write(transfer.Counting(body, img.SizeBytes, o.Progress))
	}
	spoolAndConvert := func(r io.Reader) error {
		spool := target + ".download." + img.DiskFormat
		defer os.Remove(spool)
		if err := transfer.SpoolSparse(ctx, spool, o.Mode, r); err != nil {
			return err
		}
		src, err := diskimage.OpenFormat(spool, img.DiskFormat)
		if err != nil {
			return fmt.Errorf("downloaded image %s: %w", img.ID, err)
		}
		defer src.Close()
		return transfer.WriteRaw(ctx, target, o.Mode, src, o.Progress)
	}
	var err error
	switch img.DiskFormat {
	case "raw", "ami": // an AMI-shaped Glance image is a raw filesystem
		err = stream(func(r io.Reader) error { return transfer.SpoolSparse(ctx, target, o.Mode, r) })
	case "qcow2":
		err = bringHomeRanged(ctx, c, img, target, o, say)
		if errors.Is(err, ErrNoRange) {
			say("%v: spooling the image to a local file instead", err)
			err = stream(spoolAndConvert)
		}
	default:
		if fm, lerr := diskimage.Lookup(img.DiskFormat); lerr == nil && fm.Open != nil && !fm.Container {
			err = stream(spoolAndConvert)
		} else {
			err = fmt.Errorf("image %s has disk_format %q, which the image engine does not read", img.ID, img.DiskFormat)
		}
	}
	if err != nil {
		os.Remove(target)
		return err
	}
	return nil
}

// bringHomeRanged converts a qcow2 image read in place through Range requests into target.
func bringHomeRanged(ctx context.Context, c *gophercloud.ServiceClient, img *images.Image, target string, o BringHomeOptions, say func(string, ...any)) error {
	rr, err := OpenRange(ctx, c, img)
	if err != nil {
		return err
	}
	src, err := transfer.OpenRanged(rr, img.DiskFormat)
	if err != nil {
		rr.Close()
		return fmt.Errorf("image %s: %w", img.ID, err)
	}
	defer src.Close()
	if err := transfer.WriteRaw(ctx, target, o.Mode, src, o.Progress); err != nil {
		return err
	}
	report, err := src.Verify()
	if err != nil {
		return err
	}
	say("%s", report)
	return nil
}
