package openstack

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/bootable"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
)

// StepExternalKernel brings home the kernel and ramdisk of an image that Nova boots with an
// external kernel (the image's kernel_id and ramdisk_id properties, the AMI/AKI/ARI shape),
// next to the working copy, so that StepBootable (external_kernel = "bootable") or
// chromogenic-convert's bootable export can fold them into a disk that boots on its own. The
// files travel in the artifact (kernel_path, ramdisk_path). With external_kernel = "carry"
// StepUpload gives the new image the same kernel_id and ramdisk_id.
// Images without those properties are left alone.
//
// Produces: kernel_path string, ramdisk_path string (when the image names them)
type StepExternalKernel struct {
	Target string // the working copy; the files are Target.kernel and Target.ramdisk
	files  bcommon.ArtifactFiles
}

func (s *StepExternalKernel) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	s.files.Mode = bcommon.FileMode(state)
	clients := state.Get("clients").(*cloud.Clients)
	img := state.Get("source_image").(*images.Image)
	for _, part := range []struct{ prop, suffix, key string }{
		{"kernel_id", ".kernel", bootable.StateKernelPath},
		{"ramdisk_id", ".ramdisk", bootable.StateRamdiskPath},
	} {
		id, _ := img.Properties[part.prop].(string)
		if id == "" {
			continue
		}
		path := s.Target + part.suffix
		ui.Say(fmt.Sprintf("Image %s boots with the external %s %s: downloading it to %s...", img.ID, part.prop, id, path))
		if err := s.fetch(ctx, clients, id, path); err != nil {
			return bcommon.Halt(state, fmt.Errorf("%s %s of image %s: %w", part.prop, id, img.ID, err))
		}
		state.Put(part.key, path)
	}
	return multistep.ActionContinue
}

// fetch downloads one image, its hash verified at EOF, to path.
func (s *StepExternalKernel) fetch(ctx context.Context, clients *cloud.Clients, id, path string) error {
	ext, err := cloud.GetImage(ctx, clients.Image, id)
	if err != nil {
		return err
	}
	body, err := cloud.Download(ctx, clients.Image, ext)
	if err != nil {
		return err
	}
	defer body.Close()
	return s.files.Write(path, func(f *os.File) error {
		_, err := io.Copy(f, body)
		return err
	})
}

// Cleanup removes the files when the build failed; a successful build hands them to the
// artifact, whose Destroy removes them.
func (s *StepExternalKernel) Cleanup(state multistep.StateBag) { s.files.Cleanup(state) }
