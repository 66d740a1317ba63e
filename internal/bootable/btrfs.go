//go:build linux

package bootable

import (
	"fmt"
	"regexp"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
)

// btrfsKernelPath is what a subvolume path may hold to be written on a kernel command line
// and in grub.cfg (no quoting needed in either).
var btrfsKernelPath = regexp.MustCompile(`^[A-Za-z0-9@._+/-]{1,255}$`)

// btrfsRoot returns what booting a btrfs root needs. flags go on the kernel command line:
// " rootflags=subvol=<path>" for a root in a subvolume (Fedora's "root", Ubuntu's "@",
// openSUSE's snapper snapshot), " rootflags=subvolid=5" for the top level when another
// subvolume is the default, "" for a root on another filesystem. subvolDir is set when the
// kernel is in that root subvolume's own /boot (kernelOnRoot; openSUSE): the subvolume's
// path from the top level ("/@/.snapshots/1/snapshot"). GRUB's btrfs driver reads the
// filesystem from its top level (subvolume 5), whatever the default subvolume is, and walks
// into subvolumes by path, so every /boot path GRUB is given (prefix, kernel, initramfs)
// starts with it, as openSUSE's own grub.cfg does.
func btrfsRoot(root *chroot.Partition, kernelOnRoot bool) (flags, subvolDir string, err error) {
	if root.FSType != "btrfs" || root.Btrfs == nil {
		return "", "", nil
	}
	rp := root.Btrfs.RootPath()
	if rp == "" {
		if root.Btrfs.Default != 5 {
			return " rootflags=subvolid=5", "", nil // the top level, although another subvolume is the default
		}
		return "", "", nil
	}
	if !btrfsKernelPath.MatchString(rp) {
		return "", "", fmt.Errorf("the guest's root is btrfs subvolume %q, whose name cannot be written on a kernel command line", rp)
	}
	if kernelOnRoot {
		subvolDir = "/" + rp
	}
	return " rootflags=subvol=" + rp, subvolDir, nil
}

// extlinuxSubvolumeError is the refusal of extlinux for a kernel inside a btrfs subvolume.
func extlinuxSubvolumeError(subvolDir string) error {
	return fmt.Errorf("the guest's root is btrfs subvolume %q with the kernel in its /boot: extlinux cannot boot a kernel "+
		"inside a btrfs subvolume; use bootloader = \"grub\" (GRUB reads it by its path from the top level)", subvolDir[1:])
}
