// Package ec2import is the chromogenic-ec2-import post-processor: it pushes the disk image of
// any artifact that carries a local image (raw, qcow2, VMDK, VHD, or the disk inside an OVA;
// chosen by artifact.LocalImageFor, raw first) to AWS, streaming it from the image engine's
// reader into a new EBS snapshot through the EBS direct API (per-block SHA-256 and a
// whole-snapshot checksum, no temporary copy, no S3 bucket and no vmimport role), then
// registering it as an AMI. On Eucalyptus (no EBS direct API) it uploads an instance-store
// bundle and registers it, or goes through ImportVolume (internal/cloud/ec2: Publish, PublishEucalyptus, shared with the chromogenic-ec2 builder).
package ec2import

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/hashicorp/hcl/v2/hcldec"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact"
	ec2common "github.com/chromogenic/packer-plugin-chromogenic/common/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/common/postprocess"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
)

// BuilderID identifies artifacts of this post-processor.
const BuilderID = "chromogenic.post-processor.ec2-import"

// PostProcessor is chromogenic-ec2-import.
type PostProcessor struct {
	config Config
}

func (p *PostProcessor) ConfigSpec() hcldec.ObjectSpec { return p.config.FlatMapstructure().HCL2Spec() }

func (p *PostProcessor) Configure(raws ...interface{}) error { return p.config.Prepare(raws...) }

func (p *PostProcessor) PostProcess(ctx context.Context, ui packersdk.Ui, in packersdk.Artifact) (packersdk.Artifact, bool, bool, error) {
	ctx, stop, err := postprocess.Start(ctx, "chromogenic-ec2-import")
	if err != nil {
		return nil, false, false, err
	}
	defer stop()
	c := &p.config
	local, err := artifact.LocalImageFor(in, artifact.ImportFormats)
	if err != nil {
		return nil, false, false, fmt.Errorf("chromogenic-ec2-import: %w", err)
	}
	src, err := local.Open()
	if err != nil {
		return nil, false, false, err
	}
	defer src.Close()
	ui.Say("Connecting to EC2...")
	cl, err := cloud.Connect(ctx, c.Access(c.EBSConcurrency+8, c.IsEucalyptus()))
	if err != nil {
		return nil, false, false, err
	}
	// Pre-validation, before any data moves: the AMI name is free (or force_deregister).
	replace := cloud.Replace{Force: c.ForceDeregister, DeleteSnapshots: c.ForceDeleteSnapshot}
	if old, err := cloud.CheckName(ctx, cl.EC2, c.AMIName, replace); err != nil {
		return nil, false, false, err
	} else if len(old) > 0 {
		ui.Message(fmt.Sprintf("%v will be deregistered right before the new AMI is registered (force_deregister)", old))
	}
	if c.IsEucalyptus() {
		if c.Eucalyptus.Register == "bundle" {
			if err := c.Eucalyptus.Resolve(ctx, cl, c.CustomEndpointEC2); err != nil {
				return nil, false, false, err
			}
		}
		boot, err := c.Boot("", "", "") // no source: the template says
		if err != nil {
			return nil, false, false, err
		}
		rep := ec2common.NewUIReport(ui, "bundle")
		res, err := cloud.PublishEucalyptus(ctx, cl, src, local.String(), c.Eucalyptus.PublishOptions(cloud.EucaPublishOptions{
			Name: c.AMIName, Description: c.AMIDescription, Tags: c.Tags, SnapshotTags: c.SnapshotTags,
			Architecture: c.Architecture, RootDeviceName: c.RootDeviceName, VolumeType: c.VolumeType,
			StateTimeout: c.StateTimeout, Boot: boot, Report: rep.Report(), Replace: replace,
		}))
		rep.Close()
		if err != nil {
			return nil, false, false, err
		}
		a := ec2common.NewAMIArtifact(BuilderID, cl, res.ImageID, res.SnapshotID, in.State("generated_data"))
		a.Bucket, a.BundleKeys, a.Input, a.SourceImage = res.Bucket, res.Keys, in.Id(), artifact.HCPSourceOf(in)
		return a, true, false, nil
	}
	ena := aws.ToBool(c.ENASupport)
	enc := c.EncryptionConfig.Resolve(false, "") // an image file carries no encryption
	rep := ec2common.NewUIReport(ui, "upload")
	res, err := cloud.Publish(ctx, cl, src, local.String(), cloud.PublishOptions{
		Name: c.AMIName, Description: c.AMIDescription, Tags: c.Tags, SnapshotTags: c.SnapshotTags,
		Architecture: c.Architecture, BootMode: c.BootMode, ENA: &ena, RootDeviceName: c.RootDeviceName,
		VolumeType: c.VolumeType, IMDSSupport: c.IMDSSupport, Concurrency: c.EBSConcurrency,
		StateTimeout: c.StateTimeout, Report: rep.Report(),
		Encrypted: enc.Encrypted, KMSKeyID: enc.KMSKeyID, Replace: replace,
	})
	rep.Close()
	if err != nil {
		return nil, false, false, err
	}
	a := ec2common.NewAMIArtifact(BuilderID, cl, res.ImageID, res.SnapshotID, in.State("generated_data"))
	a.Input, a.SourceImage = in.Id(), artifact.HCPSourceOf(in)
	return a, true, false, nil
}
