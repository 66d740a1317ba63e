package chroot

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
)

// NewMounts creates the mount directory and its missing parents 0700 (not 0755 under the
// usual umask): only root may reach a mounted guest.
func TestNewMountsPrivateDirs(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	base := t.TempDir()
	dir := filepath.Join(base, "chromogenic", "loop9")
	m, err := NewMounts(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Root != dir {
		t.Errorf("Root %s, want %s", m.Root, dir)
	}
	for _, p := range []string{dir, filepath.Dir(dir)} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %o, want 0700", p, fi.Mode().Perm())
		}
	}
}

func TestGuestMountOptions(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{nil, []string{"nosuid", "nodev"}},
		{[]string{"noatime"}, []string{"nosuid", "nodev", "noatime"}},
		{[]string{"ro,noatime"}, []string{"nosuid", "nodev", "ro", "noatime"}},
		{[]string{"nodev", "nosuid"}, []string{"nosuid", "nodev"}},
		{[]string{"suid"}, []string{"nodev", "suid"}},
		{[]string{"dev,noatime"}, []string{"nosuid", "dev", "noatime"}},
		{[]string{"suid", "dev"}, []string{"suid", "dev"}},
	} {
		got := GuestMountOptions(tc.in)
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("GuestMountOptions(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// mountWith mounts a test disk of kind with the given mount options; cleanup releases it.
func mountWith(t *testing.T, kind string, opts []string) *Guest {
	t.Helper()
	dir := t.TempDir()
	image := testimages.Make(t, kind, dir)
	d, err := Attach(image, false)
	if err != nil {
		t.Fatalf("attach %s: %v", kind, err)
	}
	mnt := filepath.Join(dir, "mnt")
	g, err := MountGuest(d, mnt, GuestOptions{MountOptions: opts, FstabMounts: DefaultFstabMounts})
	t.Cleanup(func() {
		if g != nil {
			g.UnmountAll()
		}
		d.Detach()
	})
	if err != nil {
		t.Fatalf("mount guest: %v", err)
	}
	return g
}

func hasOption(opts, o string) bool { return strings.Contains(","+opts+",", ","+o+",") }

// mount_options = ["noatime"] keeps nosuid,nodev on the root and the fstab mounts (findmnt);
// only an explicit suid, dev drops them.
func TestMountOptionsKeepNosuidNodev(t *testing.T) {
	g := mountWith(t, "mbr-boot", []string{"noatime"})
	got := findmnt(t, g.Mounts.Root)
	if len(got) != 2 {
		t.Fatalf("mounted %v, want the root and /boot", got)
	}
	for mp, m := range got {
		for _, o := range []string{"nosuid", "nodev", "noatime"} {
			if !hasOption(m[1], o) {
				t.Errorf("%s mounted with %s: %s missing", mp, m[1], o)
			}
		}
	}
	g = mountWith(t, "bare-ext4", []string{"suid", "dev"})
	for mp, m := range findmnt(t, g.Mounts.Root) {
		if hasOption(m[1], "nosuid") || hasOption(m[1], "nodev") {
			t.Errorf("%s mounted with %s although suid,dev were asked for", mp, m[1])
		}
	}
}

// A guest filesystem mounted on its own is a dedicated mount; a plain host directory, a bind
// mount of a host subdirectory and the host's / are not.
func TestOwnFilesystemMount(t *testing.T) {
	plain := t.TempDir()
	if own, err := OwnFilesystemMount(plain); err != nil || own {
		t.Errorf("plain directory: %v %v, want false", own, err)
	}
	if own, err := OwnFilesystemMount("/"); err != nil || own {
		t.Errorf("/: %v %v, want false", own, err)
	}
	bind := t.TempDir()
	if err := syscall.Mount(plain, bind, "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind mount: %v", err)
	}
	defer syscall.Unmount(bind, syscall.MNT_DETACH)
	if own, err := OwnFilesystemMount(bind); err != nil || own {
		t.Errorf("bind of a host directory: %v %v, want false", own, err)
	}
	g := mountWith(t, "bare-ext4", nil)
	if own, err := OwnFilesystemMount(g.Mounts.Root); err != nil || !own {
		t.Errorf("mounted guest root: %v %v, want true", own, err)
	}
	if own, err := OwnFilesystemMount(filepath.Join(g.Mounts.Root, "etc")); err != nil || own {
		t.Errorf("directory inside the guest: %v %v, want false", own, err)
	}
}

// A guest fstab naming /boot as ext4 on a partition blkid calls something else (here swap),
// or claiming a type blkid disagrees with, is refused with the fstab line in the error.
func TestFstabTypeMustAgreeWithBlkid(t *testing.T) {
	for _, tc := range []struct {
		name, line, mkfs, want string
	}{
		{"blkid-swap", "/dev/sda1 /boot ext4 defaults 0 2", "mkswap", `"swap" (blkid); only ext2, ext3, ext4, xfs, btrfs, vfat`},
		{"fstab-says-xfs", "/dev/sda1 /boot xfs defaults 0 2", "", "says xfs, but blkid finds ext4"},
		{"fstab-says-iso", "/dev/sda1 /boot iso9660 defaults 0 2", "", `type "iso9660" is not mounted`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			image := testimages.Make(t, "mbr-boot", dir)
			mnt := filepath.Join(dir, "mnt")
			// Rewrite the guest's fstab (root only mounted), and reformat partition 1.
			d, err := Attach(image, false)
			if err != nil {
				t.Fatal(err)
			}
			g, err := MountGuest(d, mnt, GuestOptions{})
			if err != nil {
				d.Detach()
				t.Fatal(err)
			}
			fstab := "/dev/sda2 / ext4 defaults 0 1\n" + tc.line + "\n"
			werr := os.WriteFile(filepath.Join(g.Mounts.Root, "etc/fstab"), []byte(fstab), 0o644)
			g.UnmountAll()
			if werr != nil {
				d.Detach()
				t.Fatal(werr)
			}
			if tc.mkfs != "" {
				if out, err := exec.Command(tc.mkfs, d.Partition(1).Device).CombinedOutput(); err != nil {
					d.Detach()
					t.Fatalf("%s: %v %s", tc.mkfs, err, out)
				}
			}
			d.Detach()

			d, err = Attach(image, false)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Detach()
			g, err = MountGuest(d, mnt, GuestOptions{FstabMounts: DefaultFstabMounts})
			if err == nil {
				g.UnmountAll()
				t.Fatalf("guest mounted although its fstab says %q", tc.line)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "/dev/sda1 /boot") {
				t.Errorf("error %q, want it to name the fstab line and %q", err, tc.want)
			}
			if m := MountedUnder(mnt); len(m) > 0 {
				t.Errorf("still mounted after the refusal: %v", m)
			}
		})
	}
}
