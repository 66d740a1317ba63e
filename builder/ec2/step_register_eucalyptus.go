package ec2

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/packerbuilderdata"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	ec2common "github.com/chromogenic/packer-plugin-chromogenic/common/ec2"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// StepRegisterEucalyptus registers the working copy on Eucalyptus (cloud.PublishEucalyptus).
//
// Produces: ami string, snapshot_id string, bundle_bucket string, bundle_keys []string
type StepRegisterEucalyptus struct {
	Config *Config
}

func (s *StepRegisterEucalyptus) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	cl := state.Get("clients").(*cloud.Clients)
	c := s.Config
	arch, _ := state.Get("source_arch").(string)
	if img, ok := state.Get("source_image").(*types.Image); ok && arch == "" {
		arch = string(img.Architecture)
	}
	if inst, ok := state.Get("instance").(*types.Instance); ok && arch == "" {
		arch = string(inst.Architecture)
	}
	working := state.Get(bcommon.StateWorkingImage).(string)
	// The builder's raw working copy: raw by declaration (its first sector is the guest's).
	img, err := diskimage.OpenFormat(working, "raw")
	if err != nil {
		return bcommon.Halt(state, fmt.Errorf("open %s: %w", working, err))
	}
	defer img.Close()
	rep := ec2common.NewUIReport(ui, "bundle")
	defer rep.Close()
	res, err := cloud.PublishEucalyptus(ctx, cl, img, working, c.Eucalyptus.PublishOptions(cloud.EucaPublishOptions{
		Name: c.AMIName, Description: c.AMIDescription, Tags: c.Tags, SnapshotTags: c.SnapshotTags,
		Architecture: arch, RootDeviceName: c.RootDeviceName, VolumeType: c.VolumeType,
		StateTimeout: c.StateTimeout, Report: rep.Report(),
	}))
	if err != nil {
		return bcommon.Halt(state, err)
	}
	state.Put("ami", res.ImageID)
	state.Put("snapshot_id", res.SnapshotID)
	state.Put("bundle_bucket", res.Bucket)
	state.Put("bundle_keys", res.Keys)
	gd := &packerbuilderdata.GeneratedData{State: state}
	gd.Put("ImageID", res.ImageID)
	gd.Put("SnapshotID", res.SnapshotID)
	return multistep.ActionContinue
}

func (s *StepRegisterEucalyptus) Cleanup(multistep.StateBag) {}
