package openstack

import (
	"context"
	"fmt"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
)

// StepVolumeCopies (disks = "all") makes a volume from each volume snapshot (Cinder uploads
// only a volume that is not in use, and the user's volumes are) and waits until each is
// available.
//
// Needs: volume_disks. Fills each one's CopyID.
type StepVolumeCopies struct {
	Config  *Config
	created []string
}

func (s *StepVolumeCopies) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	disks, _ := state.Get(stateVolumeDisks).([]*volumeDisk)
	if len(disks) == 0 {
		return multistep.ActionContinue
	}
	ui := state.Get("ui").(packersdk.Ui)
	bs, err := cloud.BlockStorage(state.Get("clients").(*cloud.Clients))
	if err != nil {
		return bcommon.Halt(state, err)
	}
	for _, d := range disks {
		ui.Say(fmt.Sprintf("Creating a temporary volume from snapshot %s of volume %s...", d.SnapshotID, d.VolumeID))
		id, err := cloud.VolumeFromSnapshot(ctx, bs, d.SnapshotID, d.Size, "chromogenic-copy-of-"+d.VolumeID, tempDescription(d.VolumeID))
		if err != nil {
			return bcommon.Halt(state, err)
		}
		s.created = append(s.created, id)
		d.CopyID = id
	}
	wctx, cancel := context.WithTimeout(ctx, s.Config.StateTimeout)
	defer cancel()
	for _, d := range disks {
		start := time.Now()
		if _, err := cloud.WaitVolume(wctx, bs, d.CopyID, "available", func(st string) {
			ui.Message(fmt.Sprintf("Volume %s: %s (%s)", d.CopyID, st, time.Since(start).Round(time.Second)))
		}, "creating", "downloading"); err != nil {
			return bcommon.Halt(state, cloud.TimeoutErr(ctx, err, "state_timeout", s.Config.StateTimeout))
		}
	}
	return multistep.ActionContinue
}

// Cleanup deletes the volumes this step made (they are never the result).
func (s *StepVolumeCopies) Cleanup(state multistep.StateBag) {
	deleteTemporaries(state, "temporary volume", s.created, cloud.DeleteVolume)
}

// deleteTemporaries deletes, each bounded in time, what a disks = "all" step made; errors
// are reported, not fatal (the build's result does not depend on them).
func deleteTemporaries(state multistep.StateBag, what string, ids []string, del func(context.Context, *gophercloud.ServiceClient, string) error) {
	if len(ids) == 0 {
		return
	}
	ui := state.Get("ui").(packersdk.Ui)
	bs, err := cloud.BlockStorage(state.Get("clients").(*cloud.Clients))
	if err != nil {
		ui.Error(err.Error())
		return
	}
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		ui.Say(fmt.Sprintf("Deleting %s %s...", what, id))
		if err := del(ctx, bs, id); err != nil {
			ui.Error(err.Error())
		}
		cancel()
	}
}
