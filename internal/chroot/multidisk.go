//go:build linux

package chroot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// OpenImages is OpenImage for a guest on several disks (the disks of one instance, each a raw
// image file; paths[0] is the boot disk): every disk is attached (a loop for the whole disk
// and one per partition each), the LVM physical volumes of all of them are read together (a
// volume group may span disks; an LV whose extents are all on one PV is mapped onto that
// disk's file, one spanning PVs is refused with its layout named), the root is found among
// the filesystems of every disk (the same rules as FindRoot; the disk holding it is
// Image.Root.Disk) and the guest's fstab is resolved across the disks: UUID=, LABEL=,
// PARTUUID=, PARTLABEL=, LVM names, and kernel names by disk order (/dev/vdb1 and
// /dev/nvme1n1p1 are partition 1 of the second disk; Disk.Warnings says so, as such names
// depend on the hypervisor).
//
// Besides opts.Guest.FstabMounts, every guest fstab entry on a disk other than the root's is
// mounted (in fstab order; noauto entries are not): those disks are given because the guest
// mounts them. An fstab entry that resolves to no filesystem of any disk fails the open, unless it
// is nofail or noauto: with several disks it most likely names a disk that was not given.
//
// The lease names every disk, so that the recovery after a killed build detaches all their
// loops. Close releases everything. One path is OpenImage(paths[0], opts).
func OpenImages(paths []string, opts ImageOptions) (*Image, error) {
	if len(paths) == 0 {
		return nil, errors.New("no disk image given")
	}
	opts.ExtraDisks = append([]string(nil), paths[1:]...)
	return OpenImage(paths[0], opts)
}

// attachDisks attaches first and opts.ExtraDisks (each refused when in use with
// opts.Exclusive) and maps the LVM volumes of all of them; the returned disk is first's,
// with the others in Others. paths are every image, absolute, first first.
func attachDisks(first string, opts ImageOptions) (d *Disk, paths []string, err error) {
	if len(opts.ExtraDisks) == 0 {
		d, err = Attach(first, opts.ReadOnly)
		return d, []string{first}, err
	}
	paths = []string{first}
	seen := map[string]bool{first: true}
	for _, p := range opts.ExtraDisks {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, nil, err
		}
		if seen[abs] {
			return nil, nil, fmt.Errorf("disk %s is given twice", p)
		}
		seen[abs] = true
		if opts.Exclusive {
			if loops := LoopsBackedBy(abs); len(loops) > 0 {
				return nil, nil, fmt.Errorf("%s is in use (attached to %s)", p, strings.Join(loops, ", "))
			}
		}
		paths = append(paths, abs)
	}
	for i, p := range paths {
		disk, err := attach(p, opts.ReadOnly, false)
		if err != nil {
			if d != nil {
				err = errors.Join(fmt.Errorf("disk %d (%s): %w", i+1, p, err), d.Detach())
			}
			return nil, nil, err
		}
		for _, part := range disk.Partitions {
			part.Disk = i
		}
		if d == nil {
			d = disk
		} else {
			d.Others = append(d.Others, disk)
		}
	}
	if err := d.attachLVM(opts.ReadOnly); err != nil {
		return nil, nil, errors.Join(err, d.Detach())
	}
	return d, paths, nil
}

// all is d and its other disks, in order.
func (d *Disk) all() []*Disk { return append([]*Disk{d}, d.Others...) }

// Disks lists every disk of the image: d, then its other disks (OpenImages), in order.
func (d *Disk) Disks() []*Disk { return d.all() }

// otherImages are the image files of d's other disks.
func (d *Disk) otherImages() []string {
	var out []string
	for _, o := range d.Others {
		out = append(out, o.Image)
	}
	return out
}

// Warnings are the notes of resolving the guest's device names on several disks: a kernel
// device name (/dev/vdb1) taken by disk order, which depends on the hypervisor.
func (d *Disk) Warnings() []string { return append([]string(nil), d.warnings...) }

func (d *Disk) warn(s string) {
	for _, w := range d.warnings {
		if w == s {
			return
		}
	}
	d.warnings = append(d.warnings, s)
}

