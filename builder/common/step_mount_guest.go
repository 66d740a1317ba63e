package common

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/packerbuilderdata"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
)

// StepMountGuest finds the guest's root filesystem, mounts it on mount_path and mounts the
// guest fstab's /boot and /boot/efi below it.
//
// Produces: guest *chroot.Guest, mount_path string, generated data MountPath, Device.
type StepMountGuest struct {
	Config *ChrootConfig
	Ctx    interpolate.Context
	guest  *chroot.Guest
}

type mountPathData struct{ Device string }

func (s *StepMountGuest) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	d := state.Get(StateDisk).(*chroot.Disk)

	s.Ctx.Data = &mountPathData{Device: filepath.Base(d.Device)}
	mountPath, err := interpolate.Render(s.Config.MountPath, &s.Ctx)
	if err != nil {
		return Halt(state, fmt.Errorf("mount_path: %w", err))
	}
	mountPath, err = filepath.Abs(mountPath)
	if err != nil {
		return Halt(state, fmt.Errorf("mount_path: %w", err))
	}
	// Builds killed without cleanup (SIGKILL) leave their mounts behind: release them first.
	if released, err := chroot.RecoverStale(); err != nil {
		ui.Error(err.Error())
	} else {
		for _, r := range released {
			ui.Say(fmt.Sprintf("Released the guest mounts a killed build left on %s", r))
		}
	}
	if busy := chroot.MountedUnder(mountPath); len(busy) > 0 {
		return Halt(state, fmt.Errorf("mount_path %s is already in use (%s mounted)", mountPath, busy[0]))
	}

	ui.Say("Finding the guest's root filesystem...")
	g, err := chroot.MountGuest(d, mountPath, chroot.GuestOptions{
		RootPartition: s.Config.RootPartition,
		MountOptions:  s.Config.MountOptions,
		FstabMounts:   s.Config.FstabMounts,
	})
	if err != nil {
		return Halt(state, err)
	}
	s.guest = g
	PushRelease(state, s)
	ui.Message(fmt.Sprintf("Root: %s, mounted on %s", g.Root, g.Mounts.Root))
	for _, p := range g.Paths()[1:] {
		ui.Message(fmt.Sprintf("Mounted %s", p))
	}
	for _, sk := range g.Skipped {
		ui.Say(fmt.Sprintf("Warning: not mounted: %s", sk))
	}
	state.Put(StateGuest, g)
	state.Put(StateMountPath, g.Mounts.Root)
	// os-release is a few hundred bytes; a larger one is not recorded.
	if osr, err := g.Guest().ReadFileLimit("/etc/os-release", 64<<10); err == nil {
		state.Put(StateOSRelease, string(osr))
	}
	gd := &packerbuilderdata.GeneratedData{State: state}
	gd.Put("MountPath", g.Mounts.Root)
	gd.Put("Device", d.Device)
	return multistep.ActionContinue
}

func (s *StepMountGuest) Release(state multistep.StateBag) error {
	if s.guest == nil {
		return nil
	}
	err := s.guest.UnmountAll()
	s.guest = nil
	return err
}

func (s *StepMountGuest) Cleanup(state multistep.StateBag) { CleanupRelease(state, s) }

func guestOf(state multistep.StateBag) *chroot.Guest {
	g, _ := state.Get(StateGuest).(*chroot.Guest)
	return g
}

func trimGuest(ui packersdk.Ui, g *chroot.Guest) {
	for _, fs := range g.Filesystems {
		n, err := chroot.Trim(fs)
		if err != nil {
			ui.Error(fmt.Sprintf("trim %s: %s", fs, err))
			continue
		}
		ui.Message(fmt.Sprintf("Trimmed %s: %d MiB of free space discarded", fs, n>>20))
	}
}
