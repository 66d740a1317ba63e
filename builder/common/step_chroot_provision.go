package common

import (
	"context"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	"github.com/hashicorp/packer-plugin-sdk/multistep/commonsteps"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
)

// StepChrootProvision runs the template's provisioners inside the guest tree through the
// chroot Communicator.
type StepChrootProvision struct {
	provision commonsteps.StepProvision
}

func (s *StepChrootProvision) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	g := state.Get(StateGuest).(*chroot.Guest)
	comm := NewCommunicator(g.Mounts.Root, g.Guest())
	state.Put("communicator", comm)
	s.provision.Comm = comm
	return s.provision.Run(ctx, state)
}

func (s *StepChrootProvision) Cleanup(state multistep.StateBag) { s.provision.Cleanup(state) }
