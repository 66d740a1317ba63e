//go:build linux

package chroot

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
)

// ChrootMount is one extra mount for the chroot: [fstype, source, guest path], as
// packer-plugin-amazon's chroot_mounts. fstype "bind" bind-mounts a host path.
type ChrootMount [3]string

// DefaultChrootMounts are mounted unless the template says otherwise.
var DefaultChrootMounts = []ChrootMount{
	{"proc", "proc", "/proc"},
	{"sysfs", "sysfs", "/sys"},
	{"bind", "/dev", "/dev"},
	{"devpts", "devpts", "/dev/pts"},
}

// DefaultFstabMounts are the guest fstab mount points mounted below the root.
var DefaultFstabMounts = []string{"/boot", "/boot/efi"}

// GuestOptions says how to mount a guest.
type GuestOptions struct {
	RootPartition int      // 0: find it
	RootVolume    string   // "vg/lv": the root is that LVM logical volume ("": find it)
	RootSubvolume string   // on a btrfs root, the subvolume path holding it ("/": the top level; "": by the rule)
	MountOptions  []string // for every guest filesystem; nosuid,nodev are added (GuestMountOptions)
	FstabMounts   []string // guest fstab mount points to mount too, parents first
	// BeforeMount, when set, is called with each guest filesystem just before it is mounted
	// (the root, then each fstab mount); an error ends MountGuest with it (see Fsck).
	BeforeMount func(p *Partition) error
}

// rootChoice is what FindRoot is told of the root.
func (o GuestOptions) rootChoice() RootChoice {
	return RootChoice{Partition: o.RootPartition, Volume: o.RootVolume, Subvolume: o.RootSubvolume}
}

// Guest is a guest tree mounted on a host directory.
type Guest struct {
	*Mounts
	Disk  *Disk
	Root  *Partition
	Fstab []FstabEntry
	// Filesystems lists the guest filesystems mounted (root first), for trimming.
	Filesystems []string
	// Skipped lists fstab mounts left out because the host kernel lacks their filesystem.
	Skipped []string
}

// MountGuest finds the root of d, mounts it on dir, then the guest fstab's entries for
// opts.FstabMounts. On error nothing stays mounted.
// MaxFstabSize bounds what is read of a guest's /etc/fstab (a real one is a few hundred
// bytes); a larger one fails the mount with an error naming it (guestfs.ErrTooLarge).
const MaxFstabSize = 1 << 20

func MountGuest(d *Disk, dir string, opts GuestOptions) (g *Guest, err error) {
	m, err := NewMounts(dir)
	if err != nil {
		return nil, err
	}
	root, err := FindRoot(d, m.Root, opts.rootChoice())
	if err != nil {
		return nil, err
	}
	mopts := GuestMountOptions(opts.MountOptions)
	if opts.BeforeMount != nil {
		if err := opts.BeforeMount(root); err != nil {
			return nil, err
		}
	}
	if err := m.MountRoot(root.Device, root.FSType, btrfsRootOptions(root, mopts)); err != nil {
		return nil, err
	}
	if err := writeLease(m.Root, d.Image, d.otherImages()...); err == nil {
		m.lease = true
	}
	g = &Guest{Mounts: m, Disk: d, Root: root, Filesystems: []string{m.Root}}
	defer func() {
		if err != nil {
			m.UnmountAll()
		}
	}()
	if raw, err := m.Guest().ReadFileLimit("/etc/fstab", MaxFstabSize); err == nil {
		g.Fstab = ParseFstab(string(raw))
	} else if errors.Is(err, guestfs.ErrTooLarge) {
		return nil, fmt.Errorf("guest fstab: %w", err)
	}
	if err := g.mountBtrfsSubvolumes(opts, mopts); err != nil {
		return nil, err
	}
	for _, mp := range opts.FstabMounts {
		e, ok := FindFstab(g.Fstab, mp)
		if !ok {
			continue
		}
		p, err := d.ResolveSpec(e.Spec)
		if err != nil {
			return nil, fmt.Errorf("guest fstab entry for %s: %w", mp, err)
		}
		if p == nil {
			if e.HasOption("nofail") || e.HasOption("noauto") {
				continue
			}
			return nil, fmt.Errorf("guest fstab mounts %s from %s, which is on no partition of this disk (%s)", mp, e.Spec, d.describe())
		}
		if p == root || isBtrfsSubvolEntry(e, p) {
			continue // isBtrfsSubvolEntry: mountBtrfsSubvolumes mounted it
		}
		fstype, err := fstabType(e, p)
		if err != nil {
			return nil, err
		}
		if opts.BeforeMount != nil {
			if err := opts.BeforeMount(p); err != nil {
				return nil, err
			}
		}
		if err := m.Mount(p.Device, mp, fstype, mopts); err != nil {
			if errors.Is(err, unix.ENODEV) && !KernelSupports(fstype) {
				g.Skipped = append(g.Skipped, fmt.Sprintf("%s: this kernel cannot mount %s (%s)", mp, fstype, p))
				continue
			}
			return nil, err
		}
		g.Filesystems = append(g.Filesystems, m.paths[len(m.paths)-1])
	}
	return g, nil
}

