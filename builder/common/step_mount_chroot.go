//go:build linux

package common

import (
	"context"
	"fmt"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
)

// StepMountChroot mounts chroot_mounts (proc, sys, dev...) inside the guest tree.
type StepMountChroot struct {
	Mounts  []chroot.ChrootMount
	guest   *chroot.Guest
	mounted int
}

func (s *StepMountChroot) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	g := state.Get(StateGuest).(*chroot.Guest)
	if len(s.Mounts) == 0 {
		return multistep.ActionContinue
	}
	ui.Say("Mounting additional paths within the chroot...")
	s.guest = g
	PushRelease(state, s)
	before := len(g.Paths())
	err := g.MountChroot(s.Mounts)
	s.mounted = len(g.Paths()) - before
	if err != nil {
		return Halt(state, err)
	}
	for _, m := range s.Mounts {
		ui.Message(fmt.Sprintf("Mounted %s on %s", m[0], m[2]))
	}
	return multistep.ActionContinue
}

func (s *StepMountChroot) Release(state multistep.StateBag) error {
	if s.guest == nil || s.mounted == 0 {
		return nil
	}
	err := s.guest.UnmountTop(s.mounted)
	s.mounted = 0
	return err
}

func (s *StepMountChroot) Cleanup(state multistep.StateBag) { CleanupRelease(state, s) }
