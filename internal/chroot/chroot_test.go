package chroot

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
)

// mountKind makes a test disk of the given kind, attaches it and mounts the guest; cleanup
// releases everything and checks nothing stays attached.
func mountKind(t *testing.T, kind string) (*Disk, *Guest, error) {
	t.Helper()
	dir := t.TempDir()
	image := testimages.Make(t, kind, dir)
	d, err := Attach(image, false)
	if err != nil {
		t.Fatalf("attach %s: %v", kind, err)
	}
	mnt := filepath.Join(dir, "mnt")
	g, err := MountGuest(d, mnt, GuestOptions{FstabMounts: DefaultFstabMounts})
	t.Cleanup(func() {
		if g != nil {
			if err := g.UnmountAll(); err != nil {
				t.Errorf("unmount: %v", err)
			}
		}
		if err := d.Detach(); err != nil {
			t.Errorf("detach: %v", err)
		}
		if m := MountedUnder(mnt); len(m) > 0 {
			t.Errorf("still mounted: %v", m)
		}
		if l := LoopsBackedBy(image); len(l) > 0 {
			t.Errorf("loops still backed by %s: %v", image, l)
		}
	})
	return d, g, err
}

func TestFindRootAndMount(t *testing.T) {
	cases := []struct {
		kind       string
		table      string
		rootPart   int
		rootFS     string
		subMounts  []string // guest paths mounted below the root
		subFSTypes []string
	}{
		{"mbr-boot", "dos", 2, "ext4", []string{"/boot"}, []string{"ext4"}},
		{"gpt-efi", "gpt", 2, "ext4", []string{"/boot/efi"}, []string{"vfat"}},
		{"bare-ext4", "", 0, "ext4", nil, nil},
		{"xfs-root", "dos", 1, "xfs", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			d, g, err := mountKind(t, tc.kind)
			if err != nil {
				t.Fatalf("mount guest: %v", err)
			}
			if d.Table != tc.table {
				t.Errorf("table %q, want %q", d.Table, tc.table)
			}
			if g.Root.Number != tc.rootPart || g.Root.FSType != tc.rootFS {
				t.Errorf("root %s, want partition %d (%s)", g.Root, tc.rootPart, tc.rootFS)
			}
			// The mounted tree is the guest's: its os-release is Debian's.
			osr, err := g.Guest().ReadFile("/etc/os-release")
			if err != nil || !strings.Contains(string(osr), "Debian") {
				t.Errorf("guest os-release: %q %v", osr, err)
			}
			// Sub-mounts are where the guest fstab says, with the right filesystem, and
			// nosuid,nodev as asked.
			want := map[string]string{g.Mounts.Root: tc.rootFS}
			for i, sub := range tc.subMounts {
				if !KernelSupports(tc.subFSTypes[i]) {
					// This host's kernel cannot mount it: the mount is skipped with a reason.
					if len(g.Skipped) != 1 || !strings.Contains(g.Skipped[0], sub+": this kernel cannot mount "+tc.subFSTypes[i]) {
						t.Errorf("skipped %v, want %s skipped for lack of %s", g.Skipped, sub, tc.subFSTypes[i])
					}
					continue
				}
				want[filepath.Join(g.Mounts.Root, sub)] = tc.subFSTypes[i]
			}
			got := findmnt(t, g.Mounts.Root)
			if len(got) != len(want) {
				t.Errorf("mounted %v, want %v", got, want)
			}
			for mp, fs := range want {
				if got[mp][0] != fs {
					t.Errorf("%s: mounted %v, want %s", mp, got[mp], fs)
					continue
				}
				if !strings.Contains(got[mp][1], "nosuid") || !strings.Contains(got[mp][1], "nodev") {
					t.Errorf("%s mounted with %s, want nosuid,nodev", mp, got[mp][1])
				}
			}
			// The chroot mounts work and a command runs inside the guest.
			if err := g.MountChroot(DefaultChrootMounts); err != nil {
				t.Fatalf("chroot mounts: %v", err)
			}
			out, err := exec.Command("chroot", g.Mounts.Root, "/bin/sh", "-c", "cat /proc/self/mountinfo >/dev/null && . /etc/os-release && echo $ID").CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "debian" {
				t.Errorf("command in chroot: %q %v", out, err)
			}
		})
	}
}

// findmnt lists mounts at or below dir: mount point -> [fstype, options].
func findmnt(t *testing.T, dir string) map[string][2]string {
	t.Helper()
	out, err := exec.Command("findmnt", "-rn", "-o", "TARGET,FSTYPE,OPTIONS", "-R", dir).Output()
	if err != nil {
		t.Fatalf("findmnt %s: %v", dir, err)
	}
	m := map[string][2]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 {
			m[unescapeMount(f[0])] = [2]string{f[1], f[2]}
		}
	}
	return m
}