// FstabTypes are the filesystem types mounted from a guest fstab.
var FstabTypes = map[string]bool{"ext2": true, "ext3": true, "ext4": true, "xfs": true, "btrfs": true, "vfat": true}

// fstabType returns the type to mount partition p with for the guest fstab entry e: only the
// types in FstabTypes, and only when blkid's probe of p agrees with what the fstab says (ext2,
// ext3 and ext4 agree with each other; "auto" agrees with any). The guest's word alone never
// picks a kernel filesystem driver to parse a partition.
func fstabType(e FstabEntry, p *Partition) (string, error) {
	line := fmt.Sprintf("%q", strings.Join([]string{e.Spec, e.File, e.FSType}, " "))
	switch {
	case p.FSType == "":
		return "", fmt.Errorf("guest fstab line %s: blkid finds no filesystem on %s: refusing to mount it", line, p)
	case !FstabTypes[p.FSType]:
		return "", fmt.Errorf("guest fstab line %s: %s holds %q (blkid); only %s are mounted from a guest fstab", line, p, p.FSType, fstabTypeList())
	case e.FSType == "" || e.FSType == "auto":
		return p.FSType, nil
	case !FstabTypes[e.FSType]:
		return "", fmt.Errorf("guest fstab line %s: type %q is not mounted from a guest fstab (only %s)", line, e.FSType, fstabTypeList())
	case e.FSType != p.FSType && !(strings.HasPrefix(e.FSType, "ext") && strings.HasPrefix(p.FSType, "ext")):
		return "", fmt.Errorf("guest fstab line %s: says %s, but blkid finds %s on %s: refusing to mount it", line, e.FSType, p.FSType, p)
	}
	return p.FSType, nil
}

func fstabTypeList() string { return "ext2, ext3, ext4, xfs, btrfs, vfat" }

// MountChroot adds the extra mounts a chroot needs (proc, sys, dev...).
func (g *Guest) MountChroot(mounts []ChrootMount) error {
	for _, cm := range mounts {
		var opts []string
		if cm[0] == "proc" || cm[0] == "sysfs" {
			opts = []string{"nosuid", "nodev", "noexec"}
		}
		if err := g.Mount(cm[1], cm[2], cm[0], opts); err != nil {
			return fmt.Errorf("chroot_mounts %s: %w", strings.Join(cm[:], " "), err)
		}
	}
	return nil
}

// KernelSupports reports whether the running kernel lists fstype in /proc/filesystems.
func KernelSupports(fstype string) bool {
	raw, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[len(f)-1] == fstype {
			return true
		}
	}
	return false
}
