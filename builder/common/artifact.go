package common

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

// Artifact state keys post-processors read to find the local image.
const (
	ArtifactImagePath   = "image_path"   // string: the local disk image
	ArtifactImageFormat = "image_format" // string: its format ("raw")
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
