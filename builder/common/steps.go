package common

import (
	"context"
	"errors"

	"github.com/hashicorp/packer-plugin-sdk/common"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	"github.com/hashicorp/packer-plugin-sdk/multistep/commonsteps"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"
)

// GeneratedDataKeys are the build variables the chroot steps provide (`build.MountPath`...).
var GeneratedDataKeys = []string{"MountPath", "Device", "WorkingImage"}

// InitGeneratedData sets every build variable a builder declares to "" in state
// "generated_data", before its steps run: a variable that the build's path never sets (a
// snapshot of an image source, the mount of a build without a guest tree) reads as empty,
// never as Packer's placeholder or "<unknown>". Steps overwrite them as they learn the values.
func InitGeneratedData(state multistep.StateBag, keys []string) {
	gd, _ := state.GetOk("generated_data")
	m, _ := gd.(map[string]interface{})
	if m == nil {
		m = map[string]interface{}{}
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			m[k] = ""
		}
	}
	state.Put("generated_data", m)
}

// ChrootSteps is the shared part of every builder's recipe, once the raw working copy is in
// state "working_image": attach and mount (one chroot.OpenImage), chroot mounts, copy files,
// provision, release.
func ChrootSteps(c *ChrootConfig, ctx interpolate.Context) []multistep.Step {
	return []multistep.Step{
		&StepOpenImage{Config: c, Ctx: ctx},
		&StepMountChroot{Mounts: c.Mounts()},
		&StepCopyFiles{Files: c.CopyFiles},
		&StepChrootProvision{Programs: c.GuestPrograms()},
		&StepRelease{SkipTrim: c.SkipTrim},
	}
}

// RunSteps runs a builder's recipe with Packer's runner (-debug pauses, on-error handling)
// and returns the error that stopped it, if any: a step's error, a cancellation or a halt.
func RunSteps(ctx context.Context, steps []multistep.Step, pc common.PackerConfig, ui packersdk.Ui, state multistep.StateBag) error {
	commonsteps.NewRunner(steps, pc, ui).Run(ctx, state)
	if err, ok := state.GetOk("error"); ok {
		return err.(error)
	}
	if _, ok := state.GetOk(multistep.StateCancelled); ok {
		return errors.New("build was cancelled")
	}
	if _, ok := state.GetOk(multistep.StateHalted); ok {
		return errors.New("build was halted")
	}
	return nil
}
