package ec2

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	ec2common "github.com/chromogenic/packer-plugin-chromogenic/common/ec2"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2/bundle"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// StepRegisterEucalyptus registers the working copy on Eucalyptus (cloud.PublishEucalyptus):
// HVM, or paravirtual with the source's (or the template's) kernel and ramdisk; a new bundle's
// manifest lists the source image and its ancestors (<ancestry>).
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
	boot, ancestors, err := eucaLineage(state, &c.EucaImageConfig)
	if err != nil {
		return bcommon.Halt(state, err)
	}
	return publishWorking(state, "bundle", func(img diskimage.Image, working string, rep cloud.Report) (string, string, error) {
		res, err := cloud.PublishEucalyptus(ctx, cl, img, working, c.Eucalyptus.PublishOptions(cloud.EucaPublishOptions{
			Name: c.AMIName, Description: c.AMIDescription, Tags: c.Tags, SnapshotTags: c.SnapshotTags,
			Architecture: arch, RootDeviceName: c.RootDeviceName, VolumeType: c.VolumeType,
			StateTimeout: c.StateTimeout, Boot: boot, AncestorAMIIDs: ancestors, Report: rep, Replace: replaceOptions(c, state),
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

// eucaLineage settles how the new EMI boots (ec2common.EucaImageConfig.Boot: the template,
// else the source image's or captured instance's virtualization type, kernel and ramdisk,
// else the source bundle manifest's kernel and ramdisk) and its ancestry: the source image
// (the EMI, or the image the instance runs), then the ancestors the source bundle's
// manifest lists.
func eucaLineage(state multistep.StateBag, c *ec2common.EucaImageConfig) (cloud.EucaBoot, []string, error) {
	var virt, sourceID string
	if img, ok := state.Get("source_image").(*types.Image); ok && img != nil {
		virt, sourceID = string(img.VirtualizationType), aws.ToString(img.ImageId)
	}
	if inst, ok := state.Get("instance").(*types.Instance); ok && inst != nil {
		virt, sourceID = string(inst.VirtualizationType), aws.ToString(inst.ImageId)
	}
	_, kernel, ramdisk := externalKernelIDs(state)
	boot, err := c.Boot(virt, kernel, ramdisk)
	if err != nil {
		return boot, nil, err
	}
	m, _ := state.Get("source_manifest").(*bundle.Manifest)
	return boot, bundle.Ancestry(sourceID, m), nil
}
