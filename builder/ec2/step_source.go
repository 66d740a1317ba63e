package ec2

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/packerbuilderdata"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
)

// StepSource finds the instance to capture or the AMI to start from.
//
// Produces: instance *types.Instance (instance sources), source_image *types.Image (AMI sources)
type StepSource struct {
	Config *Config
}

func (s *StepSource) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	cl := state.Get("clients").(*cloud.Clients)
	c := s.Config
	if c.InstanceID != "" || len(c.InstanceFilter) > 0 {
		inst, err := cloud.FindInstance(ctx, cl.EC2, c.InstanceID, cloud.Filter{Filters: single(c.InstanceFilter)})
		if err != nil {
			field := "instance_id"
			if c.InstanceID == "" {
				field = "instance_filter"
			}
			return bcommon.Halt(state, fmt.Errorf("%s: %w", field, err))
		}
		st := ""
		if inst.State != nil {
			st = string(inst.State.Name)
		}
		if st != string(types.InstanceStateNameRunning) && st != string(types.InstanceStateNameStopped) {
			return bcommon.Halt(state, fmt.Errorf("instance %s is %s: only running or stopped instances can be captured", aws.ToString(inst.InstanceId), st))
		}
		if c.IsEucalyptus() {
			if inst.RootDeviceType != types.DeviceTypeInstanceStore {
				return bcommon.Halt(state, fmt.Errorf("instance %s is EBS-backed: on Eucalyptus (no EBS direct API) only instance-store instances can be captured (BundleInstance)", aws.ToString(inst.InstanceId)))
			}
			if st != string(types.InstanceStateNameRunning) {
				return bcommon.Halt(state, fmt.Errorf("instance %s is %s: BundleInstance needs a running instance", aws.ToString(inst.InstanceId), st))
			}
		} else if inst.RootDeviceType == types.DeviceTypeInstanceStore {
			return bcommon.Halt(state, fmt.Errorf("instance %s is instance-store backed: only EBS-backed instances can be captured", aws.ToString(inst.InstanceId)))
		}
		ui.Say(fmt.Sprintf("Capturing instance %s (%s, %s)", aws.ToString(inst.InstanceId), inst.InstanceType, st))
		state.Put("instance", inst)
		return multistep.ActionContinue
	}
	var (
		img   *types.Image
		err   error
		field string
	)
	if c.SourceAMI != "" {
		field = "source_ami"
		img, err = cloud.GetImage(ctx, cl.EC2, c.SourceAMI)
	} else {
		field = "source_ami_filter"
		img, err = cloud.FindImage(ctx, cl.EC2, c.SourceAMIFilter.Cloud())
	}
	if err != nil {
		return bcommon.Halt(state, fmt.Errorf("%s: %w", field, err))
	}
	if img.State != types.ImageStateAvailable {
		return bcommon.Halt(state, fmt.Errorf("%s: image %s is %s, not available", field, aws.ToString(img.ImageId), img.State))
	}
	if c.IsEucalyptus() && (img.RootDeviceType != types.DeviceTypeInstanceStore || aws.ToString(img.ImageLocation) == "") {
		return bcommon.Halt(state, fmt.Errorf("%s: image %s is not an instance-store image with a bundle location: on Eucalyptus (no EBS direct API) only bundled EMIs can be read", field, aws.ToString(img.ImageId)))
	}
	ui.Say(fmt.Sprintf("Starting from AMI %s (%s)", aws.ToString(img.Name), aws.ToString(img.ImageId)))
	state.Put("source_image", img)
	(&packerbuilderdata.GeneratedData{State: state}).Put("SourceAMI", aws.ToString(img.ImageId))
	return multistep.ActionContinue
}

func (s *StepSource) Cleanup(multistep.StateBag) {}
