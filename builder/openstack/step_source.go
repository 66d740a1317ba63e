package openstack

import (
	"context"
	"fmt"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/packerbuilderdata"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
)

// StepSource finds the server to capture or the image to start from.
//
// Produces: server *servers.Server (server sources), source_image *images.Image (image sources),
// generated data SourceImageID (the source image, or the image the server booted from)
type StepSource struct {
	Config *Config
}

func (s *StepSource) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	clients := state.Get("clients").(*cloud.Clients)
	c := s.Config
	gd := &packerbuilderdata.GeneratedData{State: state}
	if c.InstanceID != "" || c.InstanceName != "" {
		srv, err := cloud.FindServer(ctx, clients.Compute, c.InstanceID, c.InstanceName)
		if err != nil {
			field := "instance_id"
			if c.InstanceID == "" {
				field = "instance_name"
			}
			return bcommon.Halt(state, fmt.Errorf("%s: %w", field, err))
		}
		ui.Say(fmt.Sprintf("Capturing server %s (%s), status %s", srv.Name, srv.ID, srv.Status))
		state.Put("server", srv)
		if id, ok := srv.Image["id"].(string); ok {
			gd.Put("SourceImageID", id) // the image the server booted from
			if img, err := cloud.GetImage(ctx, clients.Image, id); err == nil {
				state.Put("server_image", img) // for the properties to carry over
			}
		}
		return multistep.ActionContinue
	}
	var img *images.Image
	var err error
	switch {
	case c.SourceImage != "":
		img, err = cloud.GetImage(ctx, clients.Image, c.SourceImage)
		err = wrap("source_image", err)
	case c.SourceImageName != "":
		img, err = cloud.FindImage(ctx, clients.Image, cloud.ImageFilter{Name: c.SourceImageName, MostRecent: true})
		err = wrap("source_image_name", err)
	default:
		img, err = cloud.FindImage(ctx, clients.Image, c.SourceImageFilter.cloud())
		err = wrap("source_image_filter", err)
	}
	if err != nil {
		return bcommon.Halt(state, err)
	}
	if img.Status != images.ImageStatusActive {
		return bcommon.Halt(state, fmt.Errorf("source image %s is %s, not active", img.ID, img.Status))
	}
	ui.Say(fmt.Sprintf("Starting from image %s (%s, %s, %d MiB)", img.Name, img.ID, img.DiskFormat, img.SizeBytes>>20))
	state.Put("source_image", img)
	gd.Put("SourceImageID", img.ID)
	return multistep.ActionContinue
}

func (s *StepSource) Cleanup(multistep.StateBag) {}

func wrap(field string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", field, err)
}

var _ = servers.Server{}
