package bootable

// Bootloader values (Options.Bootloader): what boots the disk with a PC BIOS. EFI always
// gets a standalone GRUB.
const (
	BootloaderGRUB     = "grub"
	BootloaderExtlinux = "extlinux"
)

// ValidBootloader reports whether b is "" (the default: GRUB where its i386-pc modules are
// on the host or in the guest, else extlinux), grub or extlinux.
func ValidBootloader(b string) bool {
	return b == "" || b == BootloaderGRUB || b == BootloaderExtlinux
}

// The BIOS boot partition a GPT disk gets for GRUB's core.img (layout.go, grub.go).
const (
	gptBIOSBoot  = "21686148-6449-6E6F-744E-656564454649"
	roleBIOSBoot = "biosboot"
	grubCfgPath  = "/boot/grub/grub.cfg"
)
