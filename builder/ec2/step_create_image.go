package ec2

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/packerbuilderdata"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
)

// StepCreateImage captures the instance with CreateImage (rebooting it unless no_reboot) and
// waits until the intermediate AMI is available (capture methods ebs-direct and attach). The
// intermediate AMI and its snapshots are deleted by StepDownload or StepCopyDevice once the
// data is home, or here on failure, unless kept.
//
// Produces: source_image *types.Image, intermediate_image string
type StepCreateImage struct {
	Config *Config
	id     string
	snaps  []string
}

func (s *StepCreateImage) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	raw, ok := state.GetOk("instance")
	if !ok || captureMethod(state) == CaptureBundle {
		return multistep.ActionContinue // starting from an AMI, or BundleInstance captures
	}
	inst := raw.(*types.Instance)
	ui := state.Get("ui").(packersdk.Ui)
	cl := state.Get("clients").(*cloud.Clients)
	c := s.Config
	name := fmt.Sprintf("chromogenic-%s-%d", aws.ToString(inst.InstanceId), time.Now().Unix())
	how := "rebooting it first"
	if c.NoReboot {
		how = "without a reboot"
	}
	ui.Say(fmt.Sprintf("Creating the intermediate AMI %s of %s (%s)...", name, aws.ToString(inst.InstanceId), how))
	id, err := cloud.CreateImage(ctx, cl.EC2, aws.ToString(inst.InstanceId), name, "chromogenic-ec2 capture, deleted after the build", c.NoReboot)
	if err != nil {
		return bcommon.Halt(state, err)
	}
	s.id = id
	state.Put("intermediate_image", id)
	(&packerbuilderdata.GeneratedData{State: state}).Put("IntermediateAMI", id)
	start := time.Now()
	img, err := cloud.WaitImage(ctx, cl.EC2, id, c.StateTimeout)
	if err != nil {
		return bcommon.Halt(state, err)
	}
	s.snaps = cloud.Snapshots(img)
	ui.Message(fmt.Sprintf("AMI %s is available (%s)", id, time.Since(start).Round(time.Second)))
	state.Put("source_image", img)
	(&packerbuilderdata.GeneratedData{State: state}).Put("SourceAMI", id)
	return multistep.ActionContinue
}

// Cleanup deletes the intermediate AMI and its snapshots if StepDownload did not, unless the
// user keeps them (a build that failed before the AMI was available never keeps it).
func (s *StepCreateImage) Cleanup(state multistep.StateBag) {
	if s.id == "" {
		return
	}
	if _, done := state.GetOk("intermediate_deleted"); done {
		return
	}
	if s.Config.KeepIntermediateImage && s.snaps != nil {
		return
	}
	ui := state.Get("ui").(packersdk.Ui)
	cl := state.Get("clients").(*cloud.Clients)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ui.Say(fmt.Sprintf("Deleting the intermediate AMI %s and its snapshots...", s.id))
	if err := deleteIntermediate(ctx, cl, s.id, s.snaps, s.Config.StateTimeout); err != nil {
		ui.Error(err.Error())
	}
}

// releaseIntermediate deletes the intermediate AMI of an instance capture (source_image)
// and its snapshots as soon as the data is home, unless the user keeps them. If that fails,
// StepCreateImage's Cleanup tries again.
func releaseIntermediate(ctx context.Context, state multistep.StateBag, keep bool) {
	id, ok := state.GetOk("intermediate_image")
	if !ok || keep {
		return
	}
	ui := state.Get("ui").(packersdk.Ui)
	cl := state.Get("clients").(*cloud.Clients)
	img := state.Get("source_image").(*types.Image)
	ui.Say(fmt.Sprintf("Deleting the intermediate AMI %s and its snapshots...", id))
	if err := cloud.DeleteImage(ctx, cl.EC2, id.(string), cloud.Snapshots(img)...); err != nil {
		ui.Error(err.Error())
		return
	}
	state.Put("intermediate_deleted", true)
}

// deleteIntermediate deletes an AMI made by CreateImage. A pending AMI's snapshots are not
// known yet: wait (bounded) for it to settle so that none is left behind.
func deleteIntermediate(ctx context.Context, cl *cloud.Clients, id string, snaps []string, timeout time.Duration) error {
	if snaps == nil {
		if img, err := cloud.WaitImage(ctx, cl.EC2, id, min(timeout, 4*time.Minute)); err == nil {
			snaps = cloud.Snapshots(img)
		}
	}
	return cloud.DeleteImage(ctx, cl.EC2, id, snaps...)
}
