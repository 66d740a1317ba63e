package retarget

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/sandbox"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

// withGuest attaches image, mounts the guest with proc, sys and dev for a chroot, runs fn on
// it and releases everything.
func withGuest(t *testing.T, image string, fn func(g *chroot.Guest)) {
	t.Helper()
	d, err := chroot.Attach(image, false)
	must(t, err)
	defer func() { must(t, d.Detach()) }()
	g, err := chroot.MountGuest(d, filepath.Join(t.TempDir(), "mnt"), chroot.GuestOptions{FstabMounts: chroot.DefaultFstabMounts})
	must(t, err)
	defer func() { must(t, g.UnmountAll()) }()
	must(t, g.MountChroot(chroot.DefaultChrootMounts))
	fn(g)
}

// guestRun runs a guest program in the mounted guest (test side).
func guestRun(t *testing.T, g *chroot.Guest, argv ...string) string {
	t.Helper()
	out, err := sandbox.Options{TrustGuest: true}.Output(context.Background(), g.Mounts.Root, argv)
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, lastLines(string(out), 30))
	}
	return string(out)
}

func cpSparse(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "--sparse=always", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp %s %s: %v\n%s", src, dst, err, out)
	}
}

var virtioBlkRE = regexp.MustCompile(`(?m)/virtio_blk\.ko`)

