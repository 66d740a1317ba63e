package ec2

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
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
// The AMI and its snapshots are tagged at creation (TagSpecifications) with BuildTag = a
// random id of this build, besides the user's tags and snapshot_tags: when the AMI never
// became available (the build was interrupted or failed while it was pending, or
// CreateImage's answer was lost, so that its id is not even known) Cleanup finds what
// CreateImage made by that tag and deletes it, and nothing without the tag. Eucalyptus knows
// no TagSpecifications: there the AMI is tagged right after CreateImage.
//
// Produces: source_image *types.Image, intermediate_image string
type StepCreateImage struct {
	Config *Config
	build  string // the BuildTag value, set once CreateImage was sent
	tagged bool   // the snapshots carry the tag (not on Eucalyptus)
	id     string
	snaps  []string
}

// BuildTag is the tag key of the intermediate AMI and snapshots of one build (and of the
// capture volume made from them); the value is in the state under stateBuildTag.
const (
	BuildTag      = cloud.BuildTag
	stateBuildTag = "build_tag"
)

func (s *StepCreateImage) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	inst := state.Get("instance").(*types.Instance)
	ui := state.Get("ui").(packersdk.Ui)
	cl := state.Get("clients").(*cloud.Clients)
	c := s.Config
	name := fmt.Sprintf("chromogenic-%s-%d", aws.ToString(inst.InstanceId), time.Now().Unix())
	how := "rebooting it first"
	if c.NoReboot {
		how = "without a reboot"
	}
	build, err := cloud.NewBuildID()
	if err != nil {
		return bcommon.Halt(state, err)
	}
	s.build = build
	state.Put(stateBuildTag, s.build)
	ui.Say(fmt.Sprintf("Creating the intermediate AMI %s of %s (%s, tag %s=%s)...", name, aws.ToString(inst.InstanceId), how, BuildTag, s.build))
	var imageTags, snapTags map[string]string
	if !c.IsEucalyptus() {
		imageTags, snapTags = cloud.WithTag(c.Run(c.Tags), BuildTag, s.build), cloud.WithTag(c.Run(c.SnapshotTags), BuildTag, s.build)
		s.tagged = true
	}
	capture := cloud.ImageCapture{InstanceID: aws.ToString(inst.InstanceId), Name: name, Description: "chromogenic-ec2 capture, deleted after the build",
		NoReboot: c.NoReboot, ImageTags: imageTags, SnapshotTags: snapTags}
	if c.Disks != DisksAll && !c.KeepIntermediateImage && !c.IsEucalyptus() {
		// Only the root disk is read: the other volumes are left out, not snapshotted. A
		// kept intermediate AMI stays whole (an image of the whole instance), and
		// Eucalyptus's CreateImage is left as it is (its captures bring the root disk home).
		capture.Exclude = cloud.DataDevices(inst)
		if len(capture.Exclude) > 0 {
			ui.Message(fmt.Sprintf("Leaving the instance's other volumes out of the intermediate AMI (disks = %q): %s", c.Disks, strings.Join(capture.Exclude, ", ")))
		}
	}
	id, err := cloud.CreateImage(ctx, cl.EC2, capture)
	if err != nil {
		return bcommon.Halt(state, err)
	}
	s.id = id
	if !s.tagged {
		if err := cloud.CreateTags(ctx, cl.EC2, cloud.WithTag(c.Run(c.Tags), BuildTag, s.build), id); err != nil {
			ui.Error(err.Error()) // Cleanup still knows the id
		}
	}
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
// user keeps them (a build that failed before the AMI was available never keeps it). When the
// AMI never became available, what carries this build's tag is deleted too: snapshots a
// pending AMI did not list yet, an AMI whose CreateImage answer was lost.
func (s *StepCreateImage) Cleanup(state multistep.StateBag) {
	if s.build == "" {
		return // CreateImage was never sent
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
	if s.id != "" {
		ui.Say(fmt.Sprintf("Deleting the intermediate AMI %s and its snapshots...", s.id))
	}
	// What carries this build's tag is looked for only while the AMI's snapshots are unknown
	// (it never became available) and only where the tag was set at creation.
	build := ""
	if s.snaps == nil && s.tagged {
		build = s.build
		ui.Say(fmt.Sprintf("Deleting what CreateImage made for this build (tag %s=%s)...", BuildTag, s.build))
	}
	if err := cloud.DeleteIntermediate(ctx, cl, s.id, s.snaps, build, s.Config.StateTimeout); err != nil {
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
	if c, ok := state.Get("config").(*Config); ok && c.KeepCaptureSnapshot {
		ui.Say(fmt.Sprintf("Deregistering the intermediate AMI %s, keeping its snapshots %v for a later changed-block recapture (keep_capture_snapshot)...", id, cloud.Snapshots(img)))
		if _, err := cl.EC2.DeregisterImage(ctx, &sdkec2.DeregisterImageInput{ImageId: aws.String(id.(string))}); err != nil && cloud.APICode(err) != "InvalidAMIID.NotFound" {
			ui.Error(err.Error())
			return
		}
		state.Put("intermediate_deleted", true)
		return
	}
	ui.Say(fmt.Sprintf("Deleting the intermediate AMI %s and its snapshots...", id))
	if err := cloud.DeleteImage(ctx, cl.EC2, id.(string), cloud.Snapshots(img)...); err != nil {
		ui.Error(err.Error())
		return
	}
	state.Put("intermediate_deleted", true)
}
