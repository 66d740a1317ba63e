//go:build linux

package chroot

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/hostfile"
)

// linuxRootFS are the filesystems a Linux root can be on.
var linuxRootFS = map[string]bool{"ext2": true, "ext3": true, "ext4": true, "xfs": true, "btrfs": true}

// isLinuxRoot reports whether a mounted tree looks like a Linux root filesystem.
func isLinuxRoot(dir string) bool {
	r, err := guestfs.OpenRoot(dir)
	if err != nil {
		return false
	}
	defer r.Close()
	if fi, err := r.Stat("/etc"); err != nil || !fi.IsDir() {
		return false
	}
	hasOS := false
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release", "/etc/fstab", "/etc/redhat-release", "/etc/debian_version"} {
		if _, err := r.Stat(p); err == nil {
			hasOS = true
		}
	}
	_, shErr := r.Stat("/bin/sh")
	return hasOS && shErr == nil
}

// RootChoice is what the user says of the guest's root (root_partition, root_volume,
// root_subvolume); the zero value finds it.
type RootChoice struct {
	Partition int    // a partition number
	Volume    string // an LVM logical volume, "vg/lv"
	Subvolume string // on a btrfs root: the subvolume holding it, "/" for the top level
}

// FindRoot finds the partition or LVM logical volume holding the guest's Linux root
// filesystem. Each Linux filesystem is mounted read-only under probeDir and inspected
// in-root. When several qualify, the one the guest's own fstab names as "/" wins. want names
// the partition or logical volume instead, and on btrfs the subvolume.
func FindRoot(d *Disk, probeDir string, want RootChoice) (*Partition, error) {
	if want.Partition > 0 || want.Volume != "" {
		p, err := d.chosenRoot(want)
		if err != nil {
			return nil, err
		}
		if p.FSType == "btrfs" {
			ok, _, err := inspectBtrfs(p, probeDir, want.Subvolume)
			if err != nil {
				return nil, err
			}
			if !ok && want.Subvolume != "" {
				return nil, fmt.Errorf("root_subvolume %q: not a subvolume of %s holding a Linux root (its subvolumes: %s)",
					want.Subvolume, p, p.Btrfs.names(8))
			}
		} else if want.Subvolume != "" {
			return nil, fmt.Errorf("root_subvolume %q: the root %s is %s, not btrfs", want.Subvolume, p, p.FSType)
		}
		return p, nil
	}
	var candidates []*Partition
	fstabRoot := map[*Partition]string{}
	for _, p := range d.filesystems() {
		if !linuxRootFS[p.FSType] {
			continue
		}
		if want.Subvolume != "" && p.FSType != "btrfs" {
			continue // root_subvolume: the root is a btrfs filesystem
		}
		ok, fstab, err := inspectCandidate(p, probeDir, want.Subvolume)
		if err != nil {
			return nil, err
		}
		if ok {
			candidates = append(candidates, p)
			if e, found := FindFstab(ParseFstab(fstab), "/"); found {
				fstabRoot[p] = e.Spec
			}
		}
	}
	switch {
	case len(candidates) == 1:
		return candidates[0], nil
	case len(candidates) > 1:
		for _, p := range candidates {
			if q, err := d.ResolveSpec(fstabRoot[p]); err == nil && q == p {
				return p, nil
			}
		}
		return candidates[0], nil
	case want.Subvolume != "":
		return nil, fmt.Errorf("root_subvolume %q: no btrfs filesystem in %s holds a Linux root in that subvolume (%s)",
			want.Subvolume, d.Image, d.describe())
	case len(d.lvmErrs) > 0:
		return nil, fmt.Errorf("no Linux root filesystem found in %s (%s); LVM volumes not mapped: %w",
			d.Image, d.describe(), errors.Join(d.lvmErrs...))
	}
	return nil, fmt.Errorf("no Linux root filesystem found in %s (%s)", d.Image, d.describe())
}

// chosenRoot is the partition or logical volume root_partition or root_volume names, checked
// to hold a filesystem a Linux root can be on.
func (d *Disk) chosenRoot(want RootChoice) (*Partition, error) {
	field, p := "", (*Partition)(nil)
	if want.Volume != "" {
		field = fmt.Sprintf("root_volume %q", want.Volume)
		var lvs []string
		for _, q := range d.Volumes {
			lvs = append(lvs, q.LV)
			if q.LV == want.Volume {
				p = q
			}
		}
		if p == nil {
			what := "the logical volumes mapped: " + strings.Join(lvs, ", ")
			if len(lvs) == 0 {
				what = "no logical volume is mapped"
			}
			for _, v := range d.refusedLVs {
				if v.Name() == want.Volume && v.Err != nil {
					return nil, fmt.Errorf("%s: %w", field, v.Err)
				}
			}
			return nil, fmt.Errorf("%s: no such logical volume (%s)", field, what)
		}
	} else {
		field, p = fmt.Sprintf("root_partition %d", want.Partition), d.Partition(want.Partition)
		if p == nil {
			return nil, fmt.Errorf("%s: the disk has no such partition (%s)", field, d.describe())
		}
	}
	if !linuxRootFS[p.FSType] {
		return nil, fmt.Errorf("%s holds %q, not a Linux root filesystem", field, p.FSType)
	}
	return p, nil
}

func (d *Disk) describe() string {
	if len(d.Partitions) == 0 {
		return "no partitions"
	}
	var s []string
	for _, p := range d.filesystems() {
		s = append(s, p.String())
	}
	return strings.Join(s, ", ")
}

// inspectCandidate mounts p read-only on probeDir and reports whether it is a Linux root,
// with its fstab text.
func inspectCandidate(p *Partition, probeDir, subvol string) (bool, string, error) {
	if p.FSType == "btrfs" {
		return inspectBtrfs(p, probeDir, subvol) // its subvolumes (btrfs.go)
	}
	if _, err := hostfile.MkdirAll(probeDir, 0o700); err != nil {
		return false, "", err
	}
	flags := uintptr(unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	data := ""
	if p.FSType == "xfs" {
		data = "norecovery,nouuid" // a clone of a mounted XFS (see fsTypeOptions)
	}
	if err := mountRetry(p.Device, probeDir, p.FSType, flags, data); err != nil {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EUCLEAN) {
			return false, "", nil // damaged or not really that filesystem
		}
		return false, "", fmt.Errorf("probe-mount %s: %w", p, err)
	}
	defer unmount(probeDir, probeDir)
	if !isLinuxRoot(probeDir) {
		return false, "", nil
	}
	var fstab []byte
	if r, err := guestfs.OpenRoot(probeDir); err == nil {
		fstab, _ = r.ReadFileLimit("/etc/fstab", MaxFstabSize)
		r.Close()
	}
	return true, string(fstab), nil
}
