package openstack

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
)

// StepVolumeImages (disks = "all") uploads each temporary volume to a Glance image (Cinder's
// os-volume_upload_image, raw) and waits until each image is active.
//
// Needs: volume_disks (with CopyID). Fills each one's ImageID.
type StepVolumeImages struct {
	Config  *Config
	created []string
}

func (s *StepVolumeImages) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	disks, _ := state.Get(stateVolumeDisks).([]*volumeDisk)
	if len(disks) == 0 {
		return multistep.ActionContinue
	}
	ui := state.Get("ui").(packersdk.Ui)
	clients := state.Get("clients").(*cloud.Clients)
	bs, err := cloud.BlockStorage(clients)
	if err != nil {
		return bcommon.Halt(state, err)
	}
	for _, d := range disks {
		ui.Say(fmt.Sprintf("Uploading the temporary volume %s (a copy of volume %s) to a temporary image...", d.CopyID, d.VolumeID))
		id, err := cloud.UploadVolume(ctx, bs, d.CopyID, "chromogenic-copy-of-"+d.VolumeID)
		if err != nil {
			return bcommon.Halt(state, err)
		}
		s.created = append(s.created, id)
		d.ImageID = id
	}
	wctx, cancel := context.WithTimeout(ctx, s.Config.StateTimeout)
	defer cancel()
	for _, d := range disks {
		start := time.Now()
		if _, err := cloud.WaitImage(wctx, clients.Image, d.ImageID, func(st string) {
			ui.Message(fmt.Sprintf("Image %s: %s (%s)", d.ImageID, st, time.Since(start).Round(time.Second)))
		}); err != nil {
			return bcommon.Halt(state, fmt.Errorf("upload of volume %s: %w", d.CopyID, cloud.TimeoutErr(ctx, err, "state_timeout", s.Config.StateTimeout)))
		}
	}
	return multistep.ActionContinue
}

// Cleanup deletes the images this step made (they are never the result).
func (s *StepVolumeImages) Cleanup(state multistep.StateBag) {
	if len(s.created) == 0 {
		return
	}
	ui := state.Get("ui").(packersdk.Ui)
	clients := state.Get("clients").(*cloud.Clients)
	for _, id := range s.created {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		ui.Say(fmt.Sprintf("Deleting temporary image %s...", id))
		if err := cloud.DeleteImage(ctx, clients.Image, id); err != nil {
			ui.Error(err.Error())
		}
		cancel()
	}
}