var (
	// letterDiskName: /dev/sdb2, /dev/vdb2, /dev/hdb2, /dev/xvdb2 (disk b, partition 2), or the
	// whole disk without the number.
	letterDiskName = regexp.MustCompile(`^/dev/(?:[shv]d|xvd)([a-z])(\d*)$`)
	// nvmeDiskName: /dev/nvme1n1p2 (controller 1, partition 2), or /dev/nvme1n1.
	nvmeDiskName = regexp.MustCompile(`^/dev/nvme(\d+)n1(?:p(\d+))?$`)
)

// resolveDiskOrder maps a kernel device name onto the disks by their order: ok is false for
// an image of one disk (ResolveSpec's own rules apply) or a spec of another form. A name past
// the last disk gives nil.
func (d *Disk) resolveDiskOrder(spec string) (p *Partition, ok bool) {
	if len(d.Others) == 0 {
		return nil, false
	}
	var disk, part int
	if m := letterDiskName.FindStringSubmatch(spec); m != nil {
		disk = int(m[1][0] - 'a')
		if m[2] != "" {
			part, _ = strconv.Atoi(m[2])
		}
	} else if m := nvmeDiskName.FindStringSubmatch(spec); m != nil {
		var err error
		if disk, err = strconv.Atoi(m[1]); err != nil || disk > 64 {
			return nil, true
		}
		if m[2] != "" {
			part, _ = strconv.Atoi(m[2])
		}
	} else {
		return nil, false
	}
	disks := d.all()
	if disk >= len(disks) {
		return nil, true
	}
	on := disks[disk]
	if part == 0 && on.Table != "" {
		return nil, true // a whole partitioned disk holds no filesystem
	}
	p = on.Partition(part)
	if p != nil {
		what := "the whole disk"
		if part > 0 {
			what = fmt.Sprintf("partition %d", part)
		}
		d.warn(fmt.Sprintf("guest device %s taken by disk order as %s of disk %d (%s, %s): device names depend on the hypervisor",
			spec, what, disk+1, filepath.Base(on.Image), p.FSType))
	}
	return p, true
}

// mountOtherDisks mounts the guest fstab's entries that are on the other disks of a
// several-disk image (see OpenImages), below what MountGuest mounted.
func (g *Guest) mountOtherDisks(opts GuestOptions) error {
	d := g.Disk
	if len(d.Others) == 0 {
		return nil
	}
	asked := map[string]bool{"/": true}
	for _, mp := range opts.FstabMounts {
		asked[mp] = true
	}
	mopts := GuestMountOptions(opts.MountOptions)
	for _, e := range g.Fstab {
		if asked[e.File] || !strings.HasPrefix(e.File, "/") || e.HasOption("noauto") {
			continue
		}
		if e.FSType != "" && e.FSType != "auto" && !FstabTypes[e.FSType] {
			continue // swap, tmpfs, proc, network filesystems...
		}
		asked[e.File] = true
		p, err := d.ResolveSpec(e.Spec)
		if err != nil {
			if e.HasOption("nofail") {
				continue
			}
			return fmt.Errorf("guest fstab entry for %s: %w", e.File, err)
		}
		if p == nil {
			if e.HasOption("nofail") {
				continue
			}
			return fmt.Errorf("guest fstab mounts %s from %s, which is on none of the %d disks given (%s)", e.File, e.Spec, len(d.all()), d.describe())
		}
		if p.Disk == g.Root.Disk {
			continue // the root's own disk: only the entries asked for (FstabMounts)
		}
		fstype, err := fstabType(e, p)
		if err != nil {
			return err
		}
		if opts.BeforeMount != nil {
			if err := opts.BeforeMount(p); err != nil {
				return err
			}
		}
		if err := g.Mount(p.Device, e.File, fstype, mopts); err != nil {
			if errors.Is(err, unix.ENODEV) && !KernelSupports(fstype) {
				g.Skipped = append(g.Skipped, fmt.Sprintf("%s: this kernel cannot mount %s (%s)", e.File, fstype, p))
				continue
			}
			return err
		}
		g.Filesystems = append(g.Filesystems, g.paths[len(g.paths)-1])
	}
	return nil
}