// TestXenToKVMBoot is the Xen→KVM check: the sample Debian disk is set up as a Xen
// guest (root by /dev/xvda1 in fstab and on the kernel command line, console=hvc0, a getty on
// hvc0, an initramfs with Xen drivers and without virtio_blk), shown not to boot with a
// virtio disk, converted by the engine (attach, mount, chroot mounts, Run), and booted under
// qemu with a virtio-blk disk to the sample's serial marker.
func TestXenToKVMBoot(t *testing.T) {
	testtier.Acceptance(t, "two initramfs rebuilds and a qemu boot")
	needRoot(t)
	if testing.Short() {
		t.Skip("rebuilds two initramfs images and boots twice under TCG (several minutes)")
	}
	dir := t.TempDir()
	xen := filepath.Join(dir, "xen.raw")
	cpSparse(t, testimages.Sample(t), xen)

	// 1. Make it a Xen guest (test side: the copy is ours).
	var kver string
	withGuest(t, xen, func(g *chroot.Guest) {
		m := g.Mounts.Root
		rd := func(p string) string { return readT(t, filepath.Join(m, p)) }
		wr := func(p, s string) { mk(t, filepath.Join(m, p), s, 0o644) }
		fstab := regexp.MustCompile(`(?m)^UUID=\S+(\s+/\s)`).ReplaceAllString(rd("etc/fstab"), "/dev/xvda1$1")
		wr("etc/fstab", fstab)
		ext := regexp.MustCompile(`(?m)^(\s*APPEND\s).*$`).ReplaceAllString(rd("boot/extlinux/extlinux.conf"), "${1}root=/dev/xvda1 ro console=hvc0 net.ifnames=0")
		wr("boot/extlinux/extlinux.conf", ext)
		wants := filepath.Join(m, "etc/systemd/system/getty.target.wants")
		must(t, os.MkdirAll(wants, 0o755))
		must(t, os.Symlink("/lib/systemd/system/serial-getty@.service", filepath.Join(wants, "serial-getty@hvc0.service")))
		wr("etc/initramfs-tools/conf.d/xen-guest", "MODULES=list\n")
		wr("etc/initramfs-tools/modules", "# Xen dom-U drivers\next4\nxen-blkfront\nxen-netfront\n")
		guestRun(t, g, "/usr/sbin/update-initramfs", "-u", "-k", "all")
		ks, _ := filepath.Glob(filepath.Join(m, "boot/vmlinuz-*"))
		if len(ks) != 1 {
			t.Fatalf("kernels: %v", ks)
		}
		kver = strings.TrimPrefix(filepath.Base(ks[0]), "vmlinuz-")
		list := guestRun(t, g, "/usr/bin/lsinitramfs", "/boot/initrd.img-"+kver)
		if virtioBlkRE.MatchString(list) || !strings.Contains(list, "xen-blkfront.ko") {
			t.Fatalf("Xen initramfs: virtio_blk present or xen-blkfront missing:\n%s", list)
		}
		t.Logf("Xen-style guest: kernel %s, initramfs without virtio_blk (%d entries)", kver, strings.Count(list, "\n"))
	})

	conv := filepath.Join(dir, "kvm.raw")
	cpSparse(t, xen, conv)

	// 2. The Xen guest does not boot with a virtio disk: boot it meanwhile (qemu -snapshot).
	type result struct {
		err    error
		stderr string
		took   time.Duration
	}
	// The negative control costs ~200 s of emulated CPU; lsinitramfs above already proves the
	// virtio driver is missing, so it runs only with CHROMOGENIC_NEGATIVE_BOOT=1.
	negative := os.Getenv("CHROMOGENIC_NEGATIVE_BOOT") == "1"
	neg := make(chan result, 1)
	if !negative {
		neg <- result{}
	} else {
		go func() {
			start := time.Now()
			cmd := exec.Command(filepath.Join(testimages.RepoRoot(), "test/images/boot.sh"), xen, "raw", "200")
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			neg <- result{err, stderr.String(), time.Since(start)}
		}()
	}

	// 3. Convert it with the engine.
	withGuest(t, conv, func(g *chroot.Guest) {
		// Devices nil: the UUIDs come from the mounts (MountedDeviceSpecs), as in the
		// provisioner; they must be those of the disk's partition table.
		want := DeviceSpecs(map[int]string{g.Root.Number: g.Root.UUID})
		if got := MountedDeviceSpecs(context.Background(), g.Guest()); !reflect.DeepEqual(got, want) {
			t.Errorf("MountedDeviceSpecs = %v, want %v", got, want)
		}
		start := time.Now()
		rep, err := Run(context.Background(), g.Guest(), Options{Target: KVM, Logf: t.Logf})
		if rep != nil {
			t.Logf("conversion in %s:\n%s", time.Since(start).Round(time.Millisecond), rep.Summary())
		}
		if err != nil {
			t.Fatalf("convert: %v", err)
		}
		m := g.Mounts.Root
		if fstab := readT(t, filepath.Join(m, "etc/fstab")); strings.Contains(fstab, "xvda") || !strings.Contains(fstab, "UUID="+g.Root.UUID) {
			t.Errorf("fstab after conversion:\n%s", fstab)
		}
		if ext := readT(t, filepath.Join(m, "boot/extlinux/extlinux.conf")); strings.Contains(ext, "xvda") || strings.Contains(ext, "hvc0") {
			t.Errorf("extlinux.conf after conversion:\n%s", ext)
		}
		initrd := "/boot/initrd.img-" + kver
		if list := guestRun(t, g, "/usr/bin/lsinitramfs", initrd); !virtioBlkRE.MatchString(list) {
			t.Errorf("new initramfs has no virtio_blk")
		}
		if old := guestRun(t, g, "/usr/bin/lsinitramfs", initrd+BackupSuffix); virtioBlkRE.MatchString(old) || !strings.Contains(old, "xen-blkfront.ko") {
			t.Errorf("%s%s is not the old Xen initramfs", initrd, BackupSuffix)
		}
		if exists(filepath.Join(m, "etc/systemd/system/getty.target.wants/serial-getty@hvc0.service")) ||
			!exists(filepath.Join(m, "etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service")) {
			t.Errorf("getty units not moved to ttyS0")
		}
	})

	if r := <-neg; negative {
		if r.err == nil {
			t.Fatalf("the Xen-style guest booted with a virtio disk: the negative control failed")
		}
		if !strings.Contains(r.stderr, "no CHROMOGENIC-BOOT-OK within") {
			t.Fatalf("negative boot failed for another reason: %v\n%s", r.err, r.stderr)
		}
		t.Logf("Xen-style guest: no boot marker within 200 s with a virtio disk (as expected); serial tail:\n%s", lastLines(r.stderr, 8))
	}

	// 4. The converted guest boots with a virtio disk.
	testimages.Boot(t, conv, "raw", 5*time.Minute)
}
