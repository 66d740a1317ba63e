package ec2

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/bootable"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
)

// Artifact is an AMI made by the builder (or by chromogenic-ec2-import), and the local working
// copy it came from, which post-processors such as chromogenic-convert read.
type Artifact struct {
	BuilderIDValue string
	// Amis maps the region to the AMI ID.
	Amis       map[string]string
	SnapshotID string
	LocalPath  string
	// Bucket and BundleKeys are the objects of an instance-store image's bundle (Eucalyptus).
	Bucket     string
	BundleKeys []string
	// Extra are the external kernel and ramdisk of a Eucalyptus source image, brought home
	// next to the working copy (StateData kernel_path, ramdisk_path).
	Extra     []string
	StateData map[string]interface{}
}

func newArtifact(state multistep.StateBag) *Artifact {
	a := &Artifact{BuilderIDValue: BuilderID, Amis: map[string]string{}, StateData: map[string]interface{}{}}
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

// NewAMIArtifact is the artifact of a registered AMI alone.
func NewAMIArtifact(builderID string, cl *cloud.Clients, ami, snapshot string, generated interface{}) *Artifact {
	a := &Artifact{BuilderIDValue: builderID, Amis: map[string]string{cl.Region: ami}, SnapshotID: snapshot,
		StateData: map[string]interface{}{}}
	if generated != nil {
		a.StateData["generated_data"] = generated
	}
	return a
}

func (a *Artifact) BuilderId() string { return a.BuilderIDValue }

func (a *Artifact) Files() []string {
	if a.LocalPath == "" {
		return nil
	}
	return append([]string{a.LocalPath}, a.Extra...)
}

// Id is "region:ami-…" per AMI, comma separated, as the amazon plugins do; or the local path.
func (a *Artifact) Id() string {
	if len(a.Amis) == 0 {
		return a.LocalPath
	}
	var parts []string
	for _, r := range a.regions() {
		parts = append(parts, r+":"+a.Amis[r])
	}
	return strings.Join(parts, ",")
}

func (a *Artifact) regions() []string {
	var rs []string
	for r := range a.Amis {
		rs = append(rs, r)
	}
	sort.Strings(rs)
	return rs
}

func (a *Artifact) String() string {
	var amis []string
	for _, r := range a.regions() {
		amis = append(amis, fmt.Sprintf("%s: %s", r, a.Amis[r]))
	}
	switch {
	case len(amis) > 0 && a.LocalPath != "":
		return fmt.Sprintf("AMIs were created:\n%s\nWorking copy: %s", strings.Join(amis, "\n"), a.LocalPath)
	case len(amis) > 0:
		return fmt.Sprintf("AMIs were created:\n%s", strings.Join(amis, "\n"))
	}
	return fmt.Sprintf("Disk image (raw): %s", a.LocalPath)
}

func (a *Artifact) State(name string) interface{} {
	if name == "atlas.artifact.metadata" {
		m := map[string]string{}
		for r, id := range a.Amis {
			m["region."+r] = id
		}
		return m
	}
	return a.StateData[name]
}

// Destroy removes the local working copy and the kernel and ramdisk brought home with it.
// AMIs, their snapshots and bundles are published: they are never deregistered or deleted
// here, whatever keep_input_artifact says (docs/ownership.md).
func (a *Artifact) Destroy() error { return artifact.RemoveLocal(a.Files()...) }
