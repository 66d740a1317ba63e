package ec2

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
)

// StepInstanceInfo (capture_method attach) finds the instance Packer runs on, from the
// instance metadata service, and checks that the cloud knows it: the volume of the source is
// attached to it. It runs before anything is made, so a build off the cloud fails at once.
//
// Produces: host cloud.Host
type StepInstanceInfo struct {
	Config *Config
}

func (s *StepInstanceInfo) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	cl := state.Get("clients").(*cloud.Clients)
	ui.Say("Finding the instance Packer runs on (instance metadata service)...")
	h, err := cloud.HostIdentity(ctx, cl.Config)
	if err != nil {
		return bcommon.Halt(state, fmt.Errorf(`capture_method "attach" attaches a volume to the instance Packer runs on, so Packer must run on an instance of this cloud: %w`, err))
	}
	if h.Region != "" && h.Region != cl.Region {
		return bcommon.Halt(state, fmt.Errorf(`this host is instance %s in region %s, but the build works in region %s: capture_method "attach" needs Packer in the source's region`, h.InstanceID, h.Region, cl.Region))
	}
	inst, err := cloud.FindInstance(ctx, cl.EC2, h.InstanceID, cloud.Filter{})
	if err != nil {
		return bcommon.Halt(state, fmt.Errorf("this host is instance %s per its metadata, but the cloud does not know it (%w): Packer must run on an instance of the cloud it captures from", h.InstanceID, err))
	}
	if inst.State != nil && inst.State.Name != types.InstanceStateNameRunning {
		return bcommon.Halt(state, fmt.Errorf("this host, instance %s, is %s", h.InstanceID, inst.State.Name))
	}
	ui.Message(fmt.Sprintf("This host is instance %s in %s", h.InstanceID, h.AvailabilityZone))
	state.Put("host", h)
	return multistep.ActionContinue
}

func (s *StepInstanceInfo) Cleanup(multistep.StateBag) {}