func TestNoLinuxRoot(t *testing.T) {
	_, g, err := mountKind(t, "no-linux")
	if err == nil {
		g.UnmountAll()
		t.Fatal("a disk with no Linux root was mounted")
	}
	if !strings.Contains(err.Error(), "no Linux root filesystem") || !strings.Contains(err.Error(), "vfat") {
		t.Errorf("unclear error: %v", err)
	}
}

// The lvm kind's root is on the LV guestvg/root (fstab /dev/mapper/guestvg-root): it is
// found among the logical volumes and mounted from an offset loop over its extents.
func TestLVMRootIsMounted(t *testing.T) {
	d, g, err := mountKind(t, "lvm")
	if err != nil {
		t.Fatal(err)
	}
	if g.Root.LV != "guestvg/root" || g.Root.Number != -1 || g.Root.FSType != "ext4" {
		t.Fatalf("root %+v", g.Root)
	}
	if len(d.Volumes) != 2 || d.Volumes[1].LV != "guestvg/swap_1" || d.Volumes[1].FSType != "swap" {
		t.Errorf("volumes %v", d.Volumes)
	}
	if p, err := d.ResolveSpec("/dev/mapper/guestvg-root"); err != nil || p != g.Root {
		t.Errorf("/dev/mapper/guestvg-root resolves to %v, %v", p, err)
	}
	if p, err := d.ResolveSpec("/dev/guestvg/swap_1"); err != nil || p != d.Volumes[1] {
		t.Errorf("/dev/guestvg/swap_1 resolves to %v, %v", p, err)
	}
	if _, err := os.Stat(filepath.Join(g.Mounts.Root, "etc/debian_version")); err != nil {
		t.Error(err)
	}
}

func TestParseFstab(t *testing.T) {
	es := ParseFstab("# c\nUUID=ab-cd / ext4 errors=remount-ro 0 1\n/dev/vda1\t/boot ext4 defaults,nofail 0 2\nLABEL=my\\040disk /mnt/my\\040disk auto noauto\n\nbroken\n")
	if len(es) != 3 {
		t.Fatalf("entries: %+v", es)
	}
	if es[0].Spec != "UUID=ab-cd" || es[0].File != "/" || es[0].FSType != "ext4" {
		t.Errorf("entry 0: %+v", es[0])
	}
	if !es[1].HasOption("nofail") || es[2].File != "/mnt/my disk" || es[2].Spec != "LABEL=my disk" {
		t.Errorf("entries 1-2: %+v %+v", es[1], es[2])
	}
}

func TestResolveSpec(t *testing.T) {
	d := &Disk{Table: "gpt", Partitions: []*Partition{
		{Number: 1, UUID: "AAAA-BBBB", Label: "EFI", PartUUID: "11111111-aaaa", PartLabel: "esp"},
		{Number: 2, UUID: "1234-5678", Label: "root", PartUUID: "22222222-bbbb"},
	}}
	cases := map[string]int{
		"UUID=1234-5678": 2, "UUID=aaaa-bbbb": 1, "LABEL=root": 2, "PARTUUID=22222222-BBBB": 2,
		"PARTLABEL=esp": 1, "/dev/disk/by-uuid/AAAA-BBBB": 1, "/dev/vda2": 2, "/dev/xvda1": 1,
		"/dev/sda2": 2, "/dev/nvme0n1p1": 1, `UUID="1234-5678"`: 2, "UUID=ffff": 0, "/dev/vda9": 0,
	}
	for spec, want := range cases {
		p, err := d.ResolveSpec(spec)
		if err != nil {
			t.Errorf("%s: %v", spec, err)
			continue
		}
		got := 0
		if p != nil {
			got = p.Number
		}
		if got != want {
			t.Errorf("%s -> partition %d, want %d", spec, got, want)
		}
	}
	if _, err := d.ResolveSpec("/dev/mapper/vg-root"); err == nil {
		t.Errorf("/dev/mapper spec accepted")
	}
}

func TestParseOptions(t *testing.T) {
	flags, data := ParseOptions([]string{"nosuid,nodev", "ro", "errors=remount-ro", "rw"})
	if flags&0x1 != 0 { // MS_RDONLY cleared by the later rw
		t.Errorf("rw did not clear ro: %x", flags)
	}
	if data != "errors=remount-ro" {
		t.Errorf("data %q", data)
	}
}

func TestAttachMissingImage(t *testing.T) {
	_, err := Attach(filepath.Join(t.TempDir(), "none.raw"), false)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("attach of a missing file: %v", err)
	}
}
