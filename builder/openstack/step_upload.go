package openstack

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/packerbuilderdata"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// StepUpload writes the working copy in the target disk format straight into a new Glance
// image (a pipe: no temporary file for the formats that stream), and waits until it is
// active. A failed upload deletes the half-made image.
//
// Produces: image *images.Image
type StepUpload struct {
	Config *Config
}

func (s *StepUpload) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	clients := state.Get("clients").(*cloud.Clients)
	c := s.Config
	src := state.Get("source_image").(*images.Image)
	working := state.Get(bcommon.StateWorkingImage).(string)

	format := c.ImageDiskFormat
	if format == "" {
		format = src.DiskFormat
		if !diskFormats[format] {
			format = "qcow2"
		}
	}
	props := src
	if si, ok := state.GetOk("server_image"); ok {
		props = si.(*images.Image)
	}
	n := cloud.NewImage{
		Name: c.ImageName, DiskFormat: format, Visibility: c.ImageVisibility, Tags: c.ImageTags,
		MinDisk: src.MinDiskGigabytes, MinRAM: src.MinRAMMegabytes,
		Properties: cloud.InheritProperties(props, c.Metadata), Members: c.ImageMembers,
	}
	img, err := diskimage.OpenFormat(working, "raw")
	if err != nil {
		return bcommon.Halt(state, err)
	}
	defer img.Close()
	w, err := diskimage.LookupWriter(format)
	if err != nil {
		return bcommon.Halt(state, fmt.Errorf("image_disk_format: %w", err))
	}
	opts := diskimage.WriteOptions{}

	var data io.Reader
	if w.NeedsSeek(opts) {
		// This format's writer needs a seekable file: write it beside the working copy.
		tmp := working + "." + format
		defer os.Remove(tmp)
		ui.Say(fmt.Sprintf("Writing %s for upload...", tmp))
		if err := diskimage.Convert(ctx, img, tmp, format, opts); err != nil {
			return bcommon.Halt(state, err)
		}
		f, err := os.Open(tmp)
		if err != nil {
			return bcommon.Halt(state, err)
		}
		defer f.Close()
		data = f
	} else {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(w.Write(ctx, pw, img, opts)) }()
		defer pr.Close()
		// Up to 32 MiB of the converted stream kept ready: io.Pipe has no buffer, so the
		// converter and the upload would otherwise wait for each other's every write.
		ahead := cloud.NewReadAhead(pr, 1<<20, 32)
		defer ahead.Close()
		data = ahead
	}
	tracked := ui.TrackProgress("upload "+c.ImageName, 0, img.Size(), io.NopCloser(data))
	defer tracked.Close()

	ui.Say(fmt.Sprintf("Uploading the working copy as image %q (%s, %s)...", c.ImageName, format, c.ImageVisibility))
	wctx, cancel := context.WithTimeout(ctx, c.StateTimeout)
	defer cancel()
	start := time.Now()
	out, err := cloud.Upload(wctx, clients.Image, n, tracked, func(st string) {
		ui.Message(fmt.Sprintf("Image %s: %s (%s)", c.ImageName, st, time.Since(start).Round(time.Second)))
	})
	if err != nil {
		return bcommon.Halt(state, timeoutErr(ctx, err, c.StateTimeout))
	}
	ui.Say(fmt.Sprintf("Image %s (%s) is active", out.Name, out.ID))
	state.Put("image", out)
	(&packerbuilderdata.GeneratedData{State: state}).Put("ImageID", out.ID)
	return multistep.ActionContinue
}

func (s *StepUpload) Cleanup(multistep.StateBag) {}
