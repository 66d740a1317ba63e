//go:build linux

package retarget

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
)

// MountedDeviceSpecs maps the Xen device names of the guest's fstab (/dev/xvda1...) to
// "UUID=<uuid>" for the entries whose filesystem is mounted at its place under the guest root
// (a builder's or chromogenic clean --image's mount): the host mount table gives the device,
// the host's blkid its filesystem UUID. Entries it cannot resolve are left out (Run then
// renames them). The guest fstab is read through guestfs; no guest program runs.
func MountedDeviceSpecs(ctx context.Context, root *guestfs.Root) map[string]string {
	b, err := root.ReadFileLimit("/etc/fstab", maxFstabSize)
	if err != nil {
		return nil
	}
	mounts := hostMounts()
	if mounts == nil {
		return nil
	}
	out := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if isComment(l) || len(f) < 2 || !xenDiskRE.MatchString(f[0]) || !strings.HasPrefix(f[1], "/") {
			continue
		}
		src, ok := mounts[filepath.Join(root.Dir(), path.Clean(f[1]))]
		if !ok || !strings.HasPrefix(src, "/dev/") {
			continue
		}
		if u := fsUUID(ctx, src); u != "" {
			out[f[0]] = "UUID=" + u
		}
	}
	return out
}

// maxFstabSize is the largest guest fstab read (clean's default edit limit).
const maxFstabSize = 16 << 20

// hostMounts maps host mount points to their source devices (the last mount on a point wins).
func hostMounts() map[string]string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		a, b := strings.Fields(pre), strings.Fields(post)
		if !ok || len(a) < 5 || len(b) < 2 {
			continue
		}
		m[unescapeOctal(a[4])] = unescapeOctal(b[1])
	}
	return m
}

// unescapeOctal undoes mountinfo's \ooo escapes.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// fsUUID probes the filesystem UUID of a host block device with the host's blkid.
func fsUUID(ctx context.Context, dev string) string {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "blkid", "-p", "-s", "UUID", "-o", "value", dev).Output()
	if err != nil {
		return ""
	}
	u := strings.TrimSpace(string(out))
	if strings.ContainsAny(u, " \t\n/=") {
		return ""
	}
	return u
}
