package common

import (
	"context"
	"fmt"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/packerbuilderdata"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
)

// State keys shared by the chroot steps.
const (
	StateWorkingImage = "working_image" // string: path of the local raw working copy
	StateDisk         = "disk"          // *chroot.Disk
	StateGuest        = "guest"         // *chroot.Guest
	StateMountPath    = "mount_path"    // string
	StateOSRelease    = "os_release"    // string: the guest's /etc/os-release, if any
)

// StepAttach attaches the working copy (state "working_image") to loop devices, one for the
// disk and one per partition.
//
// Produces: disk *chroot.Disk
type StepAttach struct {
	disk *chroot.Disk
}

func (s *StepAttach) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	image := state.Get(StateWorkingImage).(string)
	ui.Say(fmt.Sprintf("Attaching %s to loop devices...", image))
	d, err := chroot.Attach(image, false)
	if err != nil {
		return Halt(state, fmt.Errorf("attach working copy: %w", err))
	}
	s.disk = d
	PushRelease(state, s)
	for _, p := range d.Partitions {
		ui.Message(fmt.Sprintf("%s on %s", p, p.Device))
	}
	state.Put(StateDisk, d)
	(&packerbuilderdata.GeneratedData{State: state}).Put("WorkingImage", image)
	return multistep.ActionContinue
}

func (s *StepAttach) Release(state multistep.StateBag) error {
	if s.disk == nil {
		return nil
	}
	err := s.disk.Detach()
	s.disk = nil
	return err
}

func (s *StepAttach) Cleanup(state multistep.StateBag) { CleanupRelease(state, s) }
