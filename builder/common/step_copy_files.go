//go:build linux

package common

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
)

// StepCopyFiles copies copy_files (resolv.conf) from the host into the guest, and puts the
// guest's own files back when released.
type StepCopyFiles struct {
	Files  []string
	guest  *chroot.Guest
	copied []*chroot.CopiedFile
}

func (s *StepCopyFiles) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	s.guest = state.Get(StateGuest).(*chroot.Guest)
	PushRelease(state, s)
	for _, f := range s.Files {
		c, err := s.guest.CopyIn(f)
		if err != nil {
			return Halt(state, err)
		}
		if c != nil {
			ui.Message(fmt.Sprintf("Copied %s into the guest", f))
			s.copied = append(s.copied, c)
		}
	}
	return multistep.ActionContinue
}

func (s *StepCopyFiles) Release(state multistep.StateBag) error {
	var errs []error
	for i := len(s.copied) - 1; i >= 0; i-- {
		if err := s.copied[i].Restore(s.guest); err != nil {
			errs = append(errs, fmt.Errorf("restore guest %s: %w", s.copied[i].GuestPath, err))
		}
	}
	s.copied = nil
	return errors.Join(errs...)
}

func (s *StepCopyFiles) Cleanup(state multistep.StateBag) { CleanupRelease(state, s) }
