package openstack

import (
	"fmt"
	"path/filepath"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	registryimage "github.com/hashicorp/packer-plugin-sdk/packer/registry/image"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact"
	openstackcommon "github.com/chromogenic/packer-plugin-chromogenic/common/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/bootable"
)

// Artifact is a Glance image made by the builder, and the local working copy it came from
// (image mode), which post-processors such as chromogenic-convert read.
type Artifact struct {
	ImageID   string
	ImageName string
	Region    string
	LocalPath string
	// OtherDisks are the working copies of the server's other disks (disks = "all"), after
	// LocalPath, the root's.
	OtherDisks []string
	Extra      []string // external kernel and ramdisk fetched with the image
	// For the HCP Packer metadata: the Glance image made, the clouds.yaml cloud and what
	// was captured.
	Image     *images.Image
	Cloud     string
	Source    openstackcommon.HCPSource
	StateData map[string]interface{}
	// Provenance is the record written beside the working copy (image mode).
	Provenance artifact.Provenance
}

func newArtifact(state multistep.StateBag, c *Config) *Artifact {
	a := &Artifact{Region: c.Region, Cloud: c.Cloud, StateData: map[string]interface{}{}}
	if img, ok := state.Get("image").(*images.Image); ok {
		a.Image = img
		a.ImageID, a.ImageName = img.ID, img.Name
	}
	// What was captured: a server (and the image it booted from) or a Glance image. The
	// source_image state of a server capture is its snapshot, not the source.
	if srv, ok := state.Get("server").(*servers.Server); ok {
		a.Source.Instance = srv.ID
		a.Source.Image, _ = srv.Image["id"].(string)
	} else if img, ok := state.Get("source_image").(*images.Image); ok {
		a.Source.Image = img.ID
	}
	if p, ok := state.GetOk(bcommon.StateWorkingImage); ok {
		abs, _ := filepath.Abs(p.(string))
		a.LocalPath = abs
		a.StateData[artifact.ImagePath] = abs
		a.StateData[artifact.ImageFormat] = "raw"
		if paths, ok := state.Get(bcommon.StateWorkingImages).([]string); ok && len(paths) > 1 {
			a.OtherDisks = artifact.AddDisks(a.StateData, a.LocalPath, a.OtherDisks, paths[1:]...)
		}
	}
	for _, k := range []string{bootable.StateKernelPath, bootable.StateRamdiskPath} {
		if p, ok := state.GetOk(k); ok {
			a.StateData[k] = p
			a.Extra = append(a.Extra, p.(string))
		}
	}
	artifact.CopyRootChoice(a.StateData, state)
	if gd, ok := state.GetOk("generated_data"); ok {
		a.StateData["generated_data"] = gd
	}
	if p, ok := state.Get(artifact.BuildProvenance).(artifact.Provenance); ok {
		a.Provenance = p
		p.Put(a.StateData)
	}
	if osr, ok := state.GetOk(bcommon.StateOSRelease); ok {
		a.StateData[artifact.OSRelease] = osr
	}
	return a
}

func (a *Artifact) BuilderId() string { return BuilderID }

func (a *Artifact) Files() []string {
	if a.LocalPath == "" {
		return nil
	}
	files := append(append([]string{a.LocalPath}, a.OtherDisks...), a.Extra...)
	if a.Provenance.Path != "" {
		files = append(files, a.Provenance.Path)
	}
	return files
}

func (a *Artifact) Id() string {
	if a.ImageID != "" {
		return a.ImageID
	}
	return a.LocalPath
}

func (a *Artifact) String() string {
	switch {
	case a.ImageID != "" && a.LocalPath != "":
		return fmt.Sprintf("OpenStack image %s (%s); working copy %s", a.ImageName, a.ImageID, a.LocalPath)
	case a.ImageID != "":
		return fmt.Sprintf("OpenStack image %s (%s)", a.ImageName, a.ImageID)
	}
	return fmt.Sprintf("Disk image (raw): %s", a.LocalPath)
}

// State answers the StateData keys and, for the HCP Packer registry,
// registryimage.ArtifactStateURI: the Glance image (openstackcommon.HCPImage) and the working
// copy as a local file when there is one.
func (a *Artifact) State(name string) interface{} {
	if name != registryimage.ArtifactStateURI {
		return a.StateData[name]
	}
	var imgs []*registryimage.Image
	if a.Image != nil {
		img := openstackcommon.HCPImage(BuilderID, a.Cloud, a.Region, a.Image, a.Source)
		a.Provenance.Labels(img.Labels)
		imgs = append(imgs, img)
	}
	if a.LocalPath != "" {
		imgs = append(imgs, artifact.HCPLocalImage(BuilderID, a.LocalPath, "raw", "", a.Source.Image,
			a.Provenance.Labels(map[string]string{artifact.LabelSourceInstance: a.Source.Instance})))
	}
	return imgs
}

// Destroy removes the local working copy, the kernel and ramdisk brought home with it and
// the provenance record beside it.
// The Glance image is published: it is never deleted here, whatever keep_input_artifact says
// (docs/ownership.md).
func (a *Artifact) Destroy() error { return artifact.RemoveLocal(a.Files()...) }
