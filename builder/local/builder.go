// Package local is the chromogenic-local builder: it starts from a disk image file, makes a
// sparse raw working copy, mounts the guest and lets provisioners work inside it through a
// chroot. The source file is never written to.
package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// BuilderID identifies artifacts of this builder.
const BuilderID = "chromogenic.local"

// GeneratedData are the build variables (`build.MountPath`...) the builder declares and sets;
// docs/builders/local.mdx lists the same (a test compares them).
var GeneratedData = bcommon.GeneratedDataKeys

// Builder is the chromogenic-local builder.
type Builder struct {
	config Config
}

func (b *Builder) ConfigSpec() hcldec.ObjectSpec { return b.config.FlatMapstructure().HCL2Spec() }

func (b *Builder) Prepare(raws ...interface{}) ([]string, []string, error) {
	warnings, err := b.config.Prepare(raws...)
	if err != nil {
		return nil, warnings, err
	}
	return GeneratedData, warnings, nil
}

// provenanceSource is the record's source: the source file(s), absolute.
func (b *Builder) provenanceSource(multistep.StateBag) provenance.Source {
	src := provenance.Source{Cloud: "local"}
	for _, p := range b.config.sources() {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		src.Paths = append(src.Paths, p)
	}
	src.Path = src.Paths[0]
	if len(src.Paths) == 1 {
		src.Paths = nil
	}
	return src
}

func (b *Builder) Run(ctx context.Context, ui packersdk.Ui, hook packersdk.Hook) (packersdk.Artifact, error) {
	if runtime.GOOS != "linux" {
		return nil, errors.New("chromogenic-local runs on Linux only (loop devices, mounts, chroot)")
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("chromogenic-local must run as root: it attaches loop devices, mounts filesystems and uses chroot")
	}
	images := b.config.workingCopies()
	image := images[0]

	state := new(multistep.BasicStateBag)
	state.Put("config", &b.config)
	state.Put("hook", hook)
	state.Put("ui", ui)
	bcommon.InitGeneratedData(state, GeneratedData)
	if len(images) > 1 {
		state.Put(bcommon.StateWorkingImages, images)
	}

	steps := []multistep.Step{
		&bcommon.StepOutputDir{Force: b.config.PackerForce, Path: b.config.OutputDir, FileMode: b.config.HostFileMode()},
	}
	for i, src := range b.config.sources() {
		steps = append(steps, &StepCopySource{Source: src, Format: b.config.SourceFormat, Target: images[i], Disk: i})
	}
	steps = append(steps, bcommon.ChrootSteps(&b.config.ChrootConfig, b.config.ctx)...)
	steps = append(steps, &bcommon.StepProvenance{Producer: "chromogenic-local", Source: b.provenanceSource})

	if err := bcommon.RunSteps(ctx, steps, b.config.PackerConfig, ui, state); err != nil {
		return nil, err
	}
	a := artifact.New(BuilderID, image, state)
	a.AddDisks(images[1:]...)
	if abs, err := filepath.Abs(b.config.sources()[0]); err == nil {
		a.SourceImage = abs
	}
	return a, nil
}
