package common

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// Artifact state keys post-processors read to find the local image.
const (
	ArtifactImagePath   = "image_path"   // string: the local disk image
	ArtifactImageFormat = "image_format" // string: its format ("raw")
	ArtifactOSRelease   = "os_release"   // string: the guest's os-release text, if known
)

// Artifact is a local disk image made by a chromogenic builder.
type Artifact struct {
	BuilderIDValue string
	Path           string
	Format         string
	// StateData carries generated_data and the image keys across Packer's RPC.
	StateData map[string]interface{}
}

// NewArtifact returns the artifact for the raw working copy at path.
func NewArtifact(builderID, path string, state multistep.StateBag) *Artifact {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	a := &Artifact{BuilderIDValue: builderID, Path: abs, Format: "raw",
		StateData: map[string]interface{}{ArtifactImagePath: abs, ArtifactImageFormat: "raw"}}
	if gd, ok := state.GetOk("generated_data"); ok {
		a.StateData["generated_data"] = gd
	}
	if osr, ok := state.GetOk(StateOSRelease); ok {
		a.StateData[ArtifactOSRelease] = osr
	}
	return a
}

func (a *Artifact) BuilderId() string { return a.BuilderIDValue }
func (a *Artifact) Files() []string   { return []string{a.Path} }
func (a *Artifact) Id() string        { return a.Path }
func (a *Artifact) String() string {
	return fmt.Sprintf("Disk image (%s): %s", a.Format, a.Path)
}
func (a *Artifact) State(name string) interface{} { return a.StateData[name] }
func (a *Artifact) Destroy() error                { return os.Remove(a.Path) }

// LocalImage finds the local disk image of an artifact: the image_path state of chromogenic
// builders, else the first of its files that the image engine recognises as a disk image.
func LocalImage(a packersdk.Artifact) (string, error) {
	if p, ok := a.State(ArtifactImagePath).(string); ok && p != "" {
		return p, nil
	}
	for _, f := range a.Files() {
		img, err := diskimage.Open(f)
		if err != nil {
			continue
		}
		format := img.Format()
		img.Close()
		if format != "raw" || strings.HasSuffix(f, ".raw") || strings.HasSuffix(f, ".img") {
			return f, nil
		}
	}
	return "", fmt.Errorf("artifact from %s has no local disk image (files: %v)", a.BuilderId(), a.Files())
}
