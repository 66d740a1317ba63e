// Package ec2 is the chromogenic-ec2 builder: it captures a running EC2 instance (CreateImage)
// or starts from an EBS-backed AMI, brings the root snapshot home through the EBS direct API
// as a sparse local working copy, runs provisioners inside it through a chroot, and writes the
// result back through the EBS direct API as a new snapshot and AMI. On Eucalyptus (no EBS
// direct API) it captures a running instance-store instance with BundleInstance or starts
// from an instance-store EMI, brings the bundle home (internal/cloud/ec2/bundle), and
// registers the result as a new bundle or through ImportVolume. With capture_method "attach"
// (the default for EBS-backed sources on Eucalyptus) the root snapshot is instead made into a
// volume attached to the instance Packer runs on and read as a block device, as the amazon
// plugin's chroot builder does. The user's instance and source image are never modified.
//
// A build is a recipe (recipe.go): discover connects and finds the source, which settles the
// capture method; recipe then lists the steps of that method (one step per file), the shared
// chroot steps of builder/common, and the registration step of the cloud's dialect. No step
// skips itself. Publishing is the EC2 adapter's (internal/cloud/ec2.Publish,
// PublishEucalyptus), shared with chromogenic-ec2-import; the access and registration
// configuration and the artifact are common/ec2's. The builder trusts its validated
// configuration and the cloud's answers as the adapter checks them.
package ec2

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
)

// BuilderID identifies artifacts of this builder.
const BuilderID = "chromogenic.ec2"

// GeneratedData are the build variables (`build.ImageID`...) the builder declares and sets;
// docs/builders/ec2.mdx lists the same (a test compares them).
var GeneratedData = append([]string{"SourceAMI", "SourceSnapshot", "IntermediateAMI", "SnapshotID", "ImageID"}, bcommon.GeneratedDataKeys...)

// Builder is the chromogenic-ec2 builder.
type Builder struct {
	config Config
}

func (b *Builder) ConfigSpec() hcldec.ObjectSpec { return b.config.FlatMapstructure().HCL2Spec() }

func (b *Builder) Prepare(raws ...interface{}) ([]string, []string, error) {
	if err := b.config.Prepare(raws...); err != nil {
		return nil, nil, err
	}
	return GeneratedData, nil, nil
}

func (b *Builder) Run(ctx context.Context, ui packersdk.Ui, hook packersdk.Hook) (packersdk.Artifact, error) {
	c := &b.config
	if err := bcommon.RefuseUnlessLinux("chromogenic-ec2"); err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("chromogenic-ec2 must run as root: it attaches loop devices, mounts filesystems and uses chroot")
	}
	state := new(multistep.BasicStateBag)
	state.Put("config", c)
	state.Put("hook", hook)
	state.Put("ui", ui)
	bcommon.InitGeneratedData(state, GeneratedData)

	// The capture method depends on the source: the recipe is composed once it is found.
	if err := bcommon.RunSteps(ctx, discover(c), c.PackerConfig, ui, state); err != nil {
		return nil, err
	}
	_, instance := state.GetOk("instance")
	target := filepath.Join(c.OutputDir, buildName(c)+".raw")
	if err := bcommon.RunSteps(ctx, recipe(c, captureMethod(state), instance, target), c.PackerConfig, ui, state); err != nil {
		return nil, err
	}
	return newArtifact(state), nil
}
