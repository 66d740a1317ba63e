package openstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/common/progress"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/hostfile"
)

// StepDownload brings the source image (the snapshot, or the source image) from Glance into
// the sparse raw working copy, verifying Glance's hash:
//
//   - raw: one streamed GET written straight into the working copy, skipping zero blocks,
//     hashed on the way;
//   - qcow2 (what Nova snapshots are): read in place through HTTP Range requests
//     (cloud.RangeReader) by the image engine's qcow2 reader, which writes only the guest's
//     data into the working copy: no spool file. The reader hashes the file in order as its
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
		err = s.stream(ctx, ui, clients, img, func(r io.Reader) error { return writeSparse(ctx, s.Target, s.mode, r) })
	case "qcow2":
		err = s.ranged(ctx, ui, clients, img)
		if errors.Is(err, cloud.ErrNoRange) {
			ui.Message(fmt.Sprintf("%v: spooling the image to a local file instead", err))
			err = s.stream(ctx, ui, clients, img, func(r io.Reader) error { return s.spoolAndConvert(ctx, ui, img.DiskFormat, r) })
		}
	default:
		// Any other disk image format the image engine reads (vmdk, vhd): spooled, then read.
		if fm, lerr := diskimage.Lookup(img.DiskFormat); lerr == nil && fm.Open != nil && !fm.Container {
			err = s.stream(ctx, ui, clients, img, func(r io.Reader) error { return s.spoolAndConvert(ctx, ui, img.DiskFormat, r) })
		} else {
			err = fmt.Errorf("image %s has disk_format %q, which the image engine does not read", img.ID, img.DiskFormat)
		}
	}
	if err != nil {
		os.Remove(s.Target)
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
	tracked := ui.TrackProgress("download "+img.ID, 0, img.SizeBytes, body)
	defer tracked.Close()
	return write(tracked)
}

// ranged converts a qcow2 image read in place through Range requests into the working copy.
func (s *StepDownload) ranged(ctx context.Context, ui packersdk.Ui, clients *cloud.Clients, img *images.Image) error {
	start := time.Now()
	rr, err := cloud.OpenRange(ctx, clients.Image, img)
	if err != nil {
		return err
	}
	defer rr.Close()
	src, err := diskimage.OpenReaderAt(rr, rr.Size(), img.DiskFormat, rr)
	if err != nil {
		return fmt.Errorf("image %s: %w", img.ID, err)
	}
	defer src.Close()
	dst, err := hostfile.Create(s.Target, s.mode)
	if err != nil {
		return err
	}
	bar := progress.New(ui, "download "+img.ID, src.Size())
	err = diskimage.WriteRaw(ctx, dst, src, bar.Update)
	bar.Close()
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	algo, err := rr.Verify()
	if err != nil {
		return err
	}
	st := rr.Stats()
	verified := "Glance recorded no hash: NOT verified"
	if algo != "" {
		verified = algo + " of the whole file verified"
	}
	ui.Message(fmt.Sprintf("Read %d MiB of the %d MiB image in %d range requests in %s (%d MiB more for the hash); %s",
		st.Fetched>>20, img.SizeBytes>>20, st.Requests, time.Since(start).Round(time.Second), st.HashFetched>>20, verified))
	return nil
}

func (s *StepDownload) spoolAndConvert(ctx context.Context, ui packersdk.Ui, format string, r io.Reader) error {
	spool := s.Target + ".download." + format
	defer os.Remove(spool)
	if err := writeSparse(ctx, spool, s.mode, r); err != nil {
		return err
	}
	src, err := diskimage.OpenFormat(spool, format)
	if err != nil {
		return fmt.Errorf("downloaded image: %w", err)
	}
	defer src.Close()
	dst, err := hostfile.Create(s.Target, s.mode)
	if err != nil {
		return err
	}
	bar := progress.New(ui, "working copy", src.Size())
	err = diskimage.WriteRaw(ctx, dst, src, bar.Update)
	bar.Close()
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *StepDownload) Cleanup(multistep.StateBag) {}

// writeSparse copies r into a new file at path, leaving holes where whole 4 KiB blocks are
// zero, and stops when ctx ends. The file gets exactly mode perm.
func writeSparse(ctx context.Context, path string, perm os.FileMode, r io.Reader) error {
	f, err := hostfile.Create(path, perm)
	if err != nil {
		return err
	}
	const block = 4096
	buf := make([]byte, 4<<20)
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			f.Close()
			return err
		}
		n, rerr := io.ReadFull(r, buf)
		for i := 0; i < n; i += block {
			end := min(i+block, n)
			if !diskimage.IsZero(buf[i:end]) {
				if _, err := f.WriteAt(buf[i:end], off+int64(i)); err != nil {
					f.Close()
					return err
				}
			}
		}
		off += int64(n)
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			f.Close()
			return rerr
		}
	}
	if err := f.Truncate(off); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
