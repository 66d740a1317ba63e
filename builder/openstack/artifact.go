package openstack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/bootable"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
)

// Artifact is a Glance image made by the builder, and the local working copy it came from
// (image mode), which post-processors such as chromogenic-convert read.
type Artifact struct {
	ImageID   string
	ImageName string
	Region    string
	LocalPath string
	Extra     []string // external kernel and ramdisk fetched with the image
	StateData map[string]interface{}
	clients   *cloud.Clients
}

func newArtifact(state multistep.StateBag, c *Config) *Artifact {
	a := &Artifact{Region: c.Region, StateData: map[string]interface{}{}}
	if img, ok := state.GetOk("image"); ok {
		a.ImageID, a.ImageName = img.(*images.Image).ID, img.(*images.Image).Name
	}
	if p, ok := state.GetOk(bcommon.StateWorkingImage); ok {
		abs, _ := filepath.Abs(p.(string))
		a.LocalPath = abs
		a.StateData[bcommon.ArtifactImagePath] = abs
		a.StateData[bcommon.ArtifactImageFormat] = "raw"
	}
	for _, k := range []string{bootable.StateKernelPath, bootable.StateRamdiskPath} {
		if p, ok := state.GetOk(k); ok {
			a.StateData[k] = p
			a.Extra = append(a.Extra, p.(string))
		}
	}
	if gd, ok := state.GetOk("generated_data"); ok {
		a.StateData["generated_data"] = gd
	}
	if osr, ok := state.GetOk(bcommon.StateOSRelease); ok {
		a.StateData[bcommon.ArtifactOSRelease] = osr
	}
	a.clients, _ = state.Get("clients").(*cloud.Clients)
	return a
}

func (a *Artifact) BuilderId() string { return BuilderID }

func (a *Artifact) Files() []string {
	if a.LocalPath == "" {
		return nil
	}
	return append([]string{a.LocalPath}, a.Extra...)
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

func (a *Artifact) State(name string) interface{} { return a.StateData[name] }

// Destroy deletes the Glance image and the working copy.
func (a *Artifact) Destroy() error {
	if a.LocalPath != "" {
		os.Remove(a.LocalPath)
	}
	for _, f := range a.Extra {
		os.Remove(f)
	}
	if a.ImageID != "" && a.clients != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		return cloud.DeleteImage(ctx, a.clients.Image, a.ImageID)
	}
	return nil
}
