//go:build linux

package bootable

import (
	"fmt"
	"regexp"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
)

// btrfsKernelPath is what a subvolume path may hold to be written on a kernel command line.
var btrfsKernelPath = regexp.MustCompile(`^[A-Za-z0-9@._+/-]{1,255}$`)

// btrfsRootflags returns what the kernel command line needs to mount a btrfs root that is a
// subvolume (Fedora's "root", Ubuntu's "@", openSUSE's snapper snapshot): " rootflags=subvol=<path>",
// or "" for a root on the top level or another filesystem. kernelOnRoot says the kernel is
// in the root filesystem's /boot (no separate /boot): boot loaders read that btrfs from its
// top level, so their paths would need the subvolume's prefix, which is not written yet: that
// layout is refused, naming it.
func btrfsRootflags(root *chroot.Partition, kernelOnRoot bool) (string, error) {
	if root.FSType != "btrfs" || root.Btrfs == nil {
		return "", nil
	}
	rp := root.Btrfs.RootPath()
	if rp == "" {
		if root.Btrfs.Default != 5 {
			return " rootflags=subvolid=5", nil // the top level, although another subvolume is the default
		}
		return "", nil
	}
	if kernelOnRoot {
		return "", fmt.Errorf("the guest's root is btrfs subvolume %q with the kernel in its /boot: boot loader paths inside "+
			"a btrfs subvolume are not written yet (supported: a btrfs root subvolume with a separate /boot partition, "+
			"as Fedora has, or a root on the btrfs top level)", rp)
	}
	if !btrfsKernelPath.MatchString(rp) {
		return "", fmt.Errorf("the guest's root is btrfs subvolume %q, whose name cannot be written on a kernel command line", rp)
	}
	return " rootflags=subvol=" + rp, nil
}
