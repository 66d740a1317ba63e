package openstack

import (
	"context"
	"fmt"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/common/progress"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/transfer"
)

// StepDownloadDisks (disks = "all") brings each volume's image home into a working copy of its
// own (bcommon.DiskPaths: Target-disk2.raw, ...), verifying Glance's hash, as StepDownload
// brings the root's; then the guest's disks are the root's working copy and these.
//
// Needs: volume_disks (with ImageID), working_image. Produces: working_images []string.
type StepDownloadDisks struct {
	Target string
}

func (s *StepDownloadDisks) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	disks, _ := state.Get(stateVolumeDisks).([]*volumeDisk)
	if len(disks) == 0 {
		return multistep.ActionContinue
	}
	ui := state.Get("ui").(packersdk.Ui)
	clients := state.Get("clients").(*cloud.Clients)
	paths := bcommon.DiskPaths(s.Target, len(disks)+1)
	o := cloud.BringHomeOptions{
		Mode: bcommon.FileMode(state),
		Stage: func(name string) (transfer.Progress, func()) {
			bar := progress.NewLazy(ui, name)
			return bar.Update, bar.Close
		},
		Say: ui.Message,
	}
	for i, d := range disks {
		img, err := cloud.GetImage(ctx, clients.Image, d.ImageID)
		if err != nil {
			return bcommon.Halt(state, err)
		}
		ui.Say(fmt.Sprintf("Downloading volume %s (%s, image %s, %d MiB) to the working copy %s...", d.VolumeID, d.Device, img.ID, img.SizeBytes>>20, paths[i+1]))
		st, err := cloud.BringHome(ctx, clients.Image, img, paths[i+1], o)
		if err != nil {
			return bcommon.Halt(state, fmt.Errorf("volume %s: %w", d.VolumeID, err))
		}
		ui.Message(st.String())
	}
	state.Put(bcommon.StateWorkingImages, paths)
	return multistep.ActionContinue
}

// Cleanup leaves the working copies: like the root's, they are the build's output (a failed
// build's output directory is handled by the output-directory step).
func (s *StepDownloadDisks) Cleanup(multistep.StateBag) {}
