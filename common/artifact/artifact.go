package artifact

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	registryimage "github.com/hashicorp/packer-plugin-sdk/packer/registry/image"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/bootable"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// Artifact state keys post-processors read to find the local image.
const (
	ImagePath   = "image_path"   // string: the local disk image
	ImageFormat = "image_format" // string: its format ("raw")
	OSRelease   = "os_release"   // string: the guest's os-release text, if known
)

// Artifact is a local disk image made by a chromogenic builder.
type Artifact struct {
	BuilderIDValue string
	Path           string
	Format         string
	// SourceImage is what the builder started from (the local builder's source_path), for
	// the HCP Packer metadata; empty if unknown.
	SourceImage string
	// OtherDisks are the images of the other disks of a guest on several disks, after Path
	// (see AddDisks and ImagePaths).
	OtherDisks []string
	// StateData carries generated_data and the image keys across Packer's RPC.
	StateData map[string]interface{}
	// Provenance is the record the builder wrote beside the working copy (SetProvenance).
	Provenance Provenance
}

// New returns the artifact for the raw working copy at path.
func New(builderID, path string, state multistep.StateBag) *Artifact {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	a := &Artifact{BuilderIDValue: builderID, Path: abs, Format: "raw",
		StateData: map[string]interface{}{ImagePath: abs, ImageFormat: "raw"}}
	if gd, ok := state.GetOk("generated_data"); ok {
		a.StateData["generated_data"] = gd
	}
	if osr, ok := state.GetOk(OSRelease); ok {
		a.StateData[OSRelease] = osr
	}
	CopyRootChoice(a.StateData, state)
	if p, ok := state.GetOk(BuildProvenance); ok {
		a.SetProvenance(p.(Provenance))
	}
	return a
}

// SetProvenance names the artifact's provenance record: in its state, its HCP Packer labels
// and its files (Destroy removes it with the working copy).
func (a *Artifact) SetProvenance(p Provenance) {
	a.Provenance = p
	p.Put(a.StateData)
}

func (a *Artifact) BuilderId() string { return a.BuilderIDValue }
func (a *Artifact) Files() []string {
	files := append([]string{a.Path}, a.OtherDisks...)
	if a.Provenance.Path != "" {
		files = append(files, a.Provenance.Path)
	}
	return files
}
func (a *Artifact) Id() string { return a.Path }
func (a *Artifact) String() string {
	if len(a.OtherDisks) > 0 {
		return fmt.Sprintf("Disk images (%s): %s (boot disk), %s", a.Format, a.Path, strings.Join(a.OtherDisks, ", "))
	}
	return fmt.Sprintf("Disk image (%s): %s", a.Format, a.Path)
}

// State answers the StateData keys and, for the HCP Packer registry, registryimage.ArtifactStateURI:
// the working copy as a local file (see HCPLocalImage).
func (a *Artifact) State(name string) interface{} {
	if name == registryimage.ArtifactStateURI {
		return []*registryimage.Image{HCPLocalImage(a.BuilderIDValue, a.Path, a.Format, "", a.SourceImage, a.Provenance.Labels(nil))}
	}
	return a.StateData[name]
}

// Destroy removes the working copy and its provenance record: Packer calls it when no
// post-processor keeps the input artifact (keep_input_artifact). They are the only things
// this artifact owns (docs/ownership.md).
func (a *Artifact) Destroy() error { return RemoveLocal(a.Files()...) }

// RemoveLocal removes the local files of an artifact (working copy, kernel and ramdisk brought
// home with it); files already gone are no error. Every chromogenic artifact's Destroy is
// RemoveLocal of its local files and nothing else: a cloud image, AMI, snapshot or bundle a
// build published is never deleted by a later step (docs/ownership.md).
func RemoveLocal(files ...string) error {
	var errs []error
	for _, f := range files {
		if f == "" {
			continue
		}
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// CopyRootChoice copies the template's choice of the guest's root (root_partition,
// root_volume, root_subvolume: bootable.StateRootPartition, StateRootVolume and
// StateRootSubvolume, put by the builders' StepOpenImage) from a build's state into an
// artifact's state data.
func CopyRootChoice(data map[string]interface{}, state multistep.StateBag) {
	for _, k := range []string{bootable.StateRootPartition, bootable.StateRootVolume, bootable.StateRootSubvolume} {
		if v, ok := state.GetOk(k); ok {
			data[k] = v
		}
	}
}

// LocalImage finds the local disk image of an artifact and its format: the image_path and
// image_format state of chromogenic builders (their raw working copy: opened as raw by
// declaration, never by probing its first sector, which the guest wrote), else the first of
// its files that the image engine recognises as a disk image.
func LocalImage(a packersdk.Artifact) (path, format string, err error) {
	if p, ok := a.State(ImagePath).(string); ok && p != "" {
		if f, _ := a.State(ImageFormat).(string); f != "" {
			return p, f, nil
		}
		return p, "", nil // no format declared: OpenFormat detects it
	}
	for _, f := range a.Files() {
		img, err := diskimage.Open(f)
		if err != nil {
			continue
		}
		format := img.Format()
		img.Close()
		if fm := diskimage.ByExtension(f); format != "raw" || (fm != nil && fm.Name == "raw") {
			return f, format, nil
		}
	}
	return "", "", fmt.Errorf("artifact from %s has no local disk image (files: %v)", a.BuilderId(), a.Files())
}
