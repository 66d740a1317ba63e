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
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/transfer"
)

// BringHomeOptions say how BringHome writes the local raw copy and reports.
type BringHomeOptions struct {
	// Mode is the exact mode of the files written (0600 when zero: they hold the guest).
	Mode os.FileMode
	// Stage, when set, is called as each stage of the transfer starts ("download <id>",
	// then "working copy" when a spooled image is converted) and returns the stage's
	// progress callback and a function called when the stage ends. Either may be nil.
	Stage func(name string) (transfer.Progress, func())
	// Say sees what is done, one sentence at a time (the Range fallback, a base not used).
	// May be nil.
	Say func(string)
	// Map: the working copy's block map is made on the way (Stats.Map), as it is written.
	Map bool
	// Base, when set, is an earlier working copy's block map (its Path the file): the
	// working copy starts as a copy of it and only the blocks of the downloaded image that
	// differ from it are written (transfer.HomeOptions.Base; Stats.Update). The download
	// itself stays whole: Glance has no changed-block API.
	Base *provenance.BlockMap
}

// BringHome writes Glance image img as a sparse raw disk at target (created with o.Mode;
// removed again on failure by transfer.BringHome), verifying Glance's hash of the whole file, and returns the
// statistics of the final write (its String is a throughput line):
//
//   - raw (and ami): one streamed GET written sparsely, hashed on the way;
//   - qcow2 (what Nova snapshots are): read in place through HTTP Range requests
//     (RangeReader) by the image engine's qcow2 reader, one reader in order
//     (transfer.FromRanged), which writes only the guest's data: no spool file, each byte of
//     the file fetched once, and Verify completes the hash over the bytes no cluster read
//     needed before BringHome returns. A Glance that ignores Range falls back to the spool;
//   - any other format the image engine reads (vmdk, vhd): spooled to a compact local file
//     beside target (their readers take a local file), then converted.
//
// builder/openstack's StepDownload and `chromogenic capture --from openstack` both call it.
func BringHome(ctx context.Context, c *gophercloud.ServiceClient, img *images.Image, target string, o BringHomeOptions) (transfer.Stats, error) {
	if o.Mode == 0 {
		o.Mode = 0o600
	}
	b := homeRun{ctx: ctx, c: c, img: img, target: target, o: o}
	var st transfer.Stats
	var err error
	switch img.DiskFormat {
	case "raw", "ami": // an AMI-shaped Glance image is a raw filesystem (kernel_id, ramdisk_id apart)
		err = b.stream(func(r io.Reader) error {
			st, err = b.write(target, "download "+img.ID, transfer.FromStream(r, img.SizeBytes))
			return err
		})
	case "qcow2":
		st, err = b.ranged()
		if errors.Is(err, ErrNoRange) {
			if o.Say != nil {
				o.Say(fmt.Sprintf("%v: spooling the image to a local file instead", err))
			}
			err = b.stream(func(r io.Reader) (err error) { st, err = b.spoolAndConvert(r); return err })
		}
	default:
		if fm, lerr := diskimage.Lookup(img.DiskFormat); lerr == nil && fm.Open != nil && !fm.Container {
			err = b.stream(func(r io.Reader) (err error) { st, err = b.spoolAndConvert(r); return err })
		} else {
			err = fmt.Errorf("image %s has disk_format %q, which the image engine does not read", img.ID, img.DiskFormat)
		}
	}
	if err != nil {
		// transfer.BringHome has removed what it wrote; a file that was at target before is
		// not this call's to remove.
		return transfer.Stats{}, err
	}
	return st, nil
}

// homeRun is one BringHome.
type homeRun struct {
	ctx    context.Context
	c      *gophercloud.ServiceClient
	img    *images.Image
	target string
	o      BringHomeOptions
}

// stream runs write on the image's data, one GET hashed at EOF.
func (b *homeRun) stream(write func(io.Reader) error) error {
	body, err := Download(b.ctx, b.c, b.img)
	if err != nil {
		return err
	}
	defer body.Close()
	return write(body)
}

// ranged converts a qcow2 image read in place through Range requests into the target.
func (b *homeRun) ranged() (transfer.Stats, error) {
	rr, err := OpenRange(b.ctx, b.c, b.img)
	if err != nil {
		return transfer.Stats{}, err
	}
	src, err := transfer.OpenRanged(rr, b.img.DiskFormat)
	if err != nil {
		rr.Close()
		return transfer.Stats{}, fmt.Errorf("image %s: %w", b.img.ID, err)
	}
	defer src.Close()
	return b.write(b.target, "download "+b.img.ID, transfer.FromRanged(src))
}

// spoolAndConvert spools the image's data to a local file next to the target, then converts
// it.
func (b *homeRun) spoolAndConvert(r io.Reader) (transfer.Stats, error) {
	spool := b.target + ".download." + b.img.DiskFormat
	defer os.Remove(spool)
	if _, err := b.write(spool, "download "+b.img.ID, transfer.FromStream(r, b.img.SizeBytes)); err != nil {
		return transfer.Stats{}, err
	}
	src, err := diskimage.OpenFormat(spool, b.img.DiskFormat)
	if err != nil {
		return transfer.Stats{}, fmt.Errorf("downloaded image %s: %w", b.img.ID, err)
	}
	defer src.Close()
	return b.write(b.target, "working copy", transfer.FromImage(src))
}

// write is one stage: transfer.BringHome with the stage's progress; the working copy's stage
// (dst is the target) with the map and base asked for.
func (b *homeRun) write(dst, stage string, src transfer.From) (transfer.Stats, error) {
	var progress transfer.Progress
	end := func() {}
	if b.o.Stage != nil {
		p, e := b.o.Stage(stage)
		progress = p
		if e != nil {
			end = e
		}
	}
	o := transfer.HomeOptions{Progress: progress}
	if dst == b.target {
		o.Map, o.Base, o.Say = b.o.Map, b.o.Base, b.o.Say
	}
	st, err := transfer.BringHomeWith(b.ctx, dst, b.o.Mode, src, o)
	end()
	return st, err
}
