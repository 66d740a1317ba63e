//go:build linux

package bootable

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

// A Fedora-shaped guest (btrfs root in subvolume "root", /boot on ext4) made bootable and
// booted under TCG: builder/local's TestAccLocalBtrfsFedora, through the real packer.

const suseSnapshot1 = "@/.snapshots/1/snapshot"

// makeSuse runs Make on a copy of the btrfs-suse test image (openSUSE's shape: the root is
// snapper's snapshot subvolume, the default one, with the kernel in its own /boot) and checks
// what every such disk has: the root subvolume in the result and on the command line, and
// grub.cfg, in the chosen subvolume's /boot/grub, naming the kernel and initramfs by their
// paths from the btrfs top level.
func makeSuse(t *testing.T, dir string, opts Options, wantSubvol string) (dst string, res *Result) {
	t.Helper()
	img := testimages.Make(t, "btrfs-suse", dir)
	dst = filepath.Join(dir, "bootable-suse.raw")
	opts.Logf = func(f string, a ...any) { t.Logf(f, a...) }
	start := time.Now()
	res, err := Make(context.Background(), img, dst, opts)
	if err != nil {
		t.Fatalf("Make: %v", err)
	}
	t.Logf("Make took %s: %+v", time.Since(start).Round(time.Millisecond), res)
	checkReleased(t, dst)
	checkReleased(t, img)
	if len(res.Bootloaders) != 1 || !strings.HasPrefix(res.Bootloaders[0], "grub-pc") {
		t.Errorf("bootloaders %v, want GRUB for BIOS", res.Bootloaders)
	}
	if res.RootSubvolume != wantSubvol || !strings.HasSuffix(res.Cmdline, " rootflags=subvol="+wantSubvol) {
		t.Errorf("root subvolume %q, command line %q; want %s", res.RootSubvolume, res.Cmdline, wantSubvol)
	}
	if !strings.HasPrefix(res.Kernel, "/boot/vmlinuz-") || !strings.HasPrefix(res.Initramfs, "/boot/initrd.img-") {
		t.Errorf("kernel %q, initramfs %q: want the root's own /boot", res.Kernel, res.Initramfs)
	}
	// grub.cfg is in the chosen subvolume's /boot.
	cfg := readSubvolFile(t, dst, dir, wantSubvol, grubCfgPath)
	for _, want := range []string{
		"\tlinux /" + wantSubvol + res.Kernel + " " + res.Cmdline + "\n",
		"\tinitrd /" + wantSubvol + res.Initramfs + "\n",
		"--fs-uuid --set=root " + res.RootUUID + "\n",
	} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("grub.cfg does not hold %q:\n%s", want, cfg)
		}
	}
	return dst, res
}

// readSubvolFile reads the guest file p of the image with its root in btrfs subvolume subvol.
func readSubvolFile(t *testing.T, image, dir, subvol, p string) []byte {
	t.Helper()
	img, err := chroot.OpenImage(image, chroot.ImageOptions{ReadOnly: true, TempDir: dir, TempPattern: "check-",
		Guest: chroot.GuestOptions{RootSubvolume: subvol, FstabMounts: []string{}}})
	if err != nil {
		t.Fatalf("open %s with its root in %s: %v", image, subvol, err)
	}
	defer img.Close()
	b, err := os.ReadFile(filepath.Join(img.MountPath, p))
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("%s in %s: %v", p, subvol, err)
	}
	return b
}

