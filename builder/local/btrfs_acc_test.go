//go:build linux

package local

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

//go:embed test-fixtures/btrfs.pkr.hcl
var btrfsTemplate string

// TestAccLocalBtrfsSuse builds an openSUSE-shaped btrfs guest with the real packer: a shell
// provisioner and chromogenic-clean run in snapper's booted snapshot with /var and /home
// mounted from their subvolumes. In the artifact, read through fresh mounts of each subvolume:
// the marker is in snapshot 1 only, the log in @/var was emptied in place, the bash history in
// @/home removed and its neighbour kept; snapshots 2 and 3 are untouched; the source is
// byte-identical and nothing stays mounted or attached. chromogenic-convert then makes it
// bootable (GRUB for BIOS, the kernel in the snapshot's own /boot) and packs an OVA: its one
// VMDK passes qemu-img check and its btrfs holds the same subvolumes with the marker and
// without the bash history; it boots with SeaBIOS (one TCG boot), the guest printing that GRUB
// started the kernel of snapshot 1, / is snapshot 1, /var and /home their own subvolumes, and
// the marker.
func TestAccLocalBtrfsSuse(t *testing.T) {
	testtier.Acceptance(t, "a packer build")
	env := packertest.Setup(t)
	dir := t.TempDir()
	src := testimages.Make(t, "btrfs-suse", dir)
	before := packertest.FileSHA256(t, src)
	marker := fmt.Sprintf("marker-%d", time.Now().UnixNano())
	out, conv := filepath.Join(dir, "out"), filepath.Join(dir, "conv")
	mnt := filepath.Join(dir, "mounts", "mnt")

	start := time.Now()
	res := env.MustBuild(t, dir, btrfsTemplate, 15*time.Minute, "-var", "source_path="+src, "-var", "output_directory="+out,
		"-var", "mount_path="+mnt, "-var", "marker="+marker, "-var", "convert_directory="+conv)
	t.Logf("packer build of btrfs-suse (with the bootable OVA): %s", time.Since(start).Round(time.Second))
	artifact := filepath.Join(out, "btrfs.raw")
	assertReleased(t, mnt, artifact)
	if !strings.Contains(res.Output, "ROOT-SUBVOL=snapshot_1") {
		t.Errorf("the provisioner did not run in snapshot 1:\n%s", res.Output)
	}
	// The mounts seen from the host while the guest was mounted: each subvolume at its place.
	want := "MOUNTS=:/@/.snapshots/1/snapshot,/var:/@/var,/home:/@/home,/opt:/@/opt,"
	if !strings.Contains(res.Output, want) {
		t.Errorf("guest mounts not as the guest's fstab says, want %s:\n%s", want, res.Output)
	}

	read := func(subvol, p string) (string, error) {
		var got []byte
		var err error
		onArtifactSubvol(t, artifact, subvol, func(d string) { got, err = os.ReadFile(filepath.Join(d, p)) })
		return string(got), err
	}
	if got, err := read("@/.snapshots/1/snapshot", "root/acc-marker"); err != nil || got != marker+"\n" {
		t.Errorf("marker in snapshot 1: %q %v", got, err)
	}
	for _, n := range []string{"2", "3"} {
		if _, err := read("@/.snapshots/"+n+"/snapshot", "root/acc-marker"); !os.IsNotExist(err) {
			t.Errorf("marker in snapshot %s: %v", n, err)
		}
		if got, _ := read("@/.snapshots/"+n+"/snapshot", "etc/chromogenic-subvol"); got != "snapshot "+n+"\n" {
			t.Errorf("snapshot %s changed: %q", n, got)
		}
	}
	if got, err := read("@/var", "log/acc-btrfs.log"); err != nil || got != "" {
		t.Errorf("log in @/var: %q %v, want emptied in place", got, err)
	}
	if _, err := read("@/.snapshots/1/snapshot", "var/log/acc-btrfs.log"); !os.IsNotExist(err) {
		t.Errorf("log written into the snapshot's /var instead of @/var: %v", err)
	}
	if _, err := read("@/home", "alice/.bash_history"); !os.IsNotExist(err) {
		t.Errorf("bash history in @/home not removed: %v", err)
	}
	if got, err := read("@/home", "alice/keep"); err != nil || got != "keep\n" {
		t.Errorf("neighbour of the bash history in @/home: %q %v", got, err)
	}
	if after := packertest.FileSHA256(t, src); after != before {
		t.Errorf("source image changed: sha256 %s -> %s", before, after)
	}

	// The OVA's disk: the btrfs partition with snapshot 1 (marker), @/home (history gone,
	// neighbour kept), @/var (log emptied).
	raw := ovaDiskRaw(t, filepath.Join(conv, "suse.ova"), filepath.Join(dir, "suse-ova"))
	_, parts, err := chroot.ReadPartitions(raw)
	if err != nil || len(parts) == 0 {
		t.Fatalf("partitions of the OVA's disk: %v %v", parts, err)
	}
	var fs *chroot.Partition
	for _, p := range parts {
		if b, _ := exec.Command("blkid", "-p", "-O", strconv.FormatInt(p.Start, 10), "-S", strconv.FormatInt(p.Size, 10),
			"-s", "TYPE", "-o", "value", raw).Output(); strings.TrimSpace(string(b)) == "btrfs" {
			fs = p
		}
	}
	if fs == nil {
		t.Fatalf("no btrfs among the OVA disk's partitions %v", parts)
	}
	onBtrfsRange(t, raw, fs.Start, fs.Size, "@/.snapshots/1/snapshot", func(d string) {
		if got, err := os.ReadFile(filepath.Join(d, "root/acc-marker")); err != nil || string(got) != marker+"\n" {
			t.Errorf("marker in the OVA's snapshot 1: %q %v", got, err)
		}
	})
	onBtrfsRange(t, raw, fs.Start, fs.Size, "@/home", func(d string) {
		if _, err := os.Stat(filepath.Join(d, "alice/.bash_history")); !os.IsNotExist(err) {
			t.Errorf("bash history in the OVA's @/home: %v", err)
		}
		if got, err := os.ReadFile(filepath.Join(d, "alice/keep")); err != nil || string(got) != "keep\n" {
			t.Errorf("neighbour of the bash history in the OVA's @/home: %q %v", got, err)
		}
	})
	onBtrfsRange(t, raw, fs.Start, fs.Size, "@/var", func(d string) {
		if got, err := os.ReadFile(filepath.Join(d, "log/acc-btrfs.log")); err != nil || len(got) != 0 {
			t.Errorf("log in the OVA's @/var: %q %v, want empty", got, err)
		}
	})
	assertNothingUnder(t, dir)

	bootStart := time.Now()
	_, serial := testimages.BootDisks(t, []testimages.BootDisk{{Path: raw, Format: "raw"}}, 10*time.Minute, testimages.BootOptions{})
	t.Logf("boot took %s", time.Since(bootStart).Round(time.Second))
	const snap1 = "/@/.snapshots/1/snapshot"
	for _, want := range []string{
		`(?m)SUSE-BOOT marker=` + regexp.QuoteMeta(marker) + ` var=/@/var home=/@/home\r?$`,
		`(?m)CHROMOGENIC-ROOT fsroot=` + regexp.QuoteMeta(snap1) + ` marker=snapshot 1 cmdline=BOOT_IMAGE=` + regexp.QuoteMeta(snap1) + `/boot/vmlinuz-\S+ .*rootflags=subvol=@/.snapshots/1/snapshot`,
	} {
		if !regexp.MustCompile(want).MatchString(serial) {
			t.Errorf("the guest's boot report does not match %s; serial ends:\n%s", want, tail(serial, 3000))
		}
	}
}

