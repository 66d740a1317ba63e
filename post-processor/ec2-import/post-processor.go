// Package ec2import is the chromogenic-ec2-import post-processor: it pushes the disk image of
// any artifact that carries a local image (raw, qcow2, VMDK, VHD, or the disk inside an OVA;
// chosen by artifact.LocalImageFor, raw first) to AWS, streaming it from the image engine's
// reader into a new EBS snapshot through the EBS direct API (per-block SHA-256 and a
// whole-snapshot checksum, no temporary copy, no S3 bucket and no vmimport role), then
// registering it as an AMI; the other disks of a guest on several disks (image_paths) become
// snapshots mapped in the same AMI. On Eucalyptus (no EBS direct API) it uploads an instance-store
// bundle and registers it, or goes through ImportVolume (internal/cloud/ec2: Publish, PublishEucalyptus, shared with the chromogenic-ec2 builder).
package ec2import

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/hashicorp/hcl/v2/hcldec"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact"
	ec2common "github.com/chromogenic/packer-plugin-chromogenic/common/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/common/postprocess"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
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
	if err := c.ValidateRegions(ctx, cl, c.AMIRegions...); err != nil {
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
		// No EBS direct API: the boot disk alone is registered (a bundle or ImportVolume).
		if note := artifact.OtherDisksNote(in); note != "" {
			ui.Say(note)
		}
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
		if err := p.distribute(ctx, ui, cl, res, nil); err != nil {
			return nil, false, false, err
		}
		a := ec2common.NewAMIArtifact(BuilderID, cl, res.ImageID, res.SnapshotID, in.State("generated_data"))
		a.Bucket, a.BundleKeys, a.Input, a.SourceImage = res.Bucket, res.Keys, in.Id(), artifact.HCPSourceOf(in)
		return a, true, false, nil
	}
	others, err := otherDisks(ui, in, local)
	if err != nil {
		return nil, false, false, err
	}
	defer func() {
		for _, o := range others {
			o.Image.Close()
		}
	}()
	ena := aws.ToBool(c.ENASupport)
	enc := c.EncryptionConfig.Resolve(false, "") // an image file carries no encryption
	parent, base, baseRecord := p.deltaBase(ui, local.Path, cl.Region)
	var current *provenance.BlockMap
	if parent != "" {
		current = currentMap(ui, local.Path, local.Format)
	}
	rep := ec2common.NewUIReport(ui, "upload")
	res, err := cloud.Publish(ctx, cl, src, local.String(), cloud.PublishOptions{
		ParentSnapshotID: parent, Base: base, Current: current,
		Name: c.AMIName, Description: c.AMIDescription, Tags: c.Tags, SnapshotTags: c.SnapshotTags,
		Architecture: c.Architecture, BootMode: c.BootMode, ENA: &ena, RootDeviceName: c.RootDeviceName,
		VolumeType: c.VolumeType, IMDSSupport: c.IMDSSupport, Concurrency: c.EBSConcurrency,
		StateTimeout: c.StateTimeout, Report: rep.Report(),
		Encrypted: enc.Encrypted, KMSKeyID: enc.KMSKeyID, Replace: replace, Others: others,
	})
	rep.Close()
	if err != nil {
		return nil, false, false, err
	}
	var prov artifact.Provenance
	if res.Map != nil {
		prov, err = writePushRecord(local.Path, cl.Region, baseRecord, res)
		if err != nil {
			return nil, false, false, err
		}
		path := prov.Path
		how := "in full"
		if res.Parent != "" {
			how = "as a delta onto " + res.Parent
		}
		ui.Message(fmt.Sprintf("Pushed %s (%d blocks written); provenance record %s", how, res.Stats.Blocks, path))
	}
	copies := map[string]*cloud.Published{}
	if err := p.distribute(ctx, ui, cl, res, copies); err != nil {
		return nil, false, false, err
	}
	a := ec2common.NewAMIArtifact(BuilderID, cl, res.ImageID, res.SnapshotID, in.State("generated_data"))
	a.Input, a.SourceImage = in.Id(), artifact.HCPSourceOf(in)
	a.Provenance = prov // the push's record beside the input (kept: the next push's base)
	prov.Put(a.StateData)
	if len(res.Snapshots) > 1 {
		a.Snapshots = res.Snapshots
	}
	if len(copies) > 0 {
		a.RegionSnapshots = map[string]string{cl.Region: res.SnapshotID}
		for r, cp := range copies {
			a.Amis[r], a.RegionSnapshots[r] = cp.ImageID, cp.SnapshotID
		}
	}
	return a, true, false, nil
}