// TestBtrfsSuseGrubBoot: an openSUSE-shaped guest made bootable with GRUB for BIOS (the
// default) and booted under TCG. The guest reports, before the boot marker, which file GRUB
// started (BOOT_IMAGE: the kernel in the snapshot subvolume's /boot, by its path from the top
// level), the subvolume mounted at / and that subvolume's own marker file.
func TestBtrfsSuseGrubBoot(t *testing.T) {
	testtier.Acceptance(t, "a qemu boot")
	dir := t.TempDir()
	dst, res := makeSuse(t, dir, Options{Firmware: FirmwareBIOS}, suseSnapshot1)
	// builder/local TestAccLocalBtrfsSuse boots this shape through packer (GRUB, in an OVA)
	// with the same checks; booting it here as well is for CHROMOGENIC_BOOT_ALL=1.
	if os.Getenv("CHROMOGENIC_BOOT_ALL") == "" {
		t.Log("boot skipped (builder/local TestAccLocalBtrfsSuse boots the same guest); CHROMOGENIC_BOOT_ALL=1 runs it")
		return
	}
	serial := filepath.Join(dir, "serial.log")
	testimages.BootWith(t, dst, "raw", 8*time.Minute, testimages.BootOptions{SerialLog: serial})
	log, err := os.ReadFile(serial)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`CHROMOGENIC-ROOT fsroot=(\S*) marker=(.*) cmdline=(.*)`).FindSubmatch(log)
	if m == nil {
		t.Fatalf("no CHROMOGENIC-ROOT report on the serial console:\n%s", log)
	}
	fsroot, marker, cmdline := string(m[1]), strings.TrimSpace(string(m[2])), string(m[3])
	t.Logf("booted: root %s (%s), command line %s", fsroot, marker, cmdline)
	if fsroot != "/"+suseSnapshot1 || marker != "snapshot 1" {
		t.Errorf("/ is %s holding %q, want /%s holding \"snapshot 1\"", fsroot, marker, suseSnapshot1)
	}
	if !strings.HasPrefix(cmdline, "BOOT_IMAGE=/"+suseSnapshot1+res.Kernel+" ") ||
		!strings.Contains(cmdline, "rootflags=subvol="+suseSnapshot1) {
		t.Errorf("kernel command line %q: want BOOT_IMAGE=/%s%s and rootflags=subvol=%s", cmdline, suseSnapshot1, res.Kernel, suseSnapshot1)
	}
}

// TestBtrfsSuseExtlinuxRefused: extlinux cannot boot a kernel inside a btrfs subvolume:
// bootable refuses it before the guest's tools run, naming the subvolume and GRUB, and
// leaves no output, loop or mount behind.
func TestBtrfsSuseExtlinuxRefused(t *testing.T) {
	testtier.Acceptance(t, "bootable's copy of a btrfs disk")
	dir := t.TempDir()
	img := testimages.Make(t, "btrfs-suse", dir)
	dst := filepath.Join(dir, "bootable-suse.raw")
	start := time.Now()
	_, err := Make(context.Background(), img, dst, Options{Firmware: FirmwareBIOS, Bootloader: BootloaderExtlinux})
	t.Logf("refused in %s: %v", time.Since(start).Round(time.Millisecond), err)
	if err == nil || !strings.Contains(err.Error(), `btrfs subvolume "`+suseSnapshot1+`" with the kernel in its /boot: extlinux cannot`) ||
		!strings.Contains(err.Error(), `bootloader = "grub"`) {
		t.Fatalf("Make with extlinux of a kernel inside a btrfs subvolume: %v", err)
	}
	if _, serr := os.Stat(dst); !os.IsNotExist(serr) {
		t.Errorf("output left behind after the failure: %v", serr)
	}
	checkReleased(t, dst)
	checkReleased(t, img)
}

// TestBtrfsRootSubvolume: RootSubvolume picks snapper's snapshot 2 where the rule picks the
// default subvolume, snapshot 1 (TestBtrfsSuseGrubBoot): the command line, grub.cfg and its
// kernel paths name snapshot 2, and snapshot 1's /boot gets no grub.cfg of ours. A
// subvolume that holds no root is refused naming root_subvolume, before anything is written.
func TestBtrfsRootSubvolume(t *testing.T) {
	testtier.Acceptance(t, "bootable's copy and initramfs rebuild")
	dir := t.TempDir()
	const snap2 = "@/.snapshots/2/snapshot"
	dst, _ := makeSuse(t, dir, Options{Firmware: FirmwareBIOS, RootSubvolume: "/" + snap2 + "/"}, snap2)
	if cfg := readSubvolFile(t, dst, dir, suseSnapshot1, grubCfgPath); strings.Contains(string(cfg), "chromogenic") {
		t.Errorf("snapshot 1 got a grub.cfg of ours:\n%s", cfg)
	}
	if got := string(readSubvolFile(t, dst, dir, snap2, "/etc/chromogenic-subvol")); got != "snapshot 2\n" {
		t.Errorf("snapshot 2's marker %q", got)
	}

	img := testimages.Make(t, "btrfs-suse", dir)
	bad := filepath.Join(dir, "bad.raw")
	_, err := Make(context.Background(), img, bad, Options{RootSubvolume: "@/.snapshots/9/snapshot"})
	if err == nil || !strings.Contains(err.Error(), `root_subvolume "@/.snapshots/9/snapshot": no btrfs filesystem`) {
		t.Errorf("Make with a subvolume holding no root: %v", err)
	}
	if _, serr := os.Stat(bad); !os.IsNotExist(serr) {
		t.Errorf("output left behind after the failure: %v", serr)
	}
	checkReleased(t, bad)
	checkReleased(t, img)
}
