package ec2

import (
	"context"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
)

// StepModifyAttributes shares the new AMI: launch permissions (ami_users, ami_groups,
// ami_org_arns, ami_ou_arns) on it and createVolumePermission (snapshot_users,
// snapshot_groups) on its snapshots. It makes nothing, so it has nothing to clean up: a
// failure leaves the AMI to StepRegister's cleanup.
//
// Uses: clients, ami
type StepModifyAttributes struct {
	Config *Config
}

func (s *StepModifyAttributes) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	cl := state.Get("clients").(*cloud.Clients)
	ami := state.Get("ami").(string)
	im, err := cloud.GetImage(ctx, cl.EC2, ami)
	if err != nil {
		return bcommon.Halt(state, err)
	}
	share := s.Config.Share()
	ui.Say("Sharing " + ami + "...")
	if err := cloud.ShareImage(ctx, cl.EC2, ami, cloud.Snapshots(im), share); err != nil {
		return bcommon.Halt(state, err)
	}
	ui.Message(shareSummary(share))
	return multistep.ActionContinue
}

func (s *StepModifyAttributes) Cleanup(multistep.StateBag) {}
