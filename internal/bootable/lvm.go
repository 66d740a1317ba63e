//go:build linux

package bootable

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
)

const (
	// lvmLeftOutNote ends an fstab line commented out because its logical volume was not
	// copied into the flattened disk.
	lvmLeftOutNote = "logical volume not copied to this disk (lvm = flatten; chromogenic)"
)

// lvmTools are the guest paths of LVM's tool; one of them must exist for LVMKeep (Debian's and
// RHEL's lvm2 install /sbin/lvm, which is /usr/sbin/lvm on a merged /usr).
var lvmTools = []string{"/sbin/lvm", "/usr/sbin/lvm"}

// usesLVM reports whether the source disk has LVM physical volumes.
func usesLVM(d *chroot.Disk) bool {
	for _, p := range d.Partitions {
		if p.FSType == lvmMember {
			return true
		}
	}
	return false
}

// planLVM picks what of the source's LVM goes to the new disk, after Make has taken the
// plain partitions: with LVMFlatten the root LV and every LV the guest's fstab mounts that
// holds a copyable filesystem (a swap LV only while it fits an MBR's four partitions,
// else dropped with a line); with LVMKeep every physical volume partition whole, the one
// holding the root marked as the root's. have is the number of partitions already taken.
// The source's root filesystem is mounted read-only (on work/probe) to read its fstab and,
// for keep, to look for lvm2. all is the boot disk with the guest's other disks (nil for one
// disk; see otherDisksView): a volume group may span them.
func planLVM(raw, work string, sd, all *chroot.Disk, root *chroot.Partition, have int, opts Options, logf func(string, ...any)) ([]*chroot.Partition, []srcFS, error) {
	mode := opts.LVM
	if mode == "" {
		mode = LVMFlatten
	}
	if !ValidLVM(mode) {
		return nil, nil, fmt.Errorf("lvm %q: want flatten or keep", opts.LVM)
	}
	if !usesLVM(sd) {
		return nil, nil, nil
	}
	si, err := chroot.OpenImage(raw, chroot.ImageOptions{ReadOnly: true, MountPath: filepath.Join(work, "probe"),
		Guest: chroot.GuestOptions{FstabMounts: []string{}, RootPartition: opts.RootPartition, RootVolume: opts.RootVolume, RootSubvolume: opts.RootSubvolume}})
	if err != nil {
		return nil, nil, fmt.Errorf("read the guest's fstab: %w", err)
	}
	fstab := si.Guest.Fstab
	hasLVM := false
	for _, p := range lvmTools {
		if fi, err := si.Guest.Guest().Stat(p); err == nil && fi.Mode().IsRegular() {
			hasLVM = true
		}
	}
	if err := si.Close(); err != nil {
		return nil, nil, err
	}
	if mode == LVMKeep {
		return keepLVM(sd, root, fstab, hasLVM, opts, logf)
	}
	if err := lvsOnOtherDisks(all, fstab); err != nil {
		return nil, nil, err
	}
	return flattenLVM(sd, root, fstab, have, opts, logf)
}

// lvsOnOtherDisks refuses flatten for a guest whose fstab mounts a logical volume on another
// disk than the boot disk (a volume group spanning disks): flatten writes the boot disk's
// volumes as its partitions, and the other disks go on as they are, so such a volume would
// be left in a volume group that lost the boot disk's physical volume, which nothing can
// activate: the guest would wait for it at every boot. lvm = keep copies the physical volumes
// whole and the volume group stays complete across the disks.
func lvsOnOtherDisks(all *chroot.Disk, fstab []chroot.FstabEntry) error {
	var on []string
	for _, e := range fstab {
		if e.HasOption("noauto") {
			continue
		}
		if p := onOtherDisk(all, e.Spec); p != nil && p.LV != "" {
			on = append(on, fmt.Sprintf("%s from logical volume %s on disk %d", e.File, p.LV, p.Disk+1))
		}
	}
	if len(on) == 0 {
		return nil
	}
	return fmt.Errorf("lvm = flatten: the guest's fstab mounts %s: flatten makes partitions of the boot disk's "+
		"logical volumes only, and the other disks are kept as they are, so that volume group would lose its physical "+
		"volume on the boot disk and could not be activated: use lvm = \"keep\" (the guest needs lvm2), which copies the "+
		"physical volumes whole", strings.Join(on, ", "))
}

func flattenLVM(sd *chroot.Disk, root *chroot.Partition, fstab []chroot.FstabEntry, have int, opts Options, logf func(string, ...any)) ([]*chroot.Partition, []srcFS, error) {
	mounted := map[*chroot.Partition]bool{}
	for _, e := range fstab {
		if p, err := sd.ResolveSpec(e.Spec); err == nil && p != nil && p.LV != "" {
			mounted[p] = true
		}
	}
	var parts []*chroot.Partition
	var fss []srcFS
	var swaps []*chroot.Partition
	for _, v := range sd.Volumes {
		switch {
		case v == root:
		case !mounted[v]:
			logf("bootable: %s left out (the guest's fstab does not mount it)", v)
			continue
		case v.FSType == "swap":
			swaps = append(swaps, v)
			continue
		case !copyable[v.FSType]:
			logf("bootable: %s left out (not a Linux filesystem); its fstab line is commented out", v)
			continue
		}
		logf("bootable: flattening %s into a partition", v)
		parts = append(parts, v)
		fss = append(fss, srcFS{Size: v.Size, FSType: v.FSType, Root: v == root})
	}
	for _, v := range swaps {
		if opts.Firmware == FirmwareBIOS && have+len(parts) >= 4 {
			logf("bootable: swap %s dropped (no room in the MBR's four partitions); its fstab line is commented out", v)
			continue
		}
		logf("bootable: flattening swap %s into a swap partition", v)
		parts = append(parts, v)
		fss = append(fss, srcFS{Size: v.Size, FSType: v.FSType})
	}
	return parts, fss, nil
}

