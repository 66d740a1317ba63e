package openstack

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"

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

	props := src
	if si, ok := state.GetOk("server_image"); ok {
		props = si.(*images.Image)
	}
	carried := externalKernel(src)
	if carried == nil && props != src {
		carried = externalKernel(props)
	}
	mode := c.ExternalKernel
	if mode == "" && carried != nil {
		mode = ExternalKernelCarry
	}
	upload := working
	if p, ok := state.GetOk(StateUploadImage); ok {
		upload = p.(string) // the bootable disk
	}
	format, container := uploadFormat(c.ImageDiskFormat, src, mode == ExternalKernelCarry && carried != nil)
	properties := cloud.InheritProperties(props, nil)
	if mode == ExternalKernelCarry {
		for k, v := range carried {
			properties[k] = v
		}
	}
	for k, v := range c.Metadata {
		properties[k] = v
	}
	img, err := diskimage.OpenFormat(upload, "raw")
	if err != nil {
		return bcommon.Halt(state, err)
	}
	defer img.Close()
	minDisk, err := c.ImageConfig.MinDisk(src.MinDiskGigabytes, img.Size())
	if err != nil {
		return bcommon.Halt(state, err)
	}
	shareWith, err := cloud.ResolveMembers(ctx, clients, "image_members", c.ImageMembers, ui.Message)
	if err != nil {
		return bcommon.Halt(state, err)
	}
	if mode == ExternalKernelCarry && carried != nil {
		ui.Say(fmt.Sprintf("The new image boots with the source's external kernel: kernel_id %s, ramdisk_id %s", carried["kernel_id"], carried["ramdisk_id"]))
		for _, w := range kernelVisibilityWarnings(ctx, clients, carried, c.ImageVisibility, shareWith) {
			ui.Error("Warning: " + w)
		}
	}
	n := cloud.NewImage{
		Name: c.ImageName, DiskFormat: format, ContainerFormat: container, Visibility: c.ImageVisibility, Tags: c.ImageTags,
		MinDisk: minDisk, MinRAM: c.ImageConfig.MinRAM(src.MinRAMMegabytes),
		Properties: properties, Members: shareWith,
	}
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

// uploadFormat is the new image's disk and container formats: image_disk_format if set,
// else the source's disk format when the image engine writes it, else qcow2; with carry
// (the image keeps its external kernel), an AMI source's filesystem goes up as it is, as
// raw/bare, when image_disk_format is not set. Not ami/ami: Nova's image format inspection
// (the CVE-2024-32498 fixes, in stable branches back to 2023.1 and in Debian 12's Nova)
// refuses to boot a root disk whose disk_format is ami ("Image content does not match
// disk_format": qemu-img says raw), while a raw image with kernel_id and ramdisk_id boots
// with them exactly as the AMI did.
func uploadFormat(set string, src *images.Image, carry bool) (disk, container string) {
	switch {
	case set != "":
		return set, "bare"
	case carry && src.DiskFormat == "ami":
		return "raw", "bare"
	case slices.Contains(diskimage.DiskWriters(), src.DiskFormat):
		return src.DiskFormat, "bare"
	}
	return "qcow2", "bare"
}
