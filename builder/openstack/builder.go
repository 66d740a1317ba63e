// Package openstack is the chromogenic-openstack builder: it captures a running server (Nova
// snapshot) or starts from a Glance image, brings the image home as a sparse local working
// copy, runs provisioners inside it through a chroot, and uploads the result as a new image.
// The user's server and source image are never modified.
package openstack

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	openstackcommon "github.com/chromogenic/packer-plugin-chromogenic/common/openstack"
)

// BuilderID identifies artifacts of this builder.
const BuilderID = openstackcommon.BuilderID

// GeneratedData are the build variables (`build.ImageID`...) the builder declares and sets;
// docs/builders/openstack.mdx lists the same (a test compares them).
var GeneratedData = append([]string{"SourceImageID", "SnapshotID", "ImageID"}, bcommon.GeneratedDataKeys...)

// Builder is the chromogenic-openstack builder.
type Builder struct {
	config Config
}

func (b *Builder) ConfigSpec() hcldec.ObjectSpec { return b.config.FlatMapstructure().HCL2Spec() }

func (b *Builder) Prepare(raws ...interface{}) ([]string, []string, error) {
	if err := b.config.Prepare(raws...); err != nil {
		return nil, nil, err
	}
	return GeneratedData, b.config.Deprecated(), nil
}

func (b *Builder) Run(ctx context.Context, ui packersdk.Ui, hook packersdk.Hook) (packersdk.Artifact, error) {
	c := &b.config
	imageMode := c.Mode == "image"
	if err := bcommon.RefuseUnlessLinux("chromogenic-openstack in image mode"); imageMode && err != nil {
		return nil, err
	}
	if imageMode && os.Geteuid() != 0 {
		return nil, errors.New("chromogenic-openstack in image mode must run as root: it attaches loop devices, mounts filesystems and uses chroot")
	}
	state := new(multistep.BasicStateBag)
	state.Put("config", c)
	state.Put("hook", hook)
	state.Put("ui", ui)
	bcommon.InitGeneratedData(state, GeneratedData)

	steps := []multistep.Step{
		&StepConnect{Access: &c.AccessConfig},
		&StepSource{Config: c},
	}
	if imageMode {
		target := filepath.Join(c.OutputDir, buildName(c)+".raw")
		steps = append(steps, &StepSnapshot{Config: c})
		if c.Disks == DisksAll {
			// the volumes' snapshots right after the root's, then their copies
			steps = append(steps, &StepVolumeSnapshots{Config: c}, &StepVolumeCopies{Config: c}, &StepVolumeImages{Config: c})
		}
		steps = append(steps,
			&bcommon.StepOutputDir{Force: c.PackerForce, Path: c.OutputDir, FileMode: c.HostFileMode()},
			&StepDownload{Config: c, Target: target, KeepSnapshot: c.KeepSnapshot},
		)
		if c.Disks == DisksAll {
			steps = append(steps, &StepDownloadDisks{Target: target})
		}
		steps = append(steps, &StepExternalKernel{Target: target})
		steps = append(steps, bcommon.ChrootSteps(&c.ChrootConfig, c.ctx)...)
		if c.ExternalKernel == ExternalKernelBootable {
			steps = append(steps, &StepBootable{Config: c})
		}
		if !c.SkipUpload {
			steps = append(steps, &StepUpload{Config: c})
		}
		steps = append(steps, &bcommon.StepProvenance{Producer: "chromogenic-openstack",
			Source: provenanceSource(c), Outputs: provenanceOutputs(c)})
	} else {
		steps = append(steps,
			// No guest tree: a provisioner that needs one fails the build here, before
			// the snapshot (the result) is made; shell-local ones run.
			&bcommon.StepNoGuestProvision{
				Reason: `chromogenic-openstack: mode = "snapshot" has no guest tree to provision`,
				Advice: `use mode = "image" to provision, or remove the provisioner`,
			},
			&StepSnapshot{Config: c},
			&StepSnapshotProvenance{Config: c},
			&StepFinishSnapshot{Config: c},
		)
	}

	if err := bcommon.RunSteps(ctx, steps, c.PackerConfig, ui, state); err != nil {
		return nil, err
	}
	return newArtifact(state, c), nil
}

func buildName(c *Config) string {
	if c.PackerBuildName != "" {
		return c.PackerBuildName
	}
	return "chromogenic-openstack"
}
