package ec2common

import (
	"fmt"
	"sort"
	"strings"

	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact"
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
