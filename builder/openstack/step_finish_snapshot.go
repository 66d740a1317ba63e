package openstack

import (
	"context"
	"fmt"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/packerbuilderdata"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
)

// StepFinishSnapshot gives the snapshot (snapshot mode's result, active: StepSnapshot waited
// for it) the requested tags and properties, then the requested visibility and members. Nova
// makes snapshots private, so until this step the snapshot is seen by its project only; if
// anything here fails, StepSnapshot's Cleanup deletes it.
//
// Produces: image *images.Image, generated data ImageID
type StepFinishSnapshot struct {
	Config *Config
}

func (s *StepFinishSnapshot) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	clients := state.Get("clients").(*cloud.Clients)
	c := s.Config
	img := state.Get("source_image").(*images.Image)
	shareWith, err := cloud.ResolveMembers(ctx, clients, "image_members", c.ImageMembers, ui.Message)
	if err != nil {
		return bcommon.Halt(state, err)
	}
	if err := cloud.UpdateImage(ctx, clients.Image, img.ID, c.ImageTags, c.Metadata); err != nil {
		return bcommon.Halt(state, err)
	}
	// Nova gave the snapshot the server's image's min_disk and min_ram; set ones replace them.
	if c.ImageMinDisk > 0 || c.ImageMinRAM > 0 {
		minDisk, err := c.ImageConfig.MinDisk(img.MinDiskGigabytes, img.VirtualSize)
		if err != nil {
			return bcommon.Halt(state, err)
		}
		if err := cloud.SetMinimums(ctx, clients.Image, img.ID, minDisk, c.ImageConfig.MinRAM(img.MinRAMMegabytes)); err != nil {
			return bcommon.Halt(state, err)
		}
	}
	if _, err := cloud.Publish(ctx, clients.Image, img, c.ImageVisibility, shareWith, nil); err != nil {
		return bcommon.Halt(state, err)
	}
	final, err := cloud.GetImage(ctx, clients.Image, img.ID)
	if err != nil {
		return bcommon.Halt(state, err)
	}
	ui.Say(fmt.Sprintf("Snapshot %s (%s) is active", final.Name, final.ID))
	state.Put("image", final)
	(&packerbuilderdata.GeneratedData{State: state}).Put("ImageID", final.ID)
	return multistep.ActionContinue
}

func (s *StepFinishSnapshot) Cleanup(multistep.StateBag) {}