// TestAccLocalRootSubvolume: root_subvolume picks snapper's snapshot 2 of the same guest over
// the default subvolume: the provisioner runs in snapshot 2 (its marker lands there, not in
// snapshot 1) with /var still from @/var.
func TestAccLocalRootSubvolume(t *testing.T) {
	testtier.Acceptance(t, "a packer build")
	env := packertest.Setup(t)
	dir := t.TempDir()
	src := testimages.Make(t, "btrfs-suse", dir)
	marker := fmt.Sprintf("marker-%d", time.Now().UnixNano())
	out := filepath.Join(dir, "out")
	mnt := filepath.Join(dir, "mounts", "mnt")
	res := env.MustBuild(t, dir, btrfsTemplate, 10*time.Minute, "-var", "source_path="+src, "-var", "output_directory="+out,
		"-var", "mount_path="+mnt, "-var", "marker="+marker, "-var", "root_subvolume=@/.snapshots/2/snapshot", "-except=ova")
	artifact := filepath.Join(out, "btrfs.raw")
	assertReleased(t, mnt, artifact)
	if !strings.Contains(res.Output, "ROOT-SUBVOL=snapshot_2") || !strings.Contains(res.Output, "MOUNTS=:/@/.snapshots/2/snapshot,/var:/@/var,") {
		t.Errorf("the provisioner did not run in snapshot 2 with @/var:\n%s", res.Output)
	}
	onArtifactSubvol(t, artifact, "@/.snapshots/2/snapshot", func(d string) {
		if got, err := os.ReadFile(filepath.Join(d, "root/acc-marker")); err != nil || string(got) != marker+"\n" {
			t.Errorf("marker in snapshot 2: %q %v", got, err)
		}
	})
	onArtifactSubvol(t, artifact, "@/.snapshots/1/snapshot", func(d string) {
		if _, err := os.Stat(filepath.Join(d, "root/acc-marker")); !os.IsNotExist(err) {
			t.Errorf("marker in snapshot 1: %v", err)
		}
	})
}

