package ec2

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	ec2common "github.com/chromogenic/packer-plugin-chromogenic/common/ec2"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
)

// StepPreValidate runs before any data moves (before CreateImage, BundleInstance or a
// download), as packer-plugin-amazon's StepPreValidate does: an AMI of the account named
// ami_name is an error unless force_deregister (and always when it is the build's source AMI,
// which is never modified); and, on AWS, it settles the new AMI's encryption from the
// source's (the instance's root volume or the source AMI's root snapshot) and encrypt_boot /
// kms_key_id, so that an encrypted source never silently becomes an unencrypted AMI. It
// makes nothing, so it has nothing to clean up.
//
// Produces: encryption ec2common.Encryption
type StepPreValidate struct {
	Config *Config
}

// stateEncryption holds the new AMI's encryption StepPreValidate settled.
const stateEncryption = "encryption"

func (s *StepPreValidate) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	cl := state.Get("clients").(*cloud.Clients)
	c := s.Config
	inst, _ := state.Get("instance").(*types.Instance)
	img, _ := state.Get("source_image").(*types.Image)
	var protect []string
	if img != nil {
		protect = append(protect, aws.ToString(img.ImageId))
	}
	if inst != nil && aws.ToString(inst.ImageId) != "" {
		protect = append(protect, aws.ToString(inst.ImageId))
	}
	ui.Say(fmt.Sprintf("Checking that the AMI name %q is free (force_deregister %v)...", c.AMIName, c.ForceDeregister))
	old, err := cloud.CheckName(ctx, cl.EC2, c.AMIName, cloud.Replace{Force: c.ForceDeregister, Protect: protect})
	if err != nil {
		return bcommon.Halt(state, err)
	}
	if len(old) > 0 {
		ui.Message(fmt.Sprintf("%v will be deregistered right before the new AMI is registered (force_deregister)", old))
	}
	if c.IsEucalyptus() {
		state.Put(stateEncryption, ec2common.Encryption{}) // no EBS encryption there
		return multistep.ActionContinue
	}
	sourceEncryption := cloud.SourceEncryption
	if c.Disks == DisksAll {
		sourceEncryption = cloud.DisksEncryption // an encrypted data disk makes the new snapshots encrypted
	}
	encrypted, key, err := sourceEncryption(ctx, cl.EC2, inst, img)
	if err != nil {
		return bcommon.Halt(state, fmt.Errorf("the source's encryption: %w", err))
	}
	enc := c.EncryptionConfig.Resolve(encrypted, key)
	if enc.Note != "" {
		ui.Message(enc.Note)
	}
	state.Put(stateEncryption, enc)
	return multistep.ActionContinue
}

func (s *StepPreValidate) Cleanup(multistep.StateBag) {}

// replaceOptions is what the registration steps pass to the publication: the same check
// again right before RegisterImage, protecting the same source images.
func replaceOptions(c *Config, state multistep.StateBag) cloud.Replace {
	var protect []string
	if inst, ok := state.Get("instance").(*types.Instance); ok && aws.ToString(inst.ImageId) != "" {
		protect = append(protect, aws.ToString(inst.ImageId))
	}
	if img, ok := state.Get("source_image").(*types.Image); ok {
		protect = append(protect, aws.ToString(img.ImageId))
	}
	return cloud.Replace{Force: c.ForceDeregister, DeleteSnapshots: c.ForceDeleteSnapshot, Protect: protect}
}
