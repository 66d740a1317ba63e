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

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
)

// StepCreateVolume (capture_method attach) creates a volume from the source image's root
// snapshot in this host's availability zone and waits until it is available. The snapshot
// itself is only read. The volume is deleted as soon as its data is home (StepCopyDevice),
// or by Cleanup on failure and interrupts.
//
// Produces: capture_volume string
type StepCreateVolume struct {
	Config *Config
	id     string
}

func (s *StepCreateVolume) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	cl := state.Get("clients").(*cloud.Clients)
	host := state.Get("host").(cloud.Host)
	img := state.Get("source_image").(*types.Image)
	snap, _, err := cloud.RootSnapshot(img)
	if err != nil {
		return bcommon.Halt(state, err)
	}
	(&packerbuilderdata.GeneratedData{State: state}).Put("SourceSnapshot", snap)
	ui.Say(fmt.Sprintf("Creating a volume from snapshot %s (root of %s) in %s...", snap, aws.ToString(img.ImageId), host.AvailabilityZone))
	tags := map[string]string{"Name": fmt.Sprintf("chromogenic-ec2 capture of %s (deleted after the build)", aws.ToString(img.ImageId))}
	for k, v := range s.Config.Run(s.Config.Tags) { // run_tags (default tags), tagged at creation
		tags[k] = v
	}
	if b, ok := state.GetOk(stateBuildTag); ok {
		tags[BuildTag] = b.(string)
	}
	id, err := cloud.CreateVolume(ctx, cl.EC2, snap, host.AvailabilityZone, tags, s.Config.IsEucalyptus())
	if err != nil {
		return bcommon.Halt(state, err)
	}
	s.id = id
	state.Put("capture_volume", id)
	bcommon.PushRelease(state, s)
	start := time.Now()
	if err := cloud.WaitVolume(ctx, cl.EC2, id, "available", s.Config.StateTimeout, cloud.VolumeAvailable); err != nil {
		return bcommon.Halt(state, err)
	}
	ui.Message(fmt.Sprintf("Volume %s is available (%s)", id, time.Since(start).Round(time.Millisecond)))
	return multistep.ActionContinue
}

// Release deletes the volume (StepAttachVolume has detached it).
func (s *StepCreateVolume) Release(state multistep.StateBag) error {
	if s.id == "" {
		return nil
	}
	ui := state.Get("ui").(packersdk.Ui)
	cl := state.Get("clients").(*cloud.Clients)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ui.Say(fmt.Sprintf("Deleting volume %s...", s.id))
	if err := cloud.DeleteVolume(ctx, cl.EC2, s.id); err != nil {
		return fmt.Errorf("%w: delete it by hand", err)
	}
	s.id = ""
	return nil
}

func (s *StepCreateVolume) Cleanup(state multistep.StateBag) { bcommon.CleanupRelease(state, s) }
