package ec2

import (
	"path/filepath"

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
	if ami, ok := state.GetOk("ami"); ok && cl != nil {
		a.Amis[cl.Region] = ami.(string)
		a.SnapshotID, _ = state.Get("snapshot_id").(string)
		a.Bucket, _ = state.Get("bundle_bucket").(string)
		a.BundleKeys, _ = state.Get("bundle_keys").([]string)
	}
	if p, ok := state.GetOk(bcommon.StateWorkingImage); ok {
		abs, _ := filepath.Abs(p.(string))
		a.LocalPath = abs
		a.StateData[artifact.ImagePath] = abs
		a.StateData[artifact.ImageFormat] = "raw"
	}
	for _, k := range []string{bootable.StateKernelPath, bootable.StateRamdiskPath} {
		if p, ok := state.GetOk(k); ok {
			abs, _ := filepath.Abs(p.(string))
			a.StateData[k] = abs
			a.Extra = append(a.Extra, abs)
		}
	}
	if gd, ok := state.GetOk("generated_data"); ok {
		a.StateData["generated_data"] = gd
	}
	return a
}