// onArtifactSubvol mounts subvolume subvol of the btrfs on partition 1 of image read-only and
// calls fn with its directory.
func onArtifactSubvol(t *testing.T, image, subvol string, fn func(dir string)) {
	t.Helper()
	_, parts, err := chroot.ReadPartitions(image)
	if err != nil || len(parts) != 1 {
		t.Fatalf("partitions of %s: %v %v", image, parts, err)
	}
	onBtrfsRange(t, image, parts[0].Start, parts[0].Size, subvol, fn)
}

//go:embed test-fixtures/btrfs-fedora.pkr.hcl
var btrfsFedoraTemplate string

// TestAccLocalBtrfsFedora: through the real packer, chromogenic-local on the Fedora-shaped
// btrfs guest (/ in subvolume root, /home in subvolume home), a shell provisioner writing into
// /home, chromogenic-clean, and chromogenic-convert making it bootable (GRUB for BIOS) packed
// as an OVA. The OVA's disk passes qemu-img check; it holds /boot (active) with a grub.cfg
// that mounts the root subvolume, and the btrfs whose home subvolume has the marker and whose
// root subvolume lost the bash history; it boots with SeaBIOS to the guest's marker (one TCG
// boot: the btrfs export boot of internal/bootable).
func TestAccLocalBtrfsFedora(t *testing.T) {
	testtier.Acceptance(t, "a packer build")
	env := packertest.Setup(t)
	dir := t.TempDir()
	src := testimages.Make(t, "btrfs-fedora", dir)
	before := packertest.FileSHA256(t, src)
	marker := fmt.Sprintf("marker-%d", time.Now().UnixNano())
	out, conv := filepath.Join(dir, "out"), filepath.Join(dir, "conv")
	env.MustBuild(t, dir, btrfsFedoraTemplate, 15*time.Minute, "-var", "source_path="+src, "-var", "output_directory="+out,
		"-var", "convert_directory="+conv, "-var", "marker="+marker)
	assertReleased(t, filepath.Join(out, "mnt"), filepath.Join(out, "fedora.raw"))
	if after := packertest.FileSHA256(t, src); after != before {
		t.Errorf("source image changed: sha256 %s -> %s", before, after)
	}

	raw := ovaDiskRaw(t, filepath.Join(conv, "fedora.ova"), filepath.Join(dir, "fedora-ova"))
	_, parts, err := chroot.ReadPartitions(raw)
	if err != nil || len(parts) != 2 {
		t.Fatalf("partitions of the OVA's disk: %v %v", parts, err)
	}
	boot := readExt(t, raw, parts[0].Start, parts[0].Size, "grub/grub.cfg")["grub/grub.cfg"]
	if !strings.Contains(boot, "rootflags=subvol=root") {
		t.Errorf("grub.cfg on /boot does not mount the root subvolume:\n%s", boot)
	}
	onBtrfsRange(t, raw, parts[1].Start, parts[1].Size, "home", func(d string) {
		if got, err := os.ReadFile(filepath.Join(d, "acc-marker")); err != nil || string(got) != marker+"\n" {
			t.Errorf("marker in the home subvolume: %q %v", got, err)
		}
	})
	onBtrfsRange(t, raw, parts[1].Start, parts[1].Size, "root", func(d string) {
		if _, err := os.Stat(filepath.Join(d, "root/.bash_history")); !os.IsNotExist(err) {
			t.Errorf("bash history in the root subvolume after chromogenic-clean: %v", err)
		}
		if _, err := os.Stat(filepath.Join(d, "etc/fstab")); err != nil {
			t.Errorf("root subvolume: %v", err)
		}
	})
	start := time.Now()
	testimages.Boot(t, raw, "raw", 8*time.Minute)
	t.Logf("boot took %s", time.Since(start).Round(time.Second))
}

// onBtrfsRange mounts subvolume subvol of the btrfs at [off, off+size) of image read-only and
// calls fn with its directory.
func onBtrfsRange(t *testing.T, image string, off, size int64, subvol string, fn func(dir string)) {
	t.Helper()
	l, err := chroot.AttachLoop(image, off, size, true)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Detach()
	d := t.TempDir()
	if err := unix.Mount(l.Path, d, "btrfs", unix.MS_RDONLY, "subvol="+subvol); err != nil {
		t.Fatalf("mount subvolume %s of %s: %v", subvol, image, err)
	}
	defer unix.Unmount(d, 0)
	fn(d)
}
