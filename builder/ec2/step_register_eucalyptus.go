package ec2

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

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
	cl := state.Get("clients").(*cloud.Clients)
	c := s.Config
	arch, _ := state.Get("source_arch").(string)
	if img, ok := state.Get("source_image").(*types.Image); ok && arch == "" {
		arch = string(img.Architecture)
	}
	if inst, ok := state.Get("instance").(*types.Instance); ok && arch == "" {
		arch = string(inst.Architecture)
	}
	return publishWorking(state, "bundle", func(img diskimage.Image, working string, rep cloud.Report) (string, string, error) {
		res, err := cloud.PublishEucalyptus(ctx, cl, img, working, c.Eucalyptus.PublishOptions(cloud.EucaPublishOptions{
			Name: c.AMIName, Description: c.AMIDescription, Tags: c.Tags, SnapshotTags: c.SnapshotTags,
			Architecture: arch, RootDeviceName: c.RootDeviceName, VolumeType: c.VolumeType,
			StateTimeout: c.StateTimeout, Report: rep,
		}))
		if err != nil {
			return "", "", err
		}
		state.Put("bundle_bucket", res.Bucket)
		state.Put("bundle_keys", res.Keys)
		return res.ImageID, res.SnapshotID, nil
	})
}

// Cleanup deletes the new EMI and its bundle or snapshot when the build fails after it
// (sharing).
func (s *StepRegisterEucalyptus) Cleanup(state multistep.StateBag) { discardRegistered(state) }
