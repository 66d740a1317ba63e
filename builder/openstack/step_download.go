package openstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/common/progress"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/transfer"
)

// StepDownload brings the source image (the snapshot, or the source image) from Glance into
// the sparse raw working copy, verifying Glance's hash:
//
//   - raw: one streamed GET written straight into the working copy, skipping zero blocks,
//     hashed on the way;
//   - qcow2 (what Nova snapshots are): read in place through HTTP Range requests
//     (cloud.RangeReader) by the image engine's qcow2 reader, one reader in order
//     (transfer.FromRanged), which writes only the guest's data into the working copy: no
//     spool file, and each byte of the file fetched once. The reader hashes the file in order as its
//     blocks arrive and Verify completes the hash over the bytes no cluster read needed, so
//     the whole file is verified before the working copy is used; the working copy is
//     deleted if it is not. A Glance that ignores Range falls back to the spool below;
//   - vmdk, vhd: spooled to a compact local file (their readers take a local file), then
//     converted.
//
// The intermediate snapshot is deleted as soon as its data is home, unless kept.
//
// Produces: working_image string
type StepDownload struct {
	Target       string
	KeepSnapshot bool

	mode os.FileMode // the build's file mode (bcommon.FileMode)
}

func (s *StepDownload) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	clients := state.Get("clients").(*cloud.Clients)
	img := state.Get("source_image").(*images.Image)
	s.mode = bcommon.FileMode(state)

	ui.Say(fmt.Sprintf("Downloading image %s (%s, %d MiB) to the working copy %s...", img.ID, img.DiskFormat, img.SizeBytes>>20, s.Target))
	var err error
	switch img.DiskFormat {
	case "raw", "ami": // an AMI-shaped Glance image is a raw filesystem (kernel_id, ramdisk_id apart)
		err = s.stream(ctx, ui, clients, img, func(r io.Reader) error {
			return s.bringHome(ctx, ui, "download "+img.ID, transfer.FromStream(r, img.SizeBytes))
		})
	case "qcow2":
		err = s.ranged(ctx, ui, clients, img)
		if errors.Is(err, cloud.ErrNoRange) {
			ui.Message(fmt.Sprintf("%v: spooling the image to a local file instead", err))
			err = s.stream(ctx, ui, clients, img, func(r io.Reader) error { return s.spoolAndConvert(ctx, ui, img, r) })
		}
	default:
		// Any other disk image format the image engine reads (vmdk, vhd): spooled, then read.
		if fm, lerr := diskimage.Lookup(img.DiskFormat); lerr == nil && fm.Open != nil && !fm.Container {
			err = s.stream(ctx, ui, clients, img, func(r io.Reader) error { return s.spoolAndConvert(ctx, ui, img, r) })
		} else {
			err = fmt.Errorf("image %s has disk_format %q, which the image engine does not read", img.ID, img.DiskFormat)
		}
	}
	if err != nil {
		return bcommon.Halt(state, err)
	}
	state.Put(bcommon.StateWorkingImage, s.Target)

	if id, ok := state.GetOk("snapshot_id"); ok && !s.KeepSnapshot {
		ui.Say(fmt.Sprintf("Deleting the intermediate snapshot %s...", id))
		if err := cloud.DeleteImage(ctx, clients.Image, id.(string)); err != nil {
			ui.Error(err.Error())
		}
	}
	return multistep.ActionContinue
}

// stream runs write on the image's data, one GET hashed at EOF.
func (s *StepDownload) stream(ctx context.Context, ui packersdk.Ui, clients *cloud.Clients, img *images.Image, write func(io.Reader) error) error {
	body, err := cloud.Download(ctx, clients.Image, img)
	if err != nil {
		return err
	}
	defer body.Close()
	return write(body)
}

// ranged converts a qcow2 image read in place through Range requests into the working copy.
func (s *StepDownload) ranged(ctx context.Context, ui packersdk.Ui, clients *cloud.Clients, img *images.Image) error {
	rr, err := cloud.OpenRange(ctx, clients.Image, img)
	if err != nil {
		return err
	}
	src, err := transfer.OpenRanged(rr, img.DiskFormat)
	if err != nil {
		rr.Close()
		return fmt.Errorf("image %s: %w", img.ID, err)
	}
	defer src.Close()
	return s.bringHome(ctx, ui, "download "+img.ID, transfer.FromRanged(src))
}

// spoolAndConvert spools the image's data to a local file next to the working copy, then
// converts it.
func (s *StepDownload) spoolAndConvert(ctx context.Context, ui packersdk.Ui, img *images.Image, r io.Reader) error {
	spool := s.Target + ".download." + img.DiskFormat
	defer os.Remove(spool)
	bar := progress.NewLazy(ui, "download "+img.ID)
	_, err := transfer.BringHome(ctx, spool, s.mode, transfer.FromStream(r, img.SizeBytes), bar.Update)
	bar.Close()
	if err != nil {
		return err
	}
	src, err := diskimage.OpenFormat(spool, img.DiskFormat)
	if err != nil {
		return fmt.Errorf("downloaded image: %w", err)
	}
	defer src.Close()
	return s.bringHome(ctx, ui, "working copy", transfer.FromImage(src))
}

// bringHome makes the working copy from src, with a progress bar and a throughput line.
func (s *StepDownload) bringHome(ctx context.Context, ui packersdk.Ui, name string, src transfer.From) error {
	bar := progress.NewLazy(ui, name)
	st, err := transfer.BringHome(ctx, s.Target, s.mode, src, bar.Update)
	bar.Close()
	if err != nil {
		return err
	}
	ui.Message(st.String())
	return nil
}

func (s *StepDownload) Cleanup(multistep.StateBag) {}
