//go:build linux

package chroot

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// FstabEntry is one line of a guest's /etc/fstab.
type FstabEntry struct {
	Spec, File, FSType string
	Options            []string
}

// HasOption reports whether the entry carries the mount option o.
func (e FstabEntry) HasOption(o string) bool {
	for _, x := range e.Options {
		if x == o {
			return true
		}
	}
	return false
}

// ParseFstab parses fstab(5) text; malformed lines are skipped.
func ParseFstab(text string) []FstabEntry {
	var out []FstabEntry
	for _, line := range strings.Split(text, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		e := FstabEntry{Spec: unescapeMount(f[0]), File: unescapeMount(f[1])}
		if len(f) > 2 {
			e.FSType = f[2]
		}
		if len(f) > 3 {
			e.Options = strings.Split(f[3], ",")
		}
		out = append(out, e)
	}
	return out
}

// Find returns the entry mounted at file, if any.
func FindFstab(entries []FstabEntry, file string) (FstabEntry, bool) {
	for _, e := range entries {
		if e.File == file {
			return e, true
		}
	}
	return FstabEntry{}, false
}

// kernelDiskName matches the device names a guest may use for partition N of its first disk.
var kernelDiskName = regexp.MustCompile(`^/dev/(?:[shvx]d[a-z]|xvd[a-z]|nvme\d+n\d+p|mmcblk\d+p)(\d+)$`)

// ResolveSpec finds the partition or logical volume an fstab device spec names: UUID=,
// LABEL=, PARTUUID=, PARTLABEL=, their /dev/disk/by-* forms, LVM names
// (/dev/mapper/<vg>-<lv> with dashes doubled, /dev/<vg>/<lv>), and kernel names such as
// /dev/vda2 or /dev/xvda1 (taken as partition N of the disk). It returns nil when nothing
// matches, and an error for an LV whose layout cannot be mapped.
func (d *Disk) ResolveSpec(spec string) (*Partition, error) {
	spec = strings.Trim(spec, `"`)
	key, val, ok := strings.Cut(spec, "=")
	if !ok {
		for prefix, k := range map[string]string{
			"/dev/disk/by-uuid/": "UUID", "/dev/disk/by-label/": "LABEL",
			"/dev/disk/by-partuuid/": "PARTUUID", "/dev/disk/by-partlabel/": "PARTLABEL",
		} {
			if strings.HasPrefix(spec, prefix) {
				key, val, ok = k, strings.TrimPrefix(spec, prefix), true
			}
		}
	}
	val = strings.Trim(val, `"`)
	if ok {
		for _, p := range d.filesystems() {
			var have string
			switch strings.ToUpper(key) {
			case "UUID":
				have = p.UUID
			case "LABEL":
				have = p.Label
			case "PARTUUID":
				have = p.PartUUID
			case "PARTLABEL":
				have = p.PartLabel
			default:
				return nil, fmt.Errorf("unsupported fstab device spec %q", spec)
			}
			if have != "" && strings.EqualFold(have, val) {
				return p, nil
			}
		}
		return nil, nil
	}
	if p, isLV, err := d.resolveLV(spec); isLV {
		return p, err
	}
	if p, ok := d.resolveDiskOrder(spec); ok {
		return p, nil
	}
	if m := kernelDiskName.FindStringSubmatch(spec); m != nil {
		n, _ := strconv.Atoi(m[1])
		return d.Partition(n), nil
	}
	if regexp.MustCompile(`^/dev/(?:[shvx]d[a-z]|xvd[a-z])$`).MatchString(spec) && d.Table == "" {
		return d.Partition(0), nil
	}
	return nil, nil
}
