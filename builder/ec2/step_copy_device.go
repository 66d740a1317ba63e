package ec2

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/common/progress"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/transfer"
)

// StepCopyDevice (capture_method attach) copies the attached volume's block device, whole,
// into the sparse raw working copy (read in order, 4 MiB at a time ahead of the writes,
// all-zero 4 KiB blocks left as holes), hashing each block on the way, and writes the
// capture's provenance record; with base_provenance into a copy of the base's working copy,
// only the blocks that differ (bringHomeWhole). Once the data is home the volume is detached and deleted, and the
// intermediate AMI of an instance capture deleted unless kept, so nothing of the cloud's is
// held while provisioners run.
//
// Produces: working_image string, source_volume_gib int64
type StepCopyDevice struct {
	Config *Config
	Target string
}

func (s *StepCopyDevice) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	dev := state.Get("capture_device").(string)
	src, err := diskimage.OpenFormat(dev, "raw")
	if err != nil {
		return bcommon.Halt(state, err)
	}
	size := src.Size()
	ui.Say(fmt.Sprintf("Copying %s (%d MiB) into %s...", dev, size>>20, s.Target))
	bar := progress.New(ui, "copy "+dev, size)
	var snap string // the root snapshot the volume was made of (StepCreateVolume)
	if img, ok := state.Get("source_image").(*types.Image); ok {
		snap, _, _ = cloud.RootSnapshot(img)
	}
	st, base, err := bringHomeWhole(ctx, state, s.Config, s.Target, snap, transfer.FromImage(src), bar.Update)
	bar.Close()
	if cerr := src.Close(); err == nil && cerr != nil {
		os.Remove(s.Target)
		err = cerr
	}
	if err != nil {
		return bcommon.Halt(state, fmt.Errorf("copy %s: %w", dev, err))
	}
	ui.Message(st.String())
	state.Put(bcommon.StateWorkingImage, s.Target)
	state.Put("source_volume_gib", (size+cloud.GiB-1)/cloud.GiB)
	if err := writeCaptureRecord(ctx, state, s.Target, []cloud.Disk{{SnapshotID: snap, Root: true}}, []*provenance.BlockMap{st.Map}, base); err != nil {
		return bcommon.Halt(state, err)
	}

	// The volume's steps pushed their releases on the build's release stack (builder/common):
	// detach, then delete. A volume that did not detach cannot be deleted: stop there.
	if err := bcommon.ReleaseAll(state, true); err != nil {
		ui.Error(err.Error()) // the steps' cleanups try again
	}
	releaseIntermediate(ctx, state, s.Config.KeepIntermediateImage)
	return multistep.ActionContinue
}

func (s *StepCopyDevice) Cleanup(multistep.StateBag) {}
