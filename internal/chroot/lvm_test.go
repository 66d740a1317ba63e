package chroot

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
)

// lvmTools runs an LVM command on one device only (never a scan of the host's devices),
// without device-mapper and without writing host state.
func lvmTools(t *testing.T, dev string, args ...string) string {
	t.Helper()
	full := append([]string{"--driverloaded", "n", "--devices", dev, "--config",
		`devices { obtain_device_list_from_udev=0 hints="none" use_devicesfile=0 } activation { udev_sync=0 udev_rules=0 } backup { backup=0 archive=0 }`},
		args[1:]...)
	cmd := exec.Command(args[0], full...)
	cmd.Env = append(os.Environ(), "LVM_SUPPRESS_FD_WARNINGS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// hostVG makes a VG named name on a loop-backed file of the test (standing for a host VG of
// the same name as the guest's) and returns a function giving the sha256 of its first 2 MiB
// (label and metadata) and what LVM reports of it.
func hostVG(t *testing.T, name string) func() string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "host-pv.raw")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(64 << 20)
	f.Close()
	l, err := AttachLoop(file, 0, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Detach() })
	lvmTools(t, l.Path, "pvcreate", "-y", l.Path)
	lvmTools(t, l.Path, "vgcreate", name, l.Path)
	lvmTools(t, l.Path, "lvcreate", "--activate", "n", "--zero", "n", "--wipesignatures", "n", "-n", "hostlv", "-l", "4", name)
	return func() string {
		b := make([]byte, 2<<20)
		g, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		if _, err := io.ReadFull(g, b); err != nil {
			t.Fatal(err)
		}
		vgs := lvmTools(t, l.Path, "lvs", "--noheadings", "-o", "vg_name,vg_uuid,vg_seqno,lv_name,seg_pe_ranges")
		return fmt.Sprintf("%x %s", sha256.Sum256(b), vgs)
	}
}

// readRange mounts [off, off+size) of image read-only through a fresh loop and returns the
// content of path in it.
func readRange(t *testing.T, image string, off, size int64, path string) ([]byte, error) {
	t.Helper()
	dir := t.TempDir()
	l, err := AttachLoop(image, off, size, true)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Detach()
	if err := mountRetry(l.Path, dir, "ext4", syscall.MS_RDONLY, "noload"); err != nil {
		t.Fatal(err)
	}
	defer unmount(dir, dir)
	return os.ReadFile(filepath.Join(dir, path))
}

// The lvm-var guest: / and /var are LVs of VG chromo-vg, /boot a partition. OpenImage mounts
// each where the guest's fstab says; a file written to the guest's /var lands in the var LV's
// extents on the disk (read back through a fresh loop after Close), not in the root LV; a VG
// of the same name on the host is untouched; nothing stays attached.
func TestOpenImageLVMRootAndVar(t *testing.T) {
	host := hostVG(t, "chromo-vg")
	before := host()
	dir := t.TempDir()
	image := testimages.Make(t, "lvm-var", dir)
	img, err := OpenImage(image, ImageOptions{TempDir: dir, TempPattern: "mnt-",
		Guest: GuestOptions{FstabMounts: []string{"/boot", "/var"}}})
	if err != nil {
		t.Fatal(err)
	}
	releaseOnFail(t, img)
	if img.Root.LV != "chromo-vg/root" || img.Root.FSType != "ext4" {
		t.Fatalf("root %v", img.Root)
	}
	mounts := map[string]string{}
	for _, m := range MountsUnder(img.MountPath) {
		mounts[m.Point] = m.Source
	}
	var varLV *Partition
	for _, v := range img.Disk.Volumes {
		if v.LV == "chromo-vg/var" {
			varLV = v
		}
	}
	if varLV == nil {
		t.Fatalf("no var LV in %v", img.Disk.Volumes)
	}
	if got := mounts[filepath.Join(img.MountPath, "var")]; got != varLV.Device {
		t.Fatalf("/var is %v, want %s (mounts %v)", got, varLV.Device, mounts)
	}
	if got := mounts[filepath.Join(img.MountPath, "boot")]; got != img.Disk.Partition(1).Device {
		t.Fatalf("/boot is %v, want partition 1 (mounts %v)", got, mounts)
	}
	if len(img.Guest.Filesystems) != 3 {
		t.Errorf("filesystems %v", img.Guest.Filesystems)
	}
	marker := make([]byte, 4096)
	rand.Read(marker)
	if err := os.WriteFile(filepath.Join(img.MountPath, "var/chromogenic-marker"), marker, 0o600); err != nil {
		t.Fatal(err)
	}
	start, size := varLV.Start, varLV.Size
	rootStart, rootSize := img.Root.Start, img.Root.Size
	if err := img.Close(); err != nil {
		t.Fatal(err)
	}
	assertReleased(t, image, dir)
	got, err := readRange(t, image, start, size, "chromogenic-marker")
	if err != nil || !bytes.Equal(got, marker) {
		t.Fatalf("marker in the var LV at [%d, +%d): %v (%d bytes)", start, size, err, len(got))
	}
	if _, err := readRange(t, image, rootStart, rootSize, "var/chromogenic-marker"); !os.IsNotExist(err) {
		t.Errorf("marker in the root LV's /var too: %v", err)
	}
	if after := host(); after != before {
		t.Errorf("host VG chromo-vg changed:\nbefore %s\nafter  %s", before, after)
	}
}

