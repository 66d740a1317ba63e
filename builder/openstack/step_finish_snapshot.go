package openstack

import (
	"context"
	"fmt"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/members"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/packerbuilderdata"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
)

// StepFinishSnapshot gives the snapshot (snapshot mode's result) the requested visibility,
// tags, properties and members.
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
	if err := cloud.UpdateImage(ctx, clients.Image, img.ID, c.ImageVisibility, c.ImageTags, c.Metadata); err != nil {
		return bcommon.Halt(state, err)
	}
	for _, m := range c.ImageMembers {
		if _, err := members.Create(ctx, clients.Image, img.ID, m).Extract(); err != nil {
			return bcommon.Halt(state, fmt.Errorf("image_members: share %s with %s: %w", img.ID, m, err))
		}
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
