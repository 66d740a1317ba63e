package ec2common

import (
	"fmt"
	"sort"
	"strings"

	registryimage "github.com/hashicorp/packer-plugin-sdk/packer/registry/image"

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
	// RegionSnapshots maps the region to the snapshot of its AMI, when the AMI was copied to
	// other regions (ami_regions); SnapshotID is the build region's.
	RegionSnapshots map[string]string
	LocalPath       string
	// OtherDisks are the working copies of the other disks of a guest on several disks
	// (after LocalPath, the root's): Files and Destroy cover them and the image_paths state
	// lists every disk (AddDisks).
	OtherDisks []string
	// Snapshots are every disk's snapshot of an AMI of several disks, the root's
	// (SnapshotID) first; empty for one disk.
	Snapshots []string
	// Bucket and BundleKeys are the objects of an instance-store image's bundle (Eucalyptus).
	Bucket     string
	BundleKeys []string
	// Extra are the external kernel and ramdisk of a Eucalyptus source image, brought home
	// next to the working copy (StateData kernel_path, ramdisk_path).
	Extra []string
	// For the HCP Packer metadata: Eucalyptus says the cloud is Eucalyptus (provider
	// "eucalyptus", not "aws"); SourceImage and SourceInstance are what the builder
	// captured; Input is a post-processor's input artifact ID.
	Eucalyptus                  bool
	SourceImage, SourceInstance string
	Input                       string
	StateData                   map[string]interface{}
	// Provenance is the build's record (the capture's beside the working copy, or a push's
	// beside its input): named in StateData and in every HCP image's labels.
	Provenance artifact.Provenance
}

// NewAMIArtifact is the artifact of a registered AMI alone. The cloud is Eucalyptus when
// its clients lack EBS direct (cloud.Connect clears HasEBSDirect for Access.Eucalyptus,
// and only then).
func NewAMIArtifact(builderID string, cl *cloud.Clients, ami, snapshot string, generated interface{}) *Artifact {
	a := &Artifact{BuilderIDValue: builderID, Amis: map[string]string{cl.Region: ami}, SnapshotID: snapshot,
		Eucalyptus: !cl.HasEBSDirect, StateData: map[string]interface{}{}}
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
	files := append([]string{a.LocalPath}, a.OtherDisks...)
	return append(files, a.Extra...)
}

// AddDisks adds the working copies of the other disks of a guest on several disks, after
// LocalPath: Files and Destroy cover them, and the image_paths state lists every disk
// (artifact.ImagePaths), as artifact.Artifact's AddDisks does.
func (a *Artifact) AddDisks(paths ...string) {
	if len(paths) == 0 {
		return
	}
	if a.StateData == nil {
		a.StateData = map[string]interface{}{}
	}
	a.OtherDisks = artifact.AddDisks(a.StateData, a.LocalPath, a.OtherDisks, paths...)
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
	case len(amis) > 0 && a.LocalPath != "" && len(a.OtherDisks) > 0:
		return fmt.Sprintf("AMIs were created:\n%s\nSnapshots: %s\nWorking copies: %s", strings.Join(amis, "\n"),
			strings.Join(a.Snapshots, ", "), strings.Join(append([]string{a.LocalPath}, a.OtherDisks...), ", "))
	case len(amis) > 0 && a.LocalPath != "":
		return fmt.Sprintf("AMIs were created:\n%s\nWorking copy: %s", strings.Join(amis, "\n"), a.LocalPath)
	case len(amis) > 0:
		return fmt.Sprintf("AMIs were created:\n%s", strings.Join(amis, "\n"))
	}
	if len(a.OtherDisks) > 0 {
		return fmt.Sprintf("Disk images (raw): %s", strings.Join(append([]string{a.LocalPath}, a.OtherDisks...), ", "))
	}
	return fmt.Sprintf("Disk image (raw): %s", a.LocalPath)
}

// State answers the StateData keys, the old atlas.artifact.metadata (region.<r>: AMI) and,
// for the HCP Packer registry, registryimage.ArtifactStateURI: one image per AMI (provider
// aws or eucalyptus, region, source image and instance) and the working copy as a local
// file when there is one.
func (a *Artifact) State(name string) interface{} {
	switch name {
	case "atlas.artifact.metadata":
		m := map[string]string{}
		for r, id := range a.Amis {
			m["region."+r] = id
		}
		return m
	case registryimage.ArtifactStateURI:
		return a.hcpImages()
	}
	return a.StateData[name]
}

func (a *Artifact) hcpImages() []*registryimage.Image {
	provider, format := artifact.ProviderAWS, "ami"
	if a.Eucalyptus {
		provider, format = artifact.ProviderEucalyptus, "emi"
	}
	var imgs []*registryimage.Image
	for _, r := range a.regions() {
		snap := a.SnapshotID
		if s, ok := a.RegionSnapshots[r]; ok {
			snap = s
		}
		all := "" // the home region's AMI: copies have snapshots of their own
		if snap == a.SnapshotID {
			all = strings.Join(a.Snapshots, ",")
		}
		imgs = append(imgs, artifact.HCPImage(provider, r, a.Amis[r], a.SourceImage, a.Provenance.Labels(map[string]string{
			artifact.LabelDiskFormat: format, artifact.LabelSnapshotID: snap, artifact.LabelSnapshotIDs: all,
			artifact.LabelSourceInstance: a.SourceInstance, artifact.LabelBuilder: a.BuilderIDValue,
			artifact.LabelInput: a.Input, "bundle_bucket": a.Bucket,
		})))
	}
	if a.LocalPath != "" {
		imgs = append(imgs, artifact.HCPLocalImage(a.BuilderIDValue, a.LocalPath, "raw", "", a.SourceImage,
			a.Provenance.Labels(map[string]string{artifact.LabelSourceInstance: a.SourceInstance})))
	}
	return imgs
}

// Destroy removes the local working copy and the kernel and ramdisk brought home with it.
// AMIs, their snapshots and bundles are published: they are never deregistered or deleted
// here, whatever keep_input_artifact says (docs/ownership.md).
func (a *Artifact) Destroy() error { return artifact.RemoveLocal(a.Files()...) }
