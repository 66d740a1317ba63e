//go:generate packer-sdc struct-markdown

package convert

// BootloaderOptions choose what boots a `bootable` disk with a PC BIOS (in the `bootable`
// block).
type BootloaderOptions struct {
	// What boots the disk with a PC BIOS (firmware `bios`, and `both` next to the EFI GRUB):
	// `grub` (GRUB 2 for BIOS: `core.img` built by the host's `grub-mkimage`, from
	// grub-pc-bin, with its modules inside, else by the guest's own in the sandbox; written
	// into the gap after the MBR, or into a BIOS boot partition on GPT; `/boot/grub/grub.cfg`
	// written by the plugin) or `extlinux` (the host's syslinux). Default: `grub` where GRUB's
	// i386-pc modules are on the host or in the guest, else `extlinux`. virt-v2v and cloud
	// image tools expect GRUB.
	Bootloader string `mapstructure:"bootloader"`
}