// /home of the lvm-var guest is an LV in two segments apart on its PV: asked for, it is
// refused naming the layout, and nothing stays attached or mounted.
func TestOpenImageLVMMultiSegmentRefused(t *testing.T) {
	dir := t.TempDir()
	image := testimages.Make(t, "lvm-var", dir)
	img, err := OpenImage(image, ImageOptions{TempDir: dir, TempPattern: "mnt-",
		Guest: GuestOptions{FstabMounts: []string{"/boot", "/var", "/home"}}})
	if err == nil {
		img.Close()
		t.Fatal("/home on a two-segment LV was mounted")
	}
	if !strings.Contains(err.Error(), "LV chromo-vg/home has 2 segments on 1 PV (pv0), not contiguous") || !strings.Contains(err.Error(), "/home") {
		t.Errorf("error does not name the layout: %v", err)
	}
	assertReleased(t, image, dir)
}

// A build killed with SIGKILL while the LVM guest is mounted leaves its mounts and LV loops;
// RecoverStale releases all of them.
func TestLVMKilledBuildRecovered(t *testing.T) {
	if os.Getenv("CHROMOGENIC_LVM_CHILD") != "" {
		img, err := OpenImage(os.Getenv("CHROMOGENIC_LVM_CHILD"), ImageOptions{MountPath: os.Getenv("CHROMOGENIC_LVM_MNT"),
			Guest: GuestOptions{FstabMounts: []string{"/boot", "/var"}}})
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println("MOUNTED", len(img.Disk.Volumes))
		time.Sleep(time.Hour)
	}
	dir := t.TempDir()
	image := testimages.Make(t, "lvm-var", dir)
	mnt := filepath.Join(dir, "mnt")
	killChild(t, dir, "TestLVMKilledBuildRecovered", "MOUNTED 2", "CHROMOGENIC_LVM_CHILD="+image, "CHROMOGENIC_LVM_MNT="+mnt)
	loops := LoopsBackedBy(image)
	if m := MountedUnder(mnt); len(m) != 3 || len(loops) < 3 {
		t.Fatalf("after SIGKILL: mounts %v, loops %v: the test would prove nothing", m, loops)
	}
	recoverKilled(t, image)
	assertReleased(t, image, mnt)
}

// A PV whose metadata area header was tampered with (its checksum no longer matches) maps no
// LV: OpenImage fails naming the root search and the checksum, and leaves nothing attached.
func TestOpenImageLVMBadChecksumRefused(t *testing.T) {
	dir := t.TempDir()
	image := testimages.Make(t, "lvm-var", dir)
	_, parts, err := ReadPartitions(image)
	if err != nil || len(parts) != 2 {
		t.Fatalf("%v %v", parts, err)
	}
	f, err := os.OpenFile(image, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	off := parts[1].Start + 4096 + 200 // inside the mda_header's raw_locn area, covered by its checksum
	f.ReadAt(b, off)
	b[0] ^= 0x40
	_, err = f.WriteAt(b, off)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	img, err := OpenImage(image, ImageOptions{TempDir: dir, TempPattern: "mnt-", Guest: GuestOptions{FstabMounts: DefaultFstabMounts}})
	if err == nil {
		img.Close()
		t.Fatal("a guest on a tampered PV was mounted")
	}
	if !strings.Contains(err.Error(), "no Linux root filesystem") || !strings.Contains(err.Error(), "header checksum mismatch") {
		t.Errorf("unclear error: %v", err)
	}
	assertReleased(t, image, dir)
}

// root_volume names the root's logical volume: chromo-vg/root mounts as the rule would; an LV
// that is not mapped (home: two segments apart) is refused with its layout, an unknown one with
// the LVs there are, a non-Linux one with its type; nothing stays attached.
func TestOpenImageRootVolume(t *testing.T) {
	dir := t.TempDir()
	image := testimages.Make(t, "lvm-var", dir)
	img, err := OpenImage(image, ImageOptions{TempDir: dir, TempPattern: "mnt-", Guest: GuestOptions{RootVolume: "chromo-vg/root"}})
	if err != nil {
		t.Fatal(err)
	}
	releaseOnFail(t, img)
	if img.Root.LV != "chromo-vg/root" {
		t.Errorf("root %v", img.Root)
	}
	if _, err := os.Stat(filepath.Join(img.MountPath, "etc/fstab")); err != nil {
		t.Errorf("root not mounted: %v", err)
	}
	if err := img.Close(); err != nil {
		t.Fatal(err)
	}
	assertReleased(t, image, dir)
	for lv, want := range map[string]string{
		"chromo-vg/home": `root_volume "chromo-vg/home": LV chromo-vg/home has 2 segments on 1 PV (pv0), not contiguous`,
		"chromo-vg/none": `root_volume "chromo-vg/none": no such logical volume (the logical volumes mapped: chromo-vg/root, chromo-vg/var)`,
	} {
		img, err := OpenImage(image, ImageOptions{TempDir: dir, TempPattern: "mnt-", Guest: GuestOptions{RootVolume: lv}})
		if err == nil {
			img.Close()
			t.Errorf("%s: mounted", lv)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %q does not say %q", lv, err, want)
		}
		assertReleased(t, image, dir)
	}
}
