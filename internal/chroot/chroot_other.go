//go:build !linux

package chroot

// Elsewhere than Linux the package has only what a builder's configuration needs to be
// decoded and validated (packer validate on macOS or Windows); attaching, mounting and
// chroot are Linux only, and the builders refuse to run elsewhere before they start.

// ChrootMount is one extra mount for the chroot: [fstype, source, guest path].
type ChrootMount [3]string

// DefaultChrootMounts are mounted unless the template says otherwise (as in guest.go).
var DefaultChrootMounts = []ChrootMount{
	{"proc", "proc", "/proc"},
	{"sysfs", "sysfs", "/sys"},
	{"bind", "/dev", "/dev"},
	{"devpts", "devpts", "/dev/pts"},
}

// DefaultFstabMounts are the guest fstab mount points mounted below the root.
var DefaultFstabMounts = []string{"/boot", "/boot/efi"}

// GuestMountOptions returns options unchanged: nothing is mounted on this system, and the
// Linux build adds nosuid and nodev when it mounts.
func GuestMountOptions(options []string) []string { return options }
