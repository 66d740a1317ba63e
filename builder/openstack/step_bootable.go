package openstack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/bootable"
)

// StateUploadImage is the raw disk StepUpload sends instead of the working copy (the
// bootable disk of external_kernel = "bootable").
const StateUploadImage = "upload_image"

// StepBootable (external_kernel = "bootable") makes the provisioned working copy a whole disk
// that boots on its own, with internal/bootable (what chromogenic-convert's bootable block
// and `chromogenic convert --bootable` run): a BIOS partition table, the external kernel and
// ramdisk StepExternalKernel fetched folded into /boot (the guest's own kernel when the
// source had none), an initramfs and GRUB 2 (extlinux where GRUB cannot be built). The disk is written next to the working copy,
// which is left as it is (it stays the artifact's local copy). The disk is the upload's
// input only: Cleanup removes it whatever the outcome.
//
// Produces: upload_image string
type StepBootable struct {
	Config *Config
	path   string
}

func (s *StepBootable) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	working := state.Get(bcommon.StateWorkingImage).(string)
	kernel, _ := state.Get(bootable.StateKernelPath).(string)
	ramdisk, _ := state.Get(bootable.StateRamdiskPath).(string)
	s.path = strings.TrimSuffix(working, filepath.Ext(working)) + ".bootable.raw"
	msg := fmt.Sprintf("external_kernel = \"bootable\": making %s a stand-alone bootable disk (firmware bios)", working)
	if kernel != "" {
		msg += ", kernel " + kernel
	}
	ui.Say(msg)
	res, err := bootable.Make(ctx, working, s.path, bootable.Options{SourceFormat: "raw", Firmware: bootable.FirmwareBIOS,
		Kernel: kernel, Ramdisk: ramdisk, WorkDir: filepath.Dir(s.path), TrustGuest: !*s.Config.Sandbox,
		Logf: func(f string, a ...any) { ui.Message(fmt.Sprintf(f, a...)) }})
	if err != nil {
		return bcommon.Halt(state, fmt.Errorf("external_kernel = \"bootable\": %w", err))
	}
	ui.Say(fmt.Sprintf("Bootable disk ready: %s table, kernel %s, %s; root UUID %s", res.PartitionType, res.KernelVersion,
		strings.Join(res.Bootloaders, " + "), res.RootUUID))
	state.Put(StateUploadImage, s.path)
	return multistep.ActionContinue
}

func (s *StepBootable) Cleanup(state multistep.StateBag) {
	if s.path == "" {
		return
	}
	if err := os.Remove(s.path); err != nil && !os.IsNotExist(err) {
		state.Get("ui").(packersdk.Ui).Error(err.Error())
	}
}
