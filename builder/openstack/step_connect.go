package openstack

import (
	"context"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	openstackcommon "github.com/chromogenic/packer-plugin-chromogenic/common/openstack"
)

// StepConnect authenticates to the cloud.
//
// Produces: clients *cloud.Clients
type StepConnect struct {
	Access *openstackcommon.AccessConfig
}

func (s *StepConnect) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	ui.Say("Connecting to OpenStack...")
	clients, err := cloud.Connect(ctx, s.Access.Auth())
	if err != nil {
		return bcommon.Halt(state, err)
	}
	state.Put("clients", clients)
	return multistep.ActionContinue
}

func (s *StepConnect) Cleanup(multistep.StateBag) {}
