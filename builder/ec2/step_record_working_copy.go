package ec2

import (
	"context"
	"fmt"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// StepRecordWorkingCopy (after the chroot steps, every capture method) brings the
// capture's provenance record up to date with the working copies the build changed (the
// mount, provisioners, the trim): their block maps as they are now, and the root's blocks
// that differ from what was captured (Record.Dirty; each other disk's in Record.OtherDirty), which a later changed-block recapture
// from this record reads again. What other writers added to the record (chromogenic-clean's
// Clean) is kept.
type StepRecordWorkingCopy struct{}

func (s *StepRecordWorkingCopy) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	captured, ok := state.Get(stateCaptureRecord).(*provenance.Record)
	if !ok || captured.WorkingCopy == nil {
		return multistep.ActionContinue
	}
	ui := state.Get("ui").(packersdk.Ui)
	path := provenance.SidecarPath(captured.WorkingCopy.Path)
	r := captured
	if onDisk, err := provenance.Read(path); err == nil {
		onDisk.Producer, onDisk.Base, onDisk.Source = captured.Producer, captured.Base, captured.Source
		r = onDisk
	}
	final, err := provenance.Map(ctx, captured.WorkingCopy.Path)
	if err != nil {
		return bcommon.Halt(state, fmt.Errorf("provenance of the working copy: %w", err))
	}
	dirty, err := final.Changed(captured.WorkingCopy)
	if err != nil {
		return bcommon.Halt(state, err)
	}
	r.WorkingCopy, r.Dirty = final, dirty
	r.OtherDisks, r.OtherDirty = nil, nil
	for _, m := range captured.OtherDisks {
		om, err := provenance.Map(ctx, m.Path)
		if err != nil {
			return bcommon.Halt(state, fmt.Errorf("provenance of %s: %w", m.Path, err))
		}
		od, err := om.Changed(m)
		if err != nil {
			return bcommon.Halt(state, err)
		}
		r.OtherDisks, r.OtherDirty = append(r.OtherDisks, om), append(r.OtherDirty, nonNil(od))
	}
	// chromogenic-clean's note beside the working copy is folded in, as StepProvenance does.
	if err := bcommon.WriteRecordWithCleanNote(state, r, captured.WorkingCopy.Path); err != nil {
		return bcommon.Halt(state, err)
	}
	ui.Message(fmt.Sprintf("Provenance record %s: the build changed %d of %d blocks of the working copy since the capture", path, len(dirty), final.Count()))
	return multistep.ActionContinue
}

func (s *StepRecordWorkingCopy) Cleanup(multistep.StateBag) {}

// nonNil is l, or an empty list for nil: each other disk's entry of Record.OtherDirty is a
// list, empty when the build changed nothing there.
func nonNil(l []int64) []int64 {
	if l == nil {
		return []int64{}
	}
	return l
}
