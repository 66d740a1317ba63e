//go:build linux

package chroot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/lvm"
)

// Partition is one partition of an attached disk, or the whole disk of a partitionless image.
type Partition struct {
	Number    int    // 1-based as in /dev/sdaN; 0 for a partitionless image; -1 for an LV
	LV        string // "vg/lv" for an LVM logical volume (an offset loop over its extents)
	Start     int64  // bytes from the start of the disk
	Size      int64  // bytes
	Type      string // MBR type ("83") or GPT type GUID (upper case)
	PartUUID  string // GPT partition GUID, or the MBR "<disk id>-<NN>" form Linux uses
	PartLabel string // GPT partition name
	FSType    string // blkid TYPE: ext4, xfs, vfat, LVM2_member, swap, ...
	UUID      string // filesystem UUID
	Label     string // filesystem label
	Device    string // loop device giving access to it
	Disk      int    // which disk of a several-disk image holds it: 0 the first (see OpenImages)
	// Btrfs is, for a btrfs filesystem FindRoot probed, its subvolumes and the one chosen as
	// the guest root (see btrfs.go).
	Btrfs *BtrfsLayout
}

func (p *Partition) String() string {
	name := "whole disk"
	if p.LV != "" {
		name = "logical volume " + p.LV
	} else if p.Number > 0 {
		name = "partition " + strconv.Itoa(p.Number)
	}
	fs := p.FSType
	if fs == "" {
		fs = "no filesystem"
	}
	if p.Disk > 0 {
		name = fmt.Sprintf("disk %d %s", p.Disk+1, name)
	}
	return fmt.Sprintf("%s (%s, %d MiB)", name, fs, p.Size>>20)
}

// Disk is a raw disk image attached to loop devices.
type Disk struct {
	Image      string
	Table      string // "dos", "gpt", or "" when the image is one bare filesystem
	Device     string // loop device of the whole disk
	Partitions []*Partition
	// Volumes are the LVM logical volumes found on the partitions that are LVM2 physical
	// volumes, each attached as an offset loop (see attachLVM).
	Volumes    []*Partition
	loops      []*Loop
	lvmErrs    []error       // PVs or LVs that could not be read or mapped
	refusedLVs []*lvm.Volume // LVs not mapped, with why (Err)
	// Others are the other disks of a several-disk image, in order (see OpenImages), each
	// attached like this one; their partitions count as this disk's filesystems, their LVs
	// are in Volumes, and Detach releases them too.
	Others   []*Disk
	warnings []string // device names resolved by disk order (see Warnings)
}

// extended MBR partition types: containers of logical partitions, never filesystems.
var extendedTypes = map[string]bool{"5": true, "f": true, "85": true}

