package common

import (
	"context"
	"errors"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// Releaser is a step holding something (a loop device, a mount, a cloud volume attached to
// this host) that is freed early, as soon as the build no longer needs it, rather than in
// Packer's cleanup at the very end. Release must be idempotent: the step's Cleanup calls it
// too (CleanupRelease), on errors and interrupts.
type Releaser interface {
	Release(state multistep.StateBag) error
}

// The one release stack of a build: the chroot steps push onto it, and so do the capture
// steps of builder/ec2 (a volume made, then attached). ReleaseAll empties it.
const stateReleasers = "chromogenic_releasers"

// PushRelease records r (once); ReleaseAll frees the records in reverse order.
func PushRelease(state multistep.StateBag, r Releaser) {
	list, _ := state.GetOk(stateReleasers)
	rs, _ := list.([]Releaser)
	for _, x := range rs {
		if x == r {
			return
		}
	}
	state.Put(stateReleasers, append(rs, r))
}

// ReleaseAll frees what the steps recorded, last first, and forgets the records: a release
// that fails is retried by its step's Cleanup, not here. It goes on past a failure and
// returns them all, unless stopOnError: then the first failure ends it, for stacks where a
// release needs the one before (a volume that did not detach cannot be deleted).
func ReleaseAll(state multistep.StateBag, stopOnError bool) error {
	list, _ := state.GetOk(stateReleasers)
	rs, _ := list.([]Releaser)
	state.Remove(stateReleasers)
	var errs []error
	for i := len(rs) - 1; i >= 0; i-- {
		if err := rs[i].Release(state); err != nil {
			errs = append(errs, err)
			if stopOnError {
				break
			}
		}
	}
	return errors.Join(errs...)
}

// StepRelease frees, in reverse order, everything the open-image and mount steps hold, after
// trimming the guest filesystems: the working copy is then a closed, sparse file that
// post-processors may read. Each step's own Cleanup does the same on errors and interrupts.
type StepRelease struct {
	SkipTrim bool
}

func (s *StepRelease) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	if !s.SkipTrim {
		if img := imageOf(state); img != nil {
			trimImage(ui, img)
		}
	}
	ui.Say("Releasing the working copy (unmount, detach)...")
	if err := ReleaseAll(state, false); err != nil {
		return Halt(state, err)
	}
	return multistep.ActionContinue
}

func (s *StepRelease) Cleanup(multistep.StateBag) {}

// Halt records err for the builder, shows it, and stops the run: what every failing step of
// every chromogenic builder returns.
func Halt(state multistep.StateBag, err error) multistep.StepAction {
	state.Put("error", err)
	if ui, ok := state.Get("ui").(packersdk.Ui); ok {
		ui.Error(err.Error())
	}
	return multistep.ActionHalt
}

// CleanupRelease is the Cleanup of a releasing step: errors go to the UI.
func CleanupRelease(state multistep.StateBag, r Releaser) {
	if err := r.Release(state); err != nil {
		if ui, ok := state.Get("ui").(packersdk.Ui); ok {
			ui.Error(err.Error())
		}
	}
}
