package ec2

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// DeviceRoots are where a host's device nodes and sysfs are: "/dev" and "/sys", or a fake
// tree in tests.
type DeviceRoots struct {
	Dev string
	Sys string
}

// HostDevices are the real roots.
var HostDevices = DeviceRoots{Dev: "/dev", Sys: "/sys"}

// attachLetters are the names EC2 recommends for attaching EBS volumes to Linux instances:
// /dev/sd[f-p].
const attachLetters = "fghijklmnop"

var deviceName = regexp.MustCompile(`^/dev/(sd|xvd|vd|hd)([a-z]{1,2})$`)

// AttachName is the device name AttachVolume takes for a device path on the host:
// /dev/xvdf, /dev/vdf and /dev/sdf are all attached as /dev/sdf. "" when path is not such a
// name.
func AttachName(path string) string {
	m := deviceName.FindStringSubmatch(path)
	if m == nil {
		return ""
	}
	return "/dev/sd" + m[2]
}

// spellings are the names under which the kernel may show a volume attached as /dev/sdX:
// sdX itself (older Xen and Eucalyptus), xvdX (Xen), vdX and hdX (KVM, Eucalyptus).
func spellings(name string) []string {
	m := deviceName.FindStringSubmatch(name)
	if m == nil {
		return []string{name}
	}
	out := []string{name}
	for _, p := range []string{"sd", "xvd", "vd", "hd"} {
		if n := "/dev/" + p + m[2]; n != name {
			out = append(out, n)
		}
	}
	return out
}

// FreeNames lists the device names (/dev/sdf … /dev/sdp) a volume may be attached with:
// neither in used (the instance's block device mappings, in any spelling) nor present on the
// host under any spelling.
func (r DeviceRoots) FreeNames(used []string) []string {
	taken := map[string]bool{}
	for _, u := range used {
		if n := AttachName(u); n != "" {
			taken[n] = true
		}
	}
	var out []string
	for _, l := range attachLetters {
		name := "/dev/sd" + string(l)
		if taken[name] {
			continue
		}
		free := true
		for _, s := range spellings(name) {
			if _, err := os.Lstat(r.path(s)); err == nil {
				free = false
				break
			}
		}
		if free {
			out = append(out, name)
		}
	}
	return out
}

// path maps /dev/x to the root's dev dir.
func (r DeviceRoots) path(dev string) string {
	return filepath.Join(r.Dev, strings.TrimPrefix(dev, "/dev/"))
}

// ErrNoDevice is returned by FindDevice while the attached volume has no device node yet.
var ErrNoDevice = errors.New("no device node for the volume yet")

// FindDevice finds the block device of an attached volume. In order: the requested path
// and its other spellings (/dev/sdf, /dev/xvdf, /dev/vdf, /dev/hdf), then the disks whose
// serial number is the volume id without its dash (vol0123…): NVMe namespaces
// (/sys/block/nvme*n*/device/serial, Nitro instances) and virtio disks
// (/sys/block/vd*/serial). The result is a path under r.Dev that is a block device.
func (r DeviceRoots) FindDevice(requested, volumeID string) (string, error) {
	for _, s := range spellings(requested) {
		if p := r.path(s); isBlockDevice(p) {
			return p, nil
		}
	}
	serial := strings.ReplaceAll(volumeID, "-", "")
	blocks, _ := os.ReadDir(filepath.Join(r.Sys, "block"))
	var names []string
	for _, b := range blocks {
		names = append(names, b.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		var file string
		switch {
		case strings.HasPrefix(n, "nvme"):
			file = filepath.Join(r.Sys, "block", n, "device", "serial")
		case strings.HasPrefix(n, "vd"), strings.HasPrefix(n, "xvd"):
			file = filepath.Join(r.Sys, "block", n, "serial")
		default:
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		if s := strings.TrimSpace(string(b)); s == serial || s == volumeID {
			if p := filepath.Join(r.Dev, n); isBlockDevice(p) {
				return p, nil
			}
			return "", fmt.Errorf("%w: %s has the serial of %s but %s is not a block device", ErrNoDevice, n, volumeID, filepath.Join(r.Dev, n))
		}
	}
	return "", fmt.Errorf("%w: none of %v is a block device and no disk has the serial %s", ErrNoDevice, spellings(requested), serial)
}

func isBlockDevice(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