// ReadPartitions reads the partition table of a raw image (or block device) with sfdisk and
// returns its partitions; a partitionless image gives the table "" and no partitions.
func ReadPartitions(image string) (table string, parts []*Partition, err error) {
	if fs, _ := probe(image, 0, 0); fs["TYPE"] != "" {
		return "", nil, nil // a bare filesystem (Eucalyptus-style image)
	}
	out, err := exec.Command("sfdisk", "--json", image).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && bytes.Contains(ee.Stderr, []byte("does not contain a recognized partition table")) {
			return "", nil, nil
		}
		return "", nil, fmt.Errorf("read partition table of %s: %v %s", image, err, stderrOf(err))
	}
	var doc struct {
		PartitionTable struct {
			Label      string `json:"label"`
			ID         string `json:"id"`
			SectorSize int64  `json:"sectorsize"`
			Partitions []struct {
				Node  string `json:"node"`
				Start int64  `json:"start"`
				Size  int64  `json:"size"`
				Type  string `json:"type"`
				UUID  string `json:"uuid"`
				Name  string `json:"name"`
			} `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return "", nil, fmt.Errorf("parse sfdisk output for %s: %w", image, err)
	}
	pt := doc.PartitionTable
	ss := pt.SectorSize
	if ss == 0 {
		ss = 512
	}
	for _, p := range pt.Partitions {
		num, err := strconv.Atoi(strings.TrimPrefix(p.Node, image))
		if err != nil {
			return "", nil, fmt.Errorf("unexpected partition node %q", p.Node)
		}
		if pt.Label == "dos" && extendedTypes[strings.ToLower(p.Type)] {
			continue
		}
		part := &Partition{Number: num, Start: p.Start * ss, Size: p.Size * ss,
			Type: strings.ToUpper(p.Type), PartUUID: strings.ToLower(p.UUID), PartLabel: p.Name}
		if pt.Label == "dos" {
			part.PartUUID = fmt.Sprintf("%s-%02x", strings.TrimPrefix(strings.ToLower(pt.ID), "0x"), num)
		}
		parts = append(parts, part)
	}
	return pt.Label, parts, nil
}

// probe runs blkid's low-level probe on a range of a file or device.
func probe(path string, offset, size int64) (map[string]string, error) {
	args := []string{"-p", "-o", "export"}
	if offset > 0 {
		args = append(args, "-O", strconv.FormatInt(offset, 10))
	}
	if size > 0 {
		args = append(args, "-S", strconv.FormatInt(size, 10))
	}
	out, err := exec.Command("blkid", append(args, path)...).Output()
	vals := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			vals[k] = v
		}
	}
	// blkid exits 2 when it finds nothing: not an error for us.
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 2) {
		return vals, fmt.Errorf("blkid %s: %v %s", path, err, stderrOf(err))
	}
	return vals, nil
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}

// Attach attaches a raw image: one loop device for the whole disk and one per partition
// (offset loops: no udev needed). Each partition is probed for its filesystem.
func Attach(image string, readOnly bool) (d *Disk, err error) {
	return attach(image, readOnly, true)
}

// attach is Attach; withLVM false leaves the LVM mapping to the caller (attachDisks maps the
// PVs of every disk at once).
func attach(image string, readOnly, withLVM bool) (d *Disk, err error) {
	if _, err := os.Stat(image); err != nil {
		return nil, err
	}
	table, parts, err := ReadPartitions(image)
	if err != nil {
		return nil, err
	}
	d = &Disk{Image: image, Table: table, Partitions: parts}
	defer func() {
		if err != nil {
			d.Detach()
		}
	}()
	whole, err := AttachLoop(image, 0, 0, readOnly)
	if err != nil {
		return nil, err
	}
	d.loops = append(d.loops, whole)
	d.Device = whole.Path
	if table == "" {
		d.Partitions = []*Partition{{Number: 0, Size: fileSize(image), Device: whole.Path}}
	} else {
		for _, p := range parts {
			l, err := AttachLoop(image, p.Start, p.Size, readOnly)
			if err != nil {
				return nil, err
			}
			d.loops = append(d.loops, l)
			p.Device = l.Path
		}
	}
	for _, p := range d.Partitions {
		vals, err := probe(p.Device, 0, 0)
		if err != nil {
			return nil, err
		}
		p.FSType, p.UUID, p.Label = vals["TYPE"], vals["UUID"], vals["LABEL"]
	}
	if !withLVM {
		return d, nil
	}
	if err := d.attachLVM(readOnly); err != nil {
		return nil, err
	}
	return d, nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// Detach releases every loop device of the disk, partitions first. Mounts must be gone.
func (d *Disk) Detach() error {
	var errs []error
	for i := len(d.loops) - 1; i >= 0; i-- {
		if err := d.loops[i].Detach(); err != nil {
			errs = append(errs, err)
		}
	}
	d.loops = nil
	for i := len(d.Others) - 1; i >= 0; i-- {
		if err := d.Others[i].Detach(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Partition returns partition n (0 for a partitionless image), or nil.
func (d *Disk) Partition(n int) *Partition {
	for _, p := range d.Partitions {
		if p.Number == n {
			return p
		}
	}
	return nil
}
