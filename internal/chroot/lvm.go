//go:build linux

package chroot

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/lvm"
)

// attachLVM reads the LVM2 physical volumes among the disk's partitions with internal/lvm
// (never LVM's own tools, which would scan and could touch a host volume group of the same
// name; this host has no device-mapper anyway) and attaches each linear logical volume as
// an offset loop over its extents on the image file, probed like a partition, into
// d.Volumes. The loops are the disk's: Detach releases them, and, backed by the image file,
// the lease recovery after a killed build finds them like the partition loops. What cannot be
// read or mapped is kept in d.lvmErrs, reported when the guest needs it (its root, an fstab
// entry), so a hostile or unusual PV on a data partition does not stop a guest that does not
// mount it.
//
// With several disks (d.Others) a VG may span them: the PVs of every disk go to one lvm.Map,
// each LV's loop is backed by the image file of the disk its PV is on and kept with that disk.
func (d *Disk) attachLVM(readOnly bool) error {
	type member struct {
		disk *Disk
		part *Partition
	}
	var members []member
	for _, disk := range d.all() {
		for _, p := range disk.Partitions {
			if p.FSType == "LVM2_member" {
				members = append(members, member{disk, p})
			}
		}
	}
	if len(members) == 0 {
		return nil
	}
	files := map[*Disk]*os.File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	var pvs []*lvm.PV
	onPart := map[*lvm.PV]member{}
	for _, m := range members {
		f := files[m.disk]
		if f == nil {
			var err error
			if f, err = os.Open(m.disk.Image); err != nil {
				return err
			}
			files[m.disk] = f
		}
		p := m.part
		dev := lvm.Device{Name: fmt.Sprintf("%s %s", filepath.Base(m.disk.Image), p), R: io.NewSectionReader(f, p.Start, p.Size), Size: p.Size}
		pv, err := lvm.ReadPV(dev)
		if err != nil {
			d.lvmErrs = append(d.lvmErrs, err)
			continue
		}
		pvs = append(pvs, pv)
		onPart[pv] = m
	}
	vols, err := lvm.Map(pvs)
	if err != nil {
		d.lvmErrs = append(d.lvmErrs, err)
		return nil
	}
	for _, v := range vols {
		if v.Err != nil {
			d.lvmErrs = append(d.lvmErrs, v.Err)
			d.refusedLVs = append(d.refusedLVs, v)
			continue
		}
		m := onPart[v.PV]
		p := m.part
		start := p.Start + v.Offset
		l, err := AttachLoop(m.disk.Image, start, v.Size, readOnly)
		if err != nil {
			return fmt.Errorf("attach LV %s: %w", v.Name(), err)
		}
		m.disk.loops = append(m.disk.loops, l)
		lv := &Partition{Number: -1, LV: v.Name(), Start: start, Size: v.Size, Device: l.Path, Disk: p.Disk}
		vals, err := probe(l.Path, 0, 0)
		if err != nil {
			return err
		}
		lv.FSType, lv.UUID, lv.Label = vals["TYPE"], vals["UUID"], vals["LABEL"]
		d.Volumes = append(d.Volumes, lv)
	}
	return nil
}

// filesystems lists the partitions, then the logical volumes.
func (d *Disk) filesystems() []*Partition {
	parts := append([]*Partition(nil), d.Partitions...)
	for _, o := range d.Others {
		parts = append(parts, o.Partitions...)
	}
	return append(parts, d.Volumes...)
}

// mapperName is the device-mapper name of vg/lv: dashes in either doubled, joined by one.
func mapperName(vg, lv string) string {
	return strings.ReplaceAll(vg, "-", "--") + "-" + strings.ReplaceAll(lv, "-", "--")
}

// resolveLV finds the logical volume an fstab spec names as /dev/mapper/<vg>-<lv> or
// /dev/<vg>/<lv>. ok is false when the spec has neither form. A spec of that form naming no
// mapped LV is an error: the LV's own when it could not be mapped (its layout named).
func (d *Disk) resolveLV(spec string) (p *Partition, ok bool, err error) {
	var match func(vg, lv string) bool
	switch rest, isMapper := strings.CutPrefix(spec, "/dev/mapper/"); {
	case isMapper:
		match = func(vg, lv string) bool { return mapperName(vg, lv) == rest }
	case strings.HasPrefix(spec, "/dev/") && strings.Count(spec, "/") == 3 && !strings.HasPrefix(spec, "/dev/disk/"):
		vgName, lvName, _ := strings.Cut(strings.TrimPrefix(spec, "/dev/"), "/")
		match = func(vg, lv string) bool { return vg == vgName && lv == lvName }
	default:
		return nil, false, nil
	}
	for _, v := range d.Volumes {
		vg, lv, _ := strings.Cut(v.LV, "/")
		if match(vg, lv) {
			return v, true, nil
		}
	}
	for _, v := range d.refusedLVs {
		if match(v.VG, v.LV) {
			return nil, true, v.Err
		}
	}
	if len(d.lvmErrs) > 0 {
		return nil, true, fmt.Errorf("fstab device %s is no logical volume this disk's LVM metadata maps: %w", spec, errors.Join(d.lvmErrs...))
	}
	if len(d.Volumes) == 0 {
		return nil, true, fmt.Errorf("fstab device %s looks like an LVM or device-mapper volume, and this disk has no LVM logical volume", spec)
	}
	var names []string
	for _, v := range d.Volumes {
		names = append(names, v.LV)
	}
	return nil, true, fmt.Errorf("fstab device %s names no logical volume of this disk (it has %s)", spec, strings.Join(names, ", "))
}