func keepLVM(sd *chroot.Disk, root *chroot.Partition, fstab []chroot.FstabEntry, hasLVM bool, opts Options, logf func(string, ...any)) ([]*chroot.Partition, []srcFS, error) {
	if !hasLVM {
		return nil, nil, fmt.Errorf("lvm = keep: the guest has no %s, so its initramfs cannot activate the volume group: "+
			"install the lvm2 package in the guest, or use lvm = flatten", strings.Join(lvmTools, " or "))
	}
	if opts.ExtraSize > 0 {
		return nil, nil, fmt.Errorf("lvm = keep: extra size cannot grow a logical volume here; grow it in the guest (lvextend), or use lvm = flatten")
	}
	boot := root
	if e, ok := chroot.FindFstab(fstab, "/boot"); ok {
		p, err := sd.ResolveSpec(e.Spec)
		if err != nil || p == nil {
			return nil, nil, fmt.Errorf("lvm = keep: the guest's fstab mounts /boot from %s, which is not on this disk", e.Spec)
		}
		boot = p
	}
	if boot.LV != "" && opts.Firmware != FirmwareEFI {
		return nil, nil, fmt.Errorf("lvm = keep: /boot is on logical volume %s, and a BIOS boot from a logical volume is not "+
			"made yet (extlinux cannot read one; GRUB's lvm module is in core.img but that boot is not tested here): "+
			"give the guest a /boot partition, or use lvm = flatten or firmware = \"efi\"", boot.LV)
	}
	var parts []*chroot.Partition
	var fss []srcFS
	for _, p := range sd.Partitions {
		if p.FSType != lvmMember {
			continue
		}
		holdsRoot := root.LV != "" && root.Start >= p.Start && root.Start+root.Size <= p.Start+p.Size
		logf("bootable: keeping LVM: %s copied whole", p)
		parts = append(parts, p)
		fss = append(fss, srcFS{Size: p.Size, FSType: lvmMember, Root: holdsRoot})
	}
	return parts, fss, nil
}

// isLVSpec reports whether an fstab spec names a device-mapper or LVM volume
// (/dev/mapper/x, /dev/vg/lv).
func isLVSpec(spec string) bool {
	return strings.HasPrefix(spec, "/dev/mapper/") ||
		(strings.HasPrefix(spec, "/dev/") && strings.Count(spec, "/") == 3 && !strings.HasPrefix(spec, "/dev/disk/"))
}

// lvLeftOut says why an fstab line whose device was not copied is commented out: when the
// source's LVM was flattened (no physical volume was copied) and the line names a logical
// volume, that volume is not on the new disk. "" otherwise.
func lvLeftOut(old *chroot.Disk, spec string, uuids map[*chroot.Partition]string) string {
	if len(old.Volumes) == 0 || !isLVSpec(spec) {
		return ""
	}
	for p := range uuids {
		if p.FSType == lvmMember {
			return ""
		}
	}
	return lvmLeftOutNote
}

// lvmRootArgs is the root= of the kernel command line for a root on a kept logical volume:
// /dev/mapper/<vg>-<lv>, which Debian's initramfs-tools (lvm2 hook) activates, and for dracut
// also rd.lvm.lv=<vg>/<lv>. "" for a root that is no logical volume.
func lvmRootArgs(root *chroot.Partition, initramfsTool string) string {
	if root == nil || root.LV == "" {
		return ""
	}
	vg, lv, _ := strings.Cut(root.LV, "/")
	args := "root=/dev/mapper/" + strings.ReplaceAll(vg, "-", "--") + "-" + strings.ReplaceAll(lv, "-", "--")
	if initramfsTool == "dracut" {
		args += " rd.lvm.lv=" + root.LV
	}
	return args
}

// mountSeparateDirs mounts the guest's separate /usr and /var (an LVM install often has /var
// on a logical volume of its own) from the new disk, as the guest's fstab (already
// rewritten) says: the guest's tools need them (mkinitramfs works below /var/tmp). An entry
// marked nofail that the new disk does not hold is skipped, and so is one on the root's own
// filesystem (a btrfs subvolume, mounted when the new disk was opened).
func mountSeparateDirs(g *chroot.Guest, nd *chroot.Disk, fstab []byte) error {
	entries := chroot.ParseFstab(string(fstab))
	for _, dir := range []string{"/usr", "/var"} {
		e, ok := chroot.FindFstab(entries, dir)
		if !ok {
			continue
		}
		p, err := nd.ResolveSpec(e.Spec)
		if err == nil && p == g.Root {
			// On the root's own filesystem: a btrfs subvolume (openSUSE's /var), which
			// OpenImage mounted already with the guest's other subvolumes.
			continue
		}
		if err != nil || p == nil {
			if e.HasOption("nofail") {
				continue
			}
			return fmt.Errorf("the guest's fstab mounts %s from %s, which is not on the new disk", dir, e.Spec)
		}
		if err := g.Mount(p.Device, dir, p.FSType, []string{"nosuid", "nodev"}); err != nil {
			return err
		}
	}
	return nil
}
