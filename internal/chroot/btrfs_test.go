//go:build linux

package chroot

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
)

// onBtrfs attaches partition n of image (read-write unless ro), mounts its btrfs with the
// options given (subvolid=5: the top level) on a temporary directory and calls fn with it;
// everything is released again before it returns.
func onBtrfs(t *testing.T, image string, n int, options string, ro bool, fn func(dir string)) {
	t.Helper()
	_, parts, err := ReadPartitions(image)
	if err != nil || len(parts) < n {
		t.Fatalf("partitions of %s: %v %v", image, parts, err)
	}
	p := parts[n-1]
	l, err := AttachLoop(image, p.Start, p.Size, ro)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Detach()
	dir := t.TempDir()
	flags, data := ParseOptions([]string{options})
	if ro {
		flags |= syscall.MS_RDONLY
	}
	if err := mountRetry(l.Path, dir, "btrfs", flags, data); err != nil {
		t.Fatalf("mount %s -o %s: %v", l.Path, options, err)
	}
	defer func() {
		if err := unmount(dir, dir); err != nil {
			t.Error(err)
		}
	}()
	fn(dir)
}

func readGuest(t *testing.T, root, p string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, p))
	if err != nil {
		t.Fatalf("guest %s: %v", p, err)
	}
	return string(b)
}

func subvolList(t *testing.T, top string) string {
	t.Helper()
	out, err := exec.Command("btrfs", "subvolume", "list", top).CombinedOutput()
	if err != nil {
		t.Fatalf("btrfs subvolume list: %v\n%s", err, out)
	}
	var paths []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		_, p, _ := strings.Cut(line, " path ")
		paths = append(paths, p)
	}
	return strings.Join(paths, " ")
}

