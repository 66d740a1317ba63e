package ec2

import (
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact"
	ec2common "github.com/chromogenic/packer-plugin-chromogenic/common/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/bootable"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
)

// newArtifact is the builder's artifact (ec2common.Artifact): the AMI it registered, if any,
// and the working copy with the kernel and ramdisk brought home next to it.
func newArtifact(state multistep.StateBag) *ec2common.Artifact {
	a := &ec2common.Artifact{BuilderIDValue: BuilderID, Amis: map[string]string{}, StateData: map[string]interface{}{}}
	cl, _ := state.Get("clients").(*cloud.Clients)
	if c, ok := state.Get("config").(*Config); ok {
		a.Eucalyptus = c.IsEucalyptus()
	}
	// What was captured: an instance (and the AMI it was launched from) or an AMI. The
	// source_image state of an instance capture is the intermediate AMI, not the source.
	if inst, ok := state.Get("instance").(*types.Instance); ok {
		a.SourceInstance, a.SourceImage = aws.ToString(inst.InstanceId), aws.ToString(inst.ImageId)
	} else if img, ok := state.Get("source_image").(*types.Image); ok {
		a.SourceImage = aws.ToString(img.ImageId)
	}
	if ami, ok := state.GetOk("ami"); ok && cl != nil {
		a.Amis[cl.Region] = ami.(string)
		a.SnapshotID, _ = state.Get("snapshot_id").(string)
		a.Snapshots, _ = state.Get(stateSnapshotIDs).([]string)
		a.Bucket, _ = state.Get("bundle_bucket").(string)
		a.BundleKeys, _ = state.Get("bundle_keys").([]string)
	}
	if amis, ok := state.Get("amis").(map[string]string); ok { // ami_regions
		for r, id := range amis {
			a.Amis[r] = id
		}
		a.RegionSnapshots, _ = state.Get("region_snapshots").(map[string]string)
	}
	if p, ok := state.GetOk(bcommon.StateWorkingImage); ok {
		abs, _ := filepath.Abs(p.(string))
		a.LocalPath = abs
		a.StateData[artifact.ImagePath] = abs
		a.StateData[artifact.ImageFormat] = "raw"
		if paths, ok := state.Get(bcommon.StateWorkingImages).([]string); ok && len(paths) > 1 {
			a.AddDisks(paths[1:]...)
		}
	}
	for _, k := range []string{bootable.StateKernelPath, bootable.StateRamdiskPath} {
		if p, ok := state.GetOk(k); ok {
			abs, _ := filepath.Abs(p.(string))
			a.StateData[k] = abs
			a.Extra = append(a.Extra, abs)
		}
	}
	if p, ok := state.Get(artifact.BuildProvenance).(artifact.Provenance); ok && a.LocalPath != "" {
		a.Provenance = p // the capture's record beside the working copy: Files and Destroy cover it
		p.Put(a.StateData)
		a.Extra = append(a.Extra, p.Path)
	}
	artifact.CopyRootChoice(a.StateData, state)
	if gd, ok := state.GetOk("generated_data"); ok {
		a.StateData["generated_data"] = gd
	}
	return a
}
