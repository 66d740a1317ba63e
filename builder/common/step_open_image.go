//go:build linux

package common

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/packerbuilderdata"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/bootable"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
)

// State keys shared by the chroot steps.
const (
	StateWorkingImage = "working_image" // string: path of the local raw working copy
	StateImage        = "opened_image"  // *chroot.Image: the working copy attached and mounted
	StateDisk         = "disk"          // *chroot.Disk
	StateGuest        = "guest"         // *chroot.Guest
	StateMountPath    = "mount_path"    // string
	StateOSRelease    = "os_release"    // string: the guest's /etc/os-release, if any
)

// StepOpenImage attaches the working copy (state "working_image") to loop devices, one for
// the disk and one per partition, finds the guest's root filesystem, mounts it on mount_path
// and mounts the guest fstab's /boot and /boot/efi below it: one chroot.OpenImage, released
// (unmounted, detached) by StepRelease or its own Cleanup.
//
// Produces: image *chroot.Image, disk *chroot.Disk, guest *chroot.Guest, mount_path string,
// os_release string, generated data WorkingImage, MountPath, Device.
type StepOpenImage struct {
	Config *ChrootConfig
	Ctx    interpolate.Context
	image  *chroot.Image
}

type mountPathData struct{ Device string }

func (s *StepOpenImage) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	image := state.Get(StateWorkingImage).(string)
	gd := &packerbuilderdata.GeneratedData{State: state}

	ui.Say(fmt.Sprintf("Attaching %s to loop devices...", image))
	attached := false
	images, _ := state.Get(StateWorkingImages).([]string)
	if len(images) == 0 {
		images = []string{image}
	} else {
		ui.Message(fmt.Sprintf("With %d more disks: %s", len(images)-1, strings.Join(images[1:], ", ")))
	}
	img, err := chroot.OpenImages(images, chroot.ImageOptions{
		Guest: chroot.GuestOptions{
			RootPartition: s.Config.RootPartition,
			RootVolume:    s.Config.RootVolume,
			RootSubvolume: s.Config.RootSubvolume,
			MountOptions:  s.Config.MountOptions,
			FstabMounts:   s.Config.FstabMounts,
		},
		Fsck: s.Config.FsckMode(), // the working copy: repair may write it
		// Called once attached, before mounting: the mount path may name the loop device.
		MountPathFor: func(d *chroot.Disk) (string, error) {
			attached = true
			for _, disk := range d.Disks() {
				for _, p := range disk.Partitions {
					ui.Message(fmt.Sprintf("%s on %s", p, p.Device))
				}
			}
			for _, v := range d.Volumes {
				ui.Message(fmt.Sprintf("%s on %s", v, v.Device))
			}
			gd.Put("WorkingImage", image)
			if m := s.Config.FsckMode(); m != chroot.FsckSkip {
				ui.Say(fmt.Sprintf("fsck = %q: each guest filesystem is checked before it is mounted", m))
			}
			return s.mountPath(ui, d)
		},
	})
	if err != nil {
		if !attached {
			err = fmt.Errorf("attach working copy: %w", err)
		}
		return Halt(state, err)
	}
	s.image = img
	PushRelease(state, s)
	g, d := img.Guest, img.Disk
	ui.Message(fmt.Sprintf("Root: %s, mounted on %s", g.Root, g.Mounts.Root))
	for _, p := range g.Paths()[1:] {
		ui.Message(fmt.Sprintf("Mounted %s", p))
	}
	for _, w := range d.Warnings() {
		ui.Say("Warning: " + w)
	}
	for _, sk := range g.Skipped {
		ui.Say(fmt.Sprintf("Warning: not mounted: %s", sk))
	}
	state.Put(StateImage, img)
	state.Put(StateDisk, d)
	state.Put(StateGuest, g)
	state.Put(StateMountPath, g.Mounts.Root)
	// os-release is a few hundred bytes; a larger one is not recorded.
	if osr, err := g.Guest().ReadFileLimit("/etc/os-release", 64<<10); err == nil {
		state.Put(StateOSRelease, string(osr))
	}
	// The template's choice of root, handed on in the artifact: a post-processor that mounts
	// the image again (chromogenic-convert's bootable) takes the same root, not its rule's.
	if s.Config.RootPartition != 0 {
		state.Put(bootable.StateRootPartition, s.Config.RootPartition)
	}
	if s.Config.RootVolume != "" {
		state.Put(bootable.StateRootVolume, s.Config.RootVolume)
	}
	if s.Config.RootSubvolume != "" {
		state.Put(bootable.StateRootSubvolume, s.Config.RootSubvolume)
	}
	gd.Put("MountPath", g.Mounts.Root)
	gd.Put("Device", d.Device)
	return multistep.ActionContinue
}

// mountPath renders mount_path for the attached disk d, after releasing what builds killed
// without cleanup left mounted, and refuses a mount path in use.
func (s *StepOpenImage) mountPath(ui packersdk.Ui, d *chroot.Disk) (string, error) {
	s.Ctx.Data = &mountPathData{Device: filepath.Base(d.Device)}
	mountPath, err := interpolate.Render(s.Config.MountPath, &s.Ctx)
	if err != nil {
		return "", fmt.Errorf("mount_path: %w", err)
	}
	mountPath, err = filepath.Abs(mountPath)
	if err != nil {
		return "", fmt.Errorf("mount_path: %w", err)
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
		return "", fmt.Errorf("mount_path %s is already in use (%s mounted)", mountPath, busy[0])
	}
	ui.Say("Finding the guest's root filesystem...")
	return mountPath, nil
}

// Release unmounts the guest tree (killing what was left running in it) and detaches the
// working copy's loop devices.
func (s *StepOpenImage) Release(state multistep.StateBag) error {
	if s.image == nil {
		return nil
	}
	err := s.image.Close()
	s.image = nil
	return err
}

func (s *StepOpenImage) Cleanup(state multistep.StateBag) { CleanupRelease(state, s) }

func imageOf(state multistep.StateBag) *chroot.Image {
	img, _ := state.Get(StateImage).(*chroot.Image)
	return img
}

// trimImage trims the guest filesystems of img, a line for each.
func trimImage(ui packersdk.Ui, img *chroot.Image) {
	img.Trim(func(fs string, n uint64, err error) {
		if err != nil {
			ui.Error(fmt.Sprintf("trim %s: %s", fs, err))
			return
		}
		ui.Message(fmt.Sprintf("Trimmed %s: %d MiB of free space discarded", fs, n>>20))
	})
}
