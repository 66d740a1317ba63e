package ec2

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/bootable"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2/bundle"
)

// StepExternalKernel brings home the kernel (eki-) and ramdisk (eri-) a Eucalyptus
// instance-store EMI boots with, next to the working copy (Target.kernel, Target.ramdisk),
// so that chromogenic-convert's bootable export can fold them into a disk that boots on its
// own. The files travel in the artifact (kernel_path, ramdisk_path), whose Destroy removes
// them. The ids come from the source image (DescribeImages kernelId/ramdiskId), the captured
// instance, or else the source bundle's manifest; each is a bundle of its own, found with
// DescribeImages (imageLocation) and unbundled with the configured keys (the user's, else
// the cloud's). Kernels are usually bundled by the cloud administrator, encrypted to the
// cloud alone: a kernel the keys cannot open is a warning naming it and the
// chromogenic-convert option to give it by hand, not a failure.
//
// On AWS nothing is done: a paravirtual AMI's AKI is PV-GRUB, which boots the kernel the
// image holds in /boot; that kernel is the one a bootable export uses.
//
// Produces: kernel_path string, ramdisk_path string (when the image names them and they open)
type StepExternalKernel struct {
	Config *Config
	Target string // the working copy
	files  bcommon.ArtifactFiles
}

func (s *StepExternalKernel) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	s.files.Mode = bcommon.FileMode(state)
	cl := state.Get("clients").(*cloud.Clients)
	source, kernel, ramdisk := externalKernelIDs(state)
	if kernel == "" && ramdisk == "" {
		return multistep.ActionContinue
	}
	for _, part := range []struct{ what, id, suffix, key string }{
		{"kernel", kernel, ".kernel", bootable.StateKernelPath},
		{"ramdisk", ramdisk, ".ramdisk", bootable.StateRamdiskPath},
	} {
		if part.id == "" {
			continue
		}
		path := s.Target + part.suffix
		ui.Say(fmt.Sprintf("%s boots with the external %s %s: downloading and unbundling it into %s...", source, part.what, part.id, path))
		start := time.Now()
		size, err := s.fetch(ctx, cl, part.id, path)
		if err != nil {
			if ctx.Err() != nil {
				return bcommon.Halt(state, err)
			}
			os.Remove(path)
			ui.Error(fmt.Sprintf("Warning: the %s %s of %s cannot be brought home: %v. "+
				"Kernels and ramdisks are usually bundled by the cloud administrator and only open with the cloud's key "+
				"(eucalyptus.cloud_private_key_file). The build goes on without it; for a stand-alone bootable export, "+
				"unbundle %s yourself and give it to chromogenic-convert as bootable.kernel (and the ramdisk as bootable.ramdisk).",
				part.what, part.id, source, err, part.id))
			if part.what == "kernel" {
				// chromogenic-convert takes the artifact's ramdisk only with its kernel.
				return multistep.ActionContinue
			}
			continue
		}
		ui.Message(fmt.Sprintf("%s: %d bytes in %s", part.id, size, time.Since(start).Round(time.Millisecond)))
		state.Put(part.key, path)
	}
	return multistep.ActionContinue
}

// externalKernelIDs returns what boots with an external kernel (for messages) and the
// kernel and ramdisk ids: the source image's or captured instance's, else the manifest's.
func externalKernelIDs(state multistep.StateBag) (source, kernel, ramdisk string) {
	if img, ok := state.Get("source_image").(*types.Image); ok && img != nil {
		source, kernel, ramdisk = aws.ToString(img.ImageId), aws.ToString(img.KernelId), aws.ToString(img.RamdiskId)
	}
	if inst, ok := state.Get("instance").(*types.Instance); ok && inst != nil {
		source, kernel, ramdisk = aws.ToString(inst.InstanceId), aws.ToString(inst.KernelId), aws.ToString(inst.RamdiskId)
	}
	if m, ok := state.Get("source_manifest").(*bundle.Manifest); ok && m != nil {
		if source == "" {
			source = m.Name
		}
		if kernel == "" {
			kernel = m.KernelID
		}
		if ramdisk == "" {
			ramdisk = m.RamdiskID
		}
	}
	return source, kernel, ramdisk
}

// fetch unbundles the kernel or ramdisk image id into path.
func (s *StepExternalKernel) fetch(ctx context.Context, cl *cloud.Clients, id, path string) (int64, error) {
	img, err := cloud.GetImage(ctx, cl.EC2, id)
	if err != nil {
		return 0, err
	}
	loc := aws.ToString(img.ImageLocation)
	if _, _, err := cloud.Location(loc); err != nil {
		return 0, fmt.Errorf("%s is not a bundled image (image location %q)", id, loc)
	}
	var m *bundle.Manifest
	err = s.files.Write(path, func(f *os.File) (ferr error) {
		m, ferr = cloud.DownloadBundle(ctx, cl, loc, s.Config.Eucalyptus.Keys(), f, nil)
		return ferr
	})
	if err != nil {
		return 0, err
	}
	return m.Size, nil
}

// Cleanup removes the files when the build failed; a successful build hands them to the
// artifact, whose Destroy removes them.
func (s *StepExternalKernel) Cleanup(state multistep.StateBag) { s.files.Cleanup(state) }
