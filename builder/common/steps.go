package common

import (
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"
)

// GeneratedDataKeys are the build variables the chroot steps provide (`build.MountPath`...).
var GeneratedDataKeys = []string{"MountPath", "Device", "WorkingImage"}

// ChrootSteps is the shared part of every builder's recipe, once the raw working copy is in
// state "working_image": attach, mount, chroot mounts, copy files, provision, release.
func ChrootSteps(c *ChrootConfig, ctx interpolate.Context) []multistep.Step {
	return []multistep.Step{
		&StepAttach{},
		&StepMountGuest{Config: c, Ctx: ctx},
		&StepMountChroot{Mounts: c.Mounts()},
		&StepCopyFiles{Files: c.CopyFiles},
		&StepChrootProvision{},
		&StepRelease{SkipTrim: c.SkipTrim},
	}
}
