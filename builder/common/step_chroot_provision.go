//go:build linux

package common

import (
	"context"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	"github.com/hashicorp/packer-plugin-sdk/multistep/commonsteps"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/sandbox"
)

// StepChrootProvision runs the template's provisioners inside the guest tree through the
// chroot Communicator, their commands as Programs says (the sandbox by default).
type StepChrootProvision struct {
	Programs  sandbox.Options
	provision commonsteps.StepProvision
}

func (s *StepChrootProvision) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	g := state.Get(StateGuest).(*chroot.Guest)
	if !s.Programs.TrustGuest {
		if err := sandbox.Check(); err != nil {
			return Halt(state, err)
		}
	}
	comm := NewCommunicator(g.Mounts.Root, g.Guest(), s.Programs)
	state.Put("communicator", comm)
	s.provision.Comm = comm
	return s.provision.Run(ctx, state)
}

func (s *StepChrootProvision) Cleanup(state multistep.StateBag) { s.provision.Cleanup(state) }
