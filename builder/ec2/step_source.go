package ec2

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/packerbuilderdata"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
)

// StepSource finds the instance to capture or the AMI to start from, and settles how its root
// disk is brought home (capture_method).
//
// Produces: instance *types.Instance (instance sources), source_image *types.Image (AMI
// sources), capture_method string
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
		method, err := s.method(inst.RootDeviceType == types.DeviceTypeInstanceStore)
		if err != nil {
			return bcommon.Halt(state, fmt.Errorf("instance %s: %w", aws.ToString(inst.InstanceId), err))
		}
		if method == CaptureBundle && st != string(types.InstanceStateNameRunning) {
			return bcommon.Halt(state, fmt.Errorf("instance %s is %s: BundleInstance needs a running instance", aws.ToString(inst.InstanceId), st))
		}
		ui.Say(fmt.Sprintf("Capturing instance %s (%s, %s) with capture_method %q", aws.ToString(inst.InstanceId), inst.InstanceType, st, method))
		state.Put("instance", inst)
		state.Put(stateCaptureMethod, method)
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
	method, err := s.method(img.RootDeviceType == types.DeviceTypeInstanceStore)
	if err != nil {
		return bcommon.Halt(state, fmt.Errorf("%s: image %s: %w", field, aws.ToString(img.ImageId), err))
	}
	if method == CaptureBundle && aws.ToString(img.ImageLocation) == "" {
		return bcommon.Halt(state, fmt.Errorf("%s: image %s is instance-store backed but has no bundle location to read", field, aws.ToString(img.ImageId)))
	}
	if method != CaptureBundle {
		if _, _, err := cloud.RootSnapshot(img); err != nil {
			return bcommon.Halt(state, fmt.Errorf("%s: %w", field, err))
		}
	}
	ui.Say(fmt.Sprintf("Starting from AMI %s (%s) with capture_method %q", aws.ToString(img.Name), aws.ToString(img.ImageId), method))
	state.Put("source_image", img)
	state.Put(stateCaptureMethod, method)
	(&packerbuilderdata.GeneratedData{State: state}).Put("SourceAMI", aws.ToString(img.ImageId))
	return multistep.ActionContinue
}

func (s *StepSource) Cleanup(multistep.StateBag) {}

// stateCaptureMethod holds the capture method StepSource chose: the builder composes the
// rest of its recipe from it (recipe.go).
const stateCaptureMethod = "capture_method"

func captureMethod(state multistep.StateBag) string {
	m, _ := state.Get(stateCaptureMethod).(string)
	return m
}

// method resolves capture_method for a source: the configured one if it fits, else the
// default of the cloud and the source's root device type.
func (s *StepSource) method(instanceStore bool) (string, error) {
	c := s.Config
	euca := c.IsEucalyptus()
	m := c.CaptureMethod
	switch {
	case instanceStore && !euca:
		return "", errors.New("instance-store backed: only EBS-backed sources can be captured on AWS")
	case instanceStore && m == CaptureAttach:
		return "", errors.New(`instance-store backed: capture_method "attach" needs an EBS root snapshot; use "bundle" (or leave capture_method empty)`)
	case instanceStore:
		m = CaptureBundle
		if errs := c.Eucalyptus.ReadErrors(); len(errs) > 0 {
			return "", fmt.Errorf("instance-store backed, so it is brought home as a bundle: %w", errors.Join(errs...))
		}
	case m == CaptureBundle:
		return "", errors.New(`EBS-backed: capture_method "bundle" is for instance-store sources; use "attach" (or leave capture_method empty)`)
	case m == "" && euca:
		m = CaptureAttach
	case m == "":
		m = CaptureEBSDirect
	}
	if c.Disks == DisksAll && m != CaptureEBSDirect {
		return "", fmt.Errorf(`disks = "all" needs capture_method "ebs-direct": capture_method %q brings the root disk home only`, m)
	}
	return m, nil
}
