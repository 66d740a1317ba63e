package ec2

import (
	"context"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
)

// StepConnect resolves the credentials and makes the clients.
//
// Produces: clients *cloud.Clients
type StepConnect struct {
	Config *Config
}

func (s *StepConnect) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	c := s.Config
	ui.Say("Connecting to EC2...")
	clients, err := cloud.Connect(ctx, c.Access(c.EBSConcurrency+8, c.IsEucalyptus()))
	if err != nil {
		return bcommon.Halt(state, err)
	}
	ui.Message("Region " + clients.Region)
	if err := c.ValidateRegions(ctx, clients, c.AMIRegions...); err != nil {
		return bcommon.Halt(state, err)
	}
	if c.IsEucalyptus() {
		if err := c.Eucalyptus.Resolve(ctx, clients, c.CustomEndpointEC2); err != nil {
			return bcommon.Halt(state, err)
		}
	}
	state.Put("clients", clients)
	return multistep.ActionContinue
}

func (s *StepConnect) Cleanup(multistep.StateBag) {}