// Fedora's shape: the default subvolume is the top level, which holds no root; the root is
// the subvolume "root", which its own fstab mounts at / (subvol=root). /home (subvol=home) is
// mounted from its subvolume without being asked for: a file written through the guest's
// /home lands in subvolume home (read back through a fresh mount after Close), not in root.
// /boot is the ext4 partition. Trim covers the btrfs once. Nothing stays attached.
func TestOpenImageBtrfsFedora(t *testing.T) {
	dir := t.TempDir()
	image := testimages.Make(t, "btrfs-fedora", dir)
	img, err := OpenImage(image, ImageOptions{TempDir: dir, TempPattern: "mnt-", Guest: GuestOptions{FstabMounts: DefaultFstabMounts}})
	if err != nil {
		t.Fatal(err)
	}
	releaseOnFail(t, img)
	if img.Root.Number != 2 || img.Root.Btrfs.RootPath() != "root" || img.Root.Btrfs.Default != 5 {
		t.Fatalf("root %v, subvolume %q, default %d", img.Root, img.Root.Btrfs.RootPath(), img.Root.Btrfs.Default)
	}
	if got := readGuest(t, img.MountPath, "etc/chromogenic-subvol"); got != "root\n" {
		t.Errorf("/ holds subvolume %q, want root", got)
	}
	if got := readGuest(t, img.MountPath, "home/chromogenic-subvol"); got != "home\n" {
		t.Errorf("/home holds %q, want subvolume home", got)
	}
	if own, err := OwnFilesystemMount(img.MountPath); !own || err != nil {
		t.Errorf("OwnFilesystemMount of the root subvolume: %v %v, want true", own, err)
	}
	if own, err := OwnFilesystemMount(filepath.Join(img.MountPath, "etc")); own || err != nil {
		t.Errorf("OwnFilesystemMount of a directory in it: %v %v, want false", own, err)
	}
	if _, err := os.Stat(filepath.Join(img.MountPath, "chromogenic-top")); !os.IsNotExist(err) {
		t.Errorf("the top level is mounted as /: %v", err)
	}
	mounts := map[string]string{}
	for _, m := range MountsUnder(img.MountPath) {
		mounts[strings.TrimPrefix(m.Point, img.MountPath)] = m.Source
	}
	if len(mounts) != 3 || mounts["/home"] != img.Root.Device || mounts["/boot"] != img.Disk.Partition(1).Device {
		t.Errorf("mounts %v: want /, /home from %s and /boot from partition 1", mounts, img.Root.Device)
	}
	var trimmed []string
	if _, err := img.Trim(func(dir string, _ uint64, _ error) { trimmed = append(trimmed, dir) }); err != nil {
		t.Errorf("trim: %v", err)
	}
	if len(trimmed) != 2 {
		t.Errorf("trimmed %v: want the btrfs once and /boot", trimmed)
	}
	marker := make([]byte, 4096)
	rand.Read(marker)
	if err := os.WriteFile(filepath.Join(img.MountPath, "home/chromogenic-marker"), marker, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := img.Close(); err != nil {
		t.Fatal(err)
	}
	assertReleased(t, image, dir)
	onBtrfs(t, image, 2, "subvolid=5", true, func(top string) {
		if got := subvolList(t, top); got != "root home" {
			t.Errorf("subvolumes after Close: %q, want root home", got)
		}
		if got, err := os.ReadFile(filepath.Join(top, "home/chromogenic-marker")); err != nil || !bytes.Equal(got, marker) {
			t.Errorf("marker in subvolume home: %v (%d bytes)", err, len(got))
		}
		if _, err := os.Stat(filepath.Join(top, "root/home/chromogenic-marker")); !os.IsNotExist(err) {
			t.Errorf("marker in subvolume root's /home too: %v", err)
		}
	})
}

// openSUSE's shape: the default subvolume is snapper's snapshot 1, the booted root, although
// snapshots 2 and 3 (3 a decoy of another OS) hold roots too; /var, /home and /opt are
// mounted from @/var, @/home and @/opt; /.snapshots is not mounted (Skipped says so). A log
// written through the guest's /var lands in @/var.
func TestOpenImageBtrfsSuse(t *testing.T) {
	dir := t.TempDir()
	image := testimages.Make(t, "btrfs-suse", dir)
	img, err := OpenImage(image, ImageOptions{TempDir: dir, TempPattern: "mnt-", Guest: GuestOptions{FstabMounts: DefaultFstabMounts}})
	if err != nil {
		t.Fatal(err)
	}
	releaseOnFail(t, img)
	if got := img.Root.Btrfs.RootPath(); got != "@/.snapshots/1/snapshot" {
		t.Fatalf("root subvolume %q", got)
	}
	if got := readGuest(t, img.MountPath, "etc/chromogenic-subvol"); got != "snapshot 1\n" {
		t.Errorf("/ holds %q, want snapshot 1", got)
	}
	for _, sv := range []string{"var", "home"} {
		if got := readGuest(t, img.MountPath, sv+"/chromogenic-subvol"); got != sv+"\n" {
			t.Errorf("/%s holds %q", sv, got)
		}
	}
	var points []string
	for _, m := range MountsUnder(img.MountPath) {
		if m.Source != img.Root.Device {
			t.Errorf("%s mounted from %s", m.Point, m.Source)
		}
		points = append(points, strings.TrimPrefix(m.Point, img.MountPath))
	}
	if got := strings.Join(points, " "); got != " /var /home /opt" {
		t.Errorf("mounts %q, want / /var /home /opt", got)
	}
	if len(img.Guest.Skipped) != 1 || !strings.HasPrefix(img.Guest.Skipped[0], "/.snapshots:") {
		t.Errorf("skipped %q", img.Guest.Skipped)
	}
	if len(img.Guest.Filesystems) != 1 {
		t.Errorf("filesystems %v: one btrfs", img.Guest.Filesystems)
	}
	if err := os.WriteFile(filepath.Join(img.MountPath, "var/log/chromogenic-marker"), []byte("log\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := img.Close(); err != nil {
		t.Fatal(err)
	}
	assertReleased(t, image, dir)
	onBtrfs(t, image, 1, "subvol=@/var", true, func(v string) {
		if got := readGuest(t, v, "log/chromogenic-marker"); got != "log\n" {
			t.Errorf("marker in @/var: %q", got)
		}
	})
	onBtrfs(t, image, 1, "subvolid=5", true, func(top string) {
		if _, err := os.Stat(filepath.Join(top, "@/.snapshots/1/snapshot/var/log/chromogenic-marker")); !os.IsNotExist(err) {
			t.Errorf("marker in the snapshot's /var too: %v", err)
		}
	})
}

// Hostile or broken layouts of the openSUSE disk: each fails OpenImage with an error naming
// the cause, after the root was mounted (a half-way failure), and leaves nothing mounted or
// attached.
func TestOpenImageBtrfsRefused(t *testing.T) {
	dir := t.TempDir()
	image := testimages.Make(t, "btrfs-suse", dir)
	var uuid string
	var orig []byte
	onBtrfs(t, image, 1, "subvolid=5", true, func(top string) {
		orig, _ = os.ReadFile(filepath.Join(top, "@/.snapshots/1/snapshot/etc/fstab"))
	})
	uuid = ParseFstab(string(orig))[0].Spec
	many := &strings.Builder{}
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(many, "%s /srv/d%d btrfs subvol=/@/opt 0 0\n", uuid, i)
	}
	for _, c := range []struct{ name, fstab, want string }{
		{"dotdot", uuid + " /var btrfs subvol=../../etc 0 0\n", `climbs with ".."`},
		{"missing", uuid + " /srv btrfs subvol=/@/nothing 0 0\n", "has no such subvolume (it has @, @/var"},
		{"missing-id", uuid + " /srv btrfs subvolid=4711 0 0\n", "has no such subvolume"},
		{"bad-id", uuid + " /var btrfs subvolid=x 0 0\n", `subvolid "x" is no subvolume ID`},
		{"10k", many.String(), "more than 64 btrfs subvolume entries"},
	} {
		t.Run(c.name, func(t *testing.T) {
			onBtrfs(t, image, 1, "subvolid=5", false, func(top string) {
				if err := os.WriteFile(filepath.Join(top, "@/.snapshots/1/snapshot/etc/fstab"), append(append([]byte(nil), orig...), c.fstab...), 0o644); err != nil {
					t.Fatal(err)
				}
			})
			img, err := OpenImage(image, ImageOptions{TempDir: dir, TempPattern: "mnt-", Guest: GuestOptions{FstabMounts: DefaultFstabMounts}})
			if err == nil {
				img.Close()
				t.Fatal("mounted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			assertReleased(t, image, dir)
		})
	}
	// No default root and no fstab naming one: snapshots 1, 2 and 3 all qualify. An error
	// lists them, never a guess.
	onBtrfs(t, image, 1, "subvolid=5", false, func(top string) {
		os.WriteFile(filepath.Join(top, "@/.snapshots/1/snapshot/etc/fstab"), orig, 0o644)
		if out, err := exec.Command("btrfs", "subvolume", "set-default", "5", top).CombinedOutput(); err != nil {
			t.Fatalf("set-default: %v\n%s", err, out)
		}
	})
	img, err := OpenImage(image, ImageOptions{TempDir: dir, TempPattern: "mnt-"})
	if err == nil {
		img.Close()
		t.Fatal("an ambiguous btrfs root was mounted")
	}
	for _, want := range []string{"3 subvolumes hold a Linux root", "@/.snapshots/1/snapshot (subvolid=", "@/.snapshots/3/snapshot", "btrfs subvolume set-default"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	assertReleased(t, image, dir)
}

// root_subvolume picks snapper's snapshot 2 of the openSUSE disk over the default subvolume
// (snapshot 1): / holds snapshot 2's files and the guest's other subvolumes are mounted as its
// fstab says. A path that is no subvolume, and a btrfs choice on a disk without btrfs, are
// refused naming root_subvolume and leave nothing mounted.
func TestOpenImageRootSubvolume(t *testing.T) {
	dir := t.TempDir()
	image := testimages.Make(t, "btrfs-suse", dir)
	img, err := OpenImage(image, ImageOptions{TempDir: dir, TempPattern: "mnt-",
		Guest: GuestOptions{FstabMounts: DefaultFstabMounts, RootSubvolume: "/@/.snapshots/2/snapshot"}})
	if err != nil {
		t.Fatal(err)
	}
	releaseOnFail(t, img)
	if got := img.Root.Btrfs.RootPath(); got != "@/.snapshots/2/snapshot" {
		t.Errorf("root subvolume %q", got)
	}
	if got := readGuest(t, img.MountPath, "etc/chromogenic-subvol"); got != "snapshot 2\n" {
		t.Errorf("/ holds %q, want snapshot 2", got)
	}
	if got := readGuest(t, img.MountPath, "var/chromogenic-subvol"); got != "var\n" {
		t.Errorf("/var holds %q", got)
	}
	if err := img.Close(); err != nil {
		t.Fatal(err)
	}
	assertReleased(t, image, dir)

	for _, c := range []struct {
		image string
		opts  GuestOptions
		want  string
	}{
		{image, GuestOptions{RootSubvolume: "@/.snapshots/9/snapshot"}, `root_subvolume "@/.snapshots/9/snapshot": no btrfs filesystem`},
		{image, GuestOptions{RootPartition: 1, RootSubvolume: "@/nothing"}, `root_subvolume "@/nothing": not a subvolume of partition 1 (btrfs`},
		{image, GuestOptions{RootSubvolume: "@/../x"}, `root_subvolume: subvolume path "@/../x" climbs`},
		{testimages.Make(t, "lvm-var", dir), GuestOptions{RootVolume: "chromo-vg/root", RootSubvolume: "root"}, `root_subvolume "root": the root logical volume chromo-vg/root (ext4`},
	} {
		img, err := OpenImage(c.image, ImageOptions{TempDir: dir, TempPattern: "mnt-", Guest: c.opts})
		if err == nil {
			img.Close()
			t.Errorf("%+v: mounted", c.opts)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %q does not say %q", c.opts, err, c.want)
		}
		assertReleased(t, c.image, dir)
	}
}
