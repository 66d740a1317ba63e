package openstack

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/packerbuilderdata"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/common/progress"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/transfer"
)

// StepUpload writes the working copy in the target disk format straight into a new Glance
// image (a pipe: no temporary file for the formats that stream), with the configured import
// method, and waits until it is active (cloud.UploadImage, as chromogenic-openstack-import
// does). A failed upload deletes the half-made image.
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
	if _, err := diskimage.LookupWriter(format); err != nil {
		return bcommon.Halt(state, fmt.Errorf("image_disk_format: %w", err))
	}
	bar := progress.New(ui, "upload "+c.ImageName, img.Size())
	defer bar.Close()
	ui.Say(fmt.Sprintf("Uploading the working copy as image %q (%s, %s)...", c.ImageName, format, c.ImageVisibility))
	out, err := cloud.UploadImage(ctx, clients.Image, cloud.UploadInput{
		Image: n, Method: c.ImportMethod,
		Source: &transfer.Source{Image: img},
		// A spool (formats that cannot stream) goes beside the working copy.
		Encode:  transfer.Options{SpoolDir: filepath.Dir(working)},
		Timeout: c.StateTimeout, TimeoutName: "state_timeout",
		Progress: bar.Update, Status: ui.Message,
	})
	if err != nil {
		return bcommon.Halt(state, err)
	}
	ui.Say(fmt.Sprintf("Image %s (%s) is active", out.Name, out.ID))
	state.Put("image", out)
	(&packerbuilderdata.GeneratedData{State: state}).Put("ImageID", out.ID)
	return multistep.ActionContinue
}

func (s *StepUpload) Cleanup(multistep.StateBag) {}
