package common

import (
	"context"
	"errors"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// releaser is a step holding something (a loop device, a mount) that StepRelease frees early,
// before the artifact is made. release must be idempotent: the step's Cleanup calls it too.
type releaser interface {
	release(state multistep.StateBag) error
}

const stateReleasers = "chromogenic_releasers"

// pushRelease records r; StepRelease frees the records in reverse order.
func pushRelease(state multistep.StateBag, r releaser) {
	list, _ := state.GetOk(stateReleasers)
	rs, _ := list.([]releaser)
	for _, x := range rs {
		if x == r {
			return
		}
	}
	state.Put(stateReleasers, append(rs, r))
}

// StepRelease frees, in reverse order, everything the attach and mount steps hold, after
// trimming the guest filesystems: the working copy is then a closed, sparse file that
// post-processors may read. Each step's own Cleanup does the same on errors and interrupts.
type StepRelease struct {
	SkipTrim bool
}

func (s *StepRelease) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	if !s.SkipTrim {
		if g := guestOf(state); g != nil {
			trimGuest(ui, g)
		}
	}
	ui.Say("Releasing the working copy (unmount, detach)...")
	list, _ := state.GetOk(stateReleasers)
	rs, _ := list.([]releaser)
	var errs []error
	for i := len(rs) - 1; i >= 0; i-- {
		if err := rs[i].release(state); err != nil {
			errs = append(errs, err)
		}
	}
	state.Remove(stateReleasers)
	if err := errors.Join(errs...); err != nil {
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

// cleanupRelease is the Cleanup of a releasing step: errors go to the UI.
func cleanupRelease(state multistep.StateBag, r releaser) {
	if err := r.release(state); err != nil {
		if ui, ok := state.Get("ui").(packersdk.Ui); ok {
			ui.Error(err.Error())
		}
	}
}
