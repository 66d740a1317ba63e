//go:build !linux

package common

import (
	"context"
	"fmt"
	"runtime"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/sandbox"
)

// Elsewhere than Linux the chroot steps exist so that the builders build and their
// configuration decodes (packer validate on macOS or Windows); each one halts the build.
// The builders refuse before their first step (RefuseUnlessLinux), so these are the last
// guard, never reached by a builder that checks.

// State keys shared by the chroot steps (as in step_open_image.go).
const (
	StateWorkingImage = "working_image"
	StateImage        = "opened_image"
	StateDisk         = "disk"
	StateGuest        = "guest"
	StateMountPath    = "mount_path"
	StateOSRelease    = "os_release"
)

func needsLinux() error {
	return fmt.Errorf("chromogenic builders need Linux (loop devices, mounts, chroot); this is %s/%s", runtime.GOOS, runtime.GOARCH)
}

// StepOpenImage halts: attaching and mounting need Linux.
type StepOpenImage struct {
	Config *ChrootConfig
	Ctx    interpolate.Context
}

func (s *StepOpenImage) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	return Halt(state, needsLinux())
}
func (s *StepOpenImage) Cleanup(multistep.StateBag) {}

// StepMountChroot halts: mounts need Linux.
type StepMountChroot struct{ Mounts []chroot.ChrootMount }

func (s *StepMountChroot) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	return Halt(state, needsLinux())
}
func (s *StepMountChroot) Cleanup(multistep.StateBag) {}

// StepCopyFiles halts: there is no mounted guest tree.
type StepCopyFiles struct{ Files []string }

func (s *StepCopyFiles) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	return Halt(state, needsLinux())
}
func (s *StepCopyFiles) Cleanup(multistep.StateBag) {}

// StepChrootProvision halts: guest programs run in the Linux sandbox only.
type StepChrootProvision struct{ Programs sandbox.Options }

func (s *StepChrootProvision) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	return Halt(state, needsLinux())
}
func (s *StepChrootProvision) Cleanup(multistep.StateBag) {}

// No image is ever opened here, so StepRelease has nothing to trim.
func imageOf(multistep.StateBag) *struct{} { return nil }
func trimImage(packersdk.Ui, *struct{})    {}