// otherDisks opens the other disks of a guest on several disks (the artifact's image_paths
// after the boot disk) for Publish: each becomes a snapshot mapped in the AMI after the root
// device (/dev/xvdb, /dev/xvdc... in the root's spelling). They are read from the same list
// and format as the boot disk the import chose; when the import reads the boot disk from
// elsewhere (an OVA, another format), the others are not pushed and OtherDisksNote says so.
// The caller closes the images.
func otherDisks(ui packersdk.Ui, in packersdk.Artifact, local *artifact.LocalInput) ([]cloud.OtherDisk, error) {
	paths, format, err := artifact.LocalImages(in)
	if err != nil || len(paths) < 2 {
		return nil, nil
	}
	if format == "" {
		format = local.Format
	}
	if paths[0] != local.Path || local.Format == "ova" || format != local.Format {
		ui.Say(artifact.OtherDisksNote(in) + fmt.Sprintf(" (the boot disk is read from %s, not from the list of disks)", local))
		return nil, nil
	}
	var out []cloud.OtherDisk
	for i, p := range paths[1:] {
		img, err := diskimage.OpenDisk(p, format)
		if err != nil {
			for _, o := range out {
				o.Image.Close()
			}
			return nil, fmt.Errorf("open disk %d of %d, %s: %w", i+2, len(paths), p, err)
		}
		out = append(out, cloud.OtherDisk{Image: img, Label: fmt.Sprintf("%s (disk %d, %s)", p, i+2, format)})
	}
	ui.Say(fmt.Sprintf("The guest has %d disks: the boot disk is the AMI's root, the other %d are snapshots mapped after it", len(paths), len(paths)-1))
	return out, nil
}

// distribute shares the published image (ami_users, snapshot_users...) and copies it to
// ami_regions, filling copies. The image and its copies are not handed on until the
// artifact is returned: on failure the copies are gone (CopyImages) and the image, its
// snapshot and bundle objects are deleted here.
func (p *PostProcessor) distribute(ctx context.Context, ui packersdk.Ui, cl *cloud.Clients, res *cloud.Published, copies map[string]*cloud.Published) error {
	c := &p.config
	err := func() error {
		im, err := cloud.GetImage(ctx, cl.EC2, res.ImageID)
		if err != nil {
			return err
		}
		if share := c.Share(); !share.Empty() {
			ui.Say("Sharing " + res.ImageID + "...")
			if err := cloud.ShareImage(ctx, cl.EC2, res.ImageID, cloud.Snapshots(im), share); err != nil {
				return err
			}
		}
		if len(c.AMIRegions) == 0 {
			return nil
		}
		var regions []string
		for _, r := range c.AMIRegions {
			if r != cl.Region {
				regions = append(regions, r)
			}
		}
		enc := cloud.Encrypted(im)
		rep := ec2common.NewUIReport(ui, "copy")
		defer rep.Close()
		done, err := cloud.CopyImages(ctx, cl, res.ImageID, regions, func(region string) cloud.CopyOptions {
			return c.ShareConfig.CopyOptions(region, c.AMIName, c.AMIDescription, c.Tags, c.SnapshotTags, enc, c.StateTimeout)
		}, rep.Report())
		for r, cp := range done {
			copies[r] = cp
		}
		return err
	}()
	if err == nil {
		return nil
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
	defer cancel()
	ui.Say(fmt.Sprintf("Deleting %s (the import did not complete)...", res.ImageID))
	var extra []string
	if res.SnapshotID != "" {
		extra = append(extra, res.SnapshotID)
	}
	if derr := cloud.DeleteImage(dctx, cl.EC2, res.ImageID, extra...); derr != nil {
		ui.Error(derr.Error())
	}
	if len(res.Keys) > 0 {
		if derr := cloud.DeleteObjects(dctx, cl.S3, res.Bucket, res.Keys); derr != nil {
			ui.Error(derr.Error())
		}
	}
	return err
}
