package chroot

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
)

// canary is a host directory with a file whose content, mtime and mounts are checked after a
// hostile guest did its worst.
type canary struct {
	dir, file string
	sum       [32]byte
	mtime     time.Time
}

func newCanary(t *testing.T) *canary {
	t.Helper()
	c := &canary{dir: t.TempDir()}
	c.file = filepath.Join(c.dir, "host-secret")
	body := []byte(fmt.Sprintf("host data %d\n", time.Now().UnixNano()))
	if err := os.WriteFile(c.file, body, 0o600); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(c.file)
	c.sum, c.mtime = sha256.Sum256(body), fi.ModTime()
	return c
}

func (c *canary) check(t *testing.T) {
	t.Helper()
	if m := MountedUnder(c.dir); len(m) > 0 {
		t.Errorf("host canary directory got mounts: %v", m)
	}
	b, err := os.ReadFile(c.file)
	if err != nil || sha256.Sum256(b) != c.sum {
		t.Errorf("host canary file changed: %q %v", b, err)
	}
	if fi, err := os.Stat(c.file); err != nil || !fi.ModTime().Equal(c.mtime) {
		t.Errorf("host canary file touched")
	}
	entries, _ := os.ReadDir(c.dir)
	if len(entries) != 1 {
		t.Errorf("host canary directory gained entries: %v", entries)
	}
}

// hostileImage makes a test disk of kind and lets edit change the guest tree (as root on the
// host: the test is trusted) before the code under test sees it.
func hostileImage(t *testing.T, kind string, edit func(root string)) string {
	t.Helper()
	dir := t.TempDir()
	image := testimages.Make(t, kind, dir)
	d, err := Attach(image, false)
	if err != nil {
		t.Fatal(err)
	}
	g, err := MountGuest(d, filepath.Join(dir, "prep"), GuestOptions{FstabMounts: []string{}})
	if err != nil {
		d.Detach()
		t.Fatal(err)
	}
	edit(g.Mounts.Root)
	if err := g.UnmountAll(); err != nil {
		t.Fatal(err)
	}
	if err := d.Detach(); err != nil {
		t.Fatal(err)
	}
	return image
}

func replaceWithSymlink(t *testing.T, path, target string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

func attachAndMount(t *testing.T, image string, fstabMounts []string) (*Disk, *Guest, error) {
	t.Helper()
	d, err := Attach(image, false)
	if err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	g, err := MountGuest(d, mnt, GuestOptions{FstabMounts: fstabMounts})
	t.Cleanup(func() {
		if g != nil {
			g.UnmountAll()
		}
		d.Detach()
		if m := MountedUnder(mnt); len(m) > 0 {
			t.Errorf("still mounted: %v", m)
		}
		if l := LoopsBackedBy(image); len(l) > 0 {
			t.Errorf("loops left: %v", l)
		}
	})
	return d, g, err
}

// A guest whose /boot (a mount point named by its fstab) is a symlink to a host directory:
// the mount is refused and the host directory gets nothing mounted on it.
func TestHostileBootSymlink(t *testing.T) {
	for _, style := range []string{"absolute", "relative"} {
		t.Run(style, func(t *testing.T) {
			c := newCanary(t)
			image := hostileImage(t, "mbr-boot", func(root string) {
				target := c.dir
				if style == "relative" {
					target = strings.Repeat("../", 20) + strings.TrimPrefix(c.dir, "/")
				}
				replaceWithSymlink(t, filepath.Join(root, "boot"), target)
			})
			_, _, err := attachAndMount(t, image, DefaultFstabMounts)
			if err == nil || !strings.Contains(err.Error(), "/boot") {
				t.Errorf("hostile /boot symlink: got %v, want a refusal naming /boot", err)
			}
			c.check(t)
		})
	}
}

// Chroot mount points that are symlinks out of the guest (/proc, /dev, /dev/pts via /dev)
// are refused; nothing is mounted on the host side.
func TestHostileChrootMountSymlinks(t *testing.T) {
	for _, mp := range []string{"/proc", "/sys", "/dev"} {
		t.Run(mp, func(t *testing.T) {
			c := newCanary(t)
			image := hostileImage(t, "bare-ext4", func(root string) {
				replaceWithSymlink(t, filepath.Join(root, mp), strings.Repeat("../", 10)+strings.TrimPrefix(c.dir, "/"))
			})
			_, g, err := attachAndMount(t, image, DefaultFstabMounts)
			if err != nil {
				t.Fatal(err)
			}
			err = g.MountChroot(DefaultChrootMounts)
			if err == nil || !strings.Contains(err.Error(), mp) {
				t.Errorf("chroot mount on a hostile %s: got %v", mp, err)
			}
			c.check(t)
		})
	}
}

// /dev/pts below a /dev whose pts is a symlink out: the devpts mount is refused.
func TestHostileDevPtsSymlink(t *testing.T) {
	c := newCanary(t)
	image := hostileImage(t, "bare-ext4", func(root string) {
		os.MkdirAll(filepath.Join(root, "dev"), 0o755)
		replaceWithSymlink(t, filepath.Join(root, "dev", "pts"), c.dir)
	})
	_, g, err := attachAndMount(t, image, DefaultFstabMounts)
	if err != nil {
		t.Fatal(err)
	}
	// Without the /dev bind (which would hide the guest's /dev), devpts goes on the guest's
	// own /dev/pts, which is the hostile link.
	err = g.MountChroot([]ChrootMount{{"devpts", "devpts", "/dev/pts"}})
	if err == nil {
		t.Errorf("devpts mounted on a symlink")
	}
	c.check(t)
}

// copy_files on a guest whose resolv.conf is a symlink to a host file: the host file is
// untouched, the build sees the host's resolv.conf, and the guest's symlink comes back.
func TestHostileResolvConfSymlink(t *testing.T) {
	c := newCanary(t)
	image := hostileImage(t, "bare-ext4", func(root string) {
		replaceWithSymlink(t, filepath.Join(root, "etc", "resolv.conf"), c.file)
	})
	_, g, err := attachAndMount(t, image, DefaultFstabMounts)
	if err != nil {
		t.Fatal(err)
	}
	hostResolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	cf, err := g.CopyIn("/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	inGuest, err := g.Guest().ReadFile("/etc/resolv.conf")
	if err != nil || string(inGuest) != string(hostResolv) {
		t.Errorf("guest resolv.conf during the build = %q %v, want the host's", inGuest, err)
	}
	c.check(t)
	if err := cf.Restore(g); err != nil {
		t.Fatal(err)
	}
	if link, err := g.Guest().Readlink("/etc/resolv.conf"); err != nil || link != c.file {
		t.Errorf("guest resolv.conf not restored as the symlink: %q %v", link, err)
	}
	if _, err := g.Guest().Lstat("/etc/resolv.conf" + backupSuffix); err == nil {
		t.Errorf("backup left in the guest")
	}
	c.check(t)
}
