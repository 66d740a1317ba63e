package retarget

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/clean"
)

const testKver = "6.1.0-99-amd64"

// xenTree builds a Debian tree set up as a Xen guest (files only).
func xenTree(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	f := func(p, s string) { mk(t, filepath.Join(d, p), s, 0o644) }
	f("etc/os-release", "ID=debian\nVERSION_ID=12\nPRETTY_NAME=\"Debian GNU/Linux 12\"\n")
	f("etc/debian_version", "12.5\n")
	f("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
	f("etc/fstab", "# static\n/dev/xvda1  /  ext4  errors=remount-ro 0 1\n/dev/xvdb none swap sw 0 0\nUUID=1234 /data ext4 defaults 0 2\n")
	f("etc/crypttab", "# <target> <source> <key> <options>\ncrypt1 /dev/xvdc1 none luks\n")
	f("etc/inittab", "id:2:initdefault:\n1:2345:respawn:/sbin/getty 38400 tty1\nco:2345:respawn:/sbin/getty hvc0 9600 linux\n")
	f("etc/securetty", "console\nhvc0\ntty1\n")
	f("etc/modprobe.d/xen.conf", "# xen drivers\nalias scsi_hostadapter xenblk\nalias eth0  xen-netfront\noptions loop max_loop=8\n")
	f("etc/initramfs-tools/modules", "# modules\next4\nxen-blkfront\nxen_netfront\n")
	f("etc/initramfs-tools/initramfs.conf", "MODULES=list\n")
	f("etc/default/grub", "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX=\"console=hvc0 xencons=tty root=/dev/xvda1\"\n")
	f("boot/extlinux/extlinux.conf", "DEFAULT linux\nLABEL linux\n  LINUX /boot/vmlinuz-"+testKver+"\n  INITRD /boot/initrd.img-"+testKver+
		"\n  APPEND root=/dev/xvda1 ro console=hvc0 resume=/dev/xvdb\n")
	f("boot/vmlinuz-"+testKver, "kernel")
	f("boot/initrd.img-"+testKver, "old initramfs")
	mods := "lib/modules/" + testKver
	f(mods+"/modules.dep", "kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio.ko.xz\n"+
		"kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/virtio/virtio.ko.xz\n"+
		"kernel/drivers/scsi/virtio_scsi.ko.xz:\nkernel/drivers/block/xen-blkfront.ko.xz:\nkernel/fs/ext4/ext4.ko.xz:\n")
	f(mods+"/modules.builtin", "kernel/drivers/virtio/virtio_pci.ko\n")
	mk(t, filepath.Join(d, "usr/sbin/update-initramfs"), "#!/bin/sh\n", 0o755)
	f("lib/systemd/system/serial-getty@.service", "[Unit]\n")
	must(t, os.MkdirAll(filepath.Join(d, "etc/systemd/system/getty.target.wants"), 0o755))
	must(t, os.Symlink("/lib/systemd/system/serial-getty@.service", filepath.Join(d, "etc/systemd/system/getty.target.wants/serial-getty@hvc0.service")))
	f("etc/lvm/devices/system.devices", "IDTYPE=devname IDNAME=/dev/xvda2\n")
	return d
}

// fakeExec records the guest programs run and rewrites the initramfs like update-initramfs.
type fakeExec struct {
	mu   sync.Mutex
	runs [][]string
}

func (f *fakeExec) exec(_ context.Context, dir string, argv []string) ([]byte, error) {
	f.mu.Lock()
	f.runs = append(f.runs, argv)
	f.mu.Unlock()
	if strings.HasSuffix(argv[0], "update-initramfs") {
		p := filepath.Join(dir, "boot/initrd.img-"+argv[len(argv)-1])
		return nil, os.WriteFile(p, []byte("new initramfs"), 0o644)
	}
	return nil, nil
}

func TestRetargetXenTree(t *testing.T) {
	needRoot(t)
	d := xenTree(t)
	r := openRoot(t, d)
	fx := &fakeExec{}
	devs := DeviceSpecs(map[int]string{1: "0a1b2c3d-0000-4000-8000-000000000001"})

	// Dry run: everything listed, nothing changed, nothing run.
	before := snapshotTree(t, d)
	rep, err := Run(context.Background(), r, Options{Target: KVM, DryRun: true, Devices: devs, Exec: fx.exec})
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, rep.Summary())
	}
	if after := snapshotTree(t, d); !reflect.DeepEqual(before, after) {
		t.Fatalf("dry run changed the tree")
	}
	if len(fx.runs) != 0 {
		t.Fatalf("dry run ran %v", fx.runs)
	}
	if len(rep.Find("/etc/fstab")) == 0 || len(rep.Find("/boot/initrd.img-"+testKver+BackupSuffix)) == 0 {
		t.Fatalf("dry run report misses changes:\n%s", rep.Summary())
	}
	dry := rep.Summary()

	fx.runs = nil
	rep, err = Run(context.Background(), r, Options{Target: KVM, Devices: devs, Exec: fx.exec})
	if err != nil {
		t.Fatalf("convert: %v\n%s", err, rep.Summary())
	}
	t.Logf("dry run:\n%s\nreal run:\n%s", dry, rep.Summary())

	want := map[string]string{
		"etc/fstab":                   "# static\nUUID=0a1b2c3d-0000-4000-8000-000000000001  /  ext4  errors=remount-ro 0 1\n/dev/vdb none swap sw 0 0\nUUID=1234 /data ext4 defaults 0 2\n",
		"etc/crypttab":                "# <target> <source> <key> <options>\ncrypt1 /dev/vdc1 none luks\n",
		"etc/inittab":                 "id:2:initdefault:\n1:2345:respawn:/sbin/getty 38400 tty1\nco:2345:respawn:/sbin/getty ttyS0 9600 linux\n",
		"etc/securetty":               "console\nhvc0\ntty1\nttyS0\n",
		"etc/default/grub":            "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX=\"console=ttyS0,115200 root=UUID=0a1b2c3d-0000-4000-8000-000000000001\"\n",
		"etc/modprobe.d/xen.conf":     "# xen drivers\nalias scsi_hostadapter virtio_blk\nalias eth0  virtio_net\noptions loop max_loop=8\n",
		"etc/initramfs-tools/modules": "# modules\next4\nvirtio_pci\nvirtio_blk\nvirtio_scsi\nvirtio_net\n",
		"boot/extlinux/extlinux.conf": "DEFAULT linux\nLABEL linux\n  LINUX /boot/vmlinuz-" + testKver + "\n  INITRD /boot/initrd.img-" + testKver +
			"\n  APPEND root=UUID=0a1b2c3d-0000-4000-8000-000000000001 ro console=ttyS0,115200 resume=/dev/vdb\n",
		"boot/initrd.img-" + testKver + BackupSuffix: "old initramfs",
	}
	for p, w := range want {
		if got := readT(t, filepath.Join(d, p)); got != w {
			t.Errorf("%s:\n got %q\nwant %q", p, got, w)
		}
	}
	if l, err := os.Readlink(filepath.Join(d, "etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service")); err != nil || l != "/lib/systemd/system/serial-getty@.service" {
		t.Errorf("ttyS0 getty: %q %v", l, err)
	}
	for _, gone := range []string{"etc/systemd/system/getty.target.wants/serial-getty@hvc0.service", "etc/lvm/devices/system.devices"} {
		if exists(filepath.Join(d, gone)) {
			t.Errorf("%s still there", gone)
		}
	}
	if len(fx.runs) != 1 || !reflect.DeepEqual(fx.runs[0], []string{"/usr/sbin/update-initramfs", "-u", "-k", testKver}) {
		t.Errorf("runs: %q", fx.runs)
	}
	if op := rep.Op("convert-bootloader"); op == nil || op.Status != clean.StatusNotApplicable {
		t.Errorf("bootloader step: %+v", op)
	}

	// A second conversion changes nothing more and keeps the first backup.
	fx.runs = nil
	snap := snapshotTree(t, d)
	rep, err = Run(context.Background(), r, Options{Target: KVM, Devices: devs, Exec: fx.exec, NoRebuild: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Edited+rep.Totals.Removed+rep.Totals.Created != 0 || !reflect.DeepEqual(snap, snapshotTree(t, d)) {
		t.Errorf("second conversion changed things:\n%s", rep.Summary())
	}
}

// Without the sandbox (TrustGuest) the guest's tools need the host's proc, sys and dev
// mounted in the tree.
func TestRetargetNeedsChrootMounts(t *testing.T) {
	needRoot(t)
	d := xenTree(t)
	rep, err := Run(context.Background(), openRoot(t, d), Options{Target: KVM, TrustGuest: true})
	if err == nil || !strings.Contains(err.Error(), "/proc is not mounted") {
		t.Fatalf("want a missing-/proc error, got %v", err)
	}
	if op := rep.Op("convert-initramfs"); op.Status != clean.StatusFailed {
		t.Errorf("initramfs step: %+v", op)
	}
	if exists(filepath.Join(d, "boot/initrd.img-"+testKver+BackupSuffix)) {
		t.Error("backup made though nothing was rebuilt")
	}
}

func TestRetargetRefusesXenOnlyKernels(t *testing.T) {
	needRoot(t)
	d := xenTree(t)
	must(t, os.Rename(filepath.Join(d, "boot/vmlinuz-"+testKver), filepath.Join(d, "boot/vmlinuz-2.6.18-xen")))
	rep, err := Run(context.Background(), openRoot(t, d), Options{Target: KVM, NoRebuild: true})
	if err == nil || !strings.Contains(err.Error(), "Xen-only") {
		t.Fatalf("want a Xen-only kernel error, got %v\n%s", err, rep.Summary())
	}
}

func TestRetargetUnknownTarget(t *testing.T) {
	if _, err := Run(context.Background(), nil, Options{Target: "vmware"}); err == nil {
		t.Fatal("unknown target accepted")
	}
}

func TestRewriteTokens(t *testing.T) {
	del := func(tok string) string {
		if strings.HasPrefix(tok, "x=") {
			return ""
		}
		return strings.ReplaceAll(tok, "old", "new")
	}
	for in, want := range map[string]string{
		"  append x=1 root=old ro":   "  append root=new ro",
		"append root=old x=1":        "append root=new",
		`GRUB_CMDLINE_LINUX="x=1 a"`: `GRUB_CMDLINE_LINUX="a"`,
		`K="a x=1"`:                  `K="a"`,
		"nothing here":               "nothing here",
	} {
		if got := rewriteTokens(in, del); got != want {
			t.Errorf("%q: got %q want %q", in, got, want)
		}
	}
}

// The xen-to-kvm op does the edits inside a cleaning run; trusting the guest (no sandbox)
// without proc, sys and dev mounted it leaves the rebuild out and says why, without failing.
func TestXenToKVMOpWithoutChrootMounts(t *testing.T) {
	needRoot(t)
	d := xenTree(t)
	rep := runClean(t, openRoot(t, d), clean.Options{Operations: []string{"xen-to-kvm"}, TrustGuest: true})
	op := rep.Op("xen-to-kvm")
	if op == nil || op.Status != clean.StatusDone {
		t.Fatalf("op: %+v", op)
	}
	var skipped int
	for _, c := range op.Changes {
		if c.Action == clean.Skipped && strings.Contains(c.Reason, "/proc is not mounted") {
			skipped++
		}
	}
	if skipped != 2 {
		t.Errorf("want the initramfs and bootloader steps skipped:\n%s", rep.Summary())
	}
	if got := readT(t, filepath.Join(d, "etc/fstab")); strings.Contains(got, "xvd") {
		t.Errorf("fstab: %s", got)
	}
	if exists(filepath.Join(d, "boot/initrd.img-"+testKver+BackupSuffix)) {
		t.Error("initramfs copied though not rebuilt")
	}
}

// Guest symlinks pointing out of the root are resolved inside it: host files stay untouched.
func TestRetargetHostileLinks(t *testing.T) {
	needRoot(t)
	d := xenTree(t)
	host := t.TempDir()
	canary := map[string]string{
		"fstab":  "/dev/xvda1 / ext4 defaults 0 1\n",
		"initrd": "host initramfs",
		"mods":   "alias eth0 xennet\n",
		"grub":   "GRUB_CMDLINE_LINUX=\"console=hvc0 root=/dev/xvda1\"\n",
		"crypt":  "c1 /dev/xvdc1 none luks\n",
	}
	for n, s := range canary {
		mk(t, filepath.Join(host, n), s, 0o644)
	}
	link := func(guest, target string) {
		p := filepath.Join(d, guest)
		must(t, os.RemoveAll(p))
		must(t, os.Symlink(target, p))
	}
	link("etc/fstab", filepath.Join(host, "fstab"))                       // absolute
	link("etc/modprobe.d/xen.conf", "../../../../../../../"+host+"/mods") // .. chain
	link("etc/default/grub", filepath.Join(host, "grub"))                 // absolute
	link("boot/initrd.img-"+testKver, filepath.Join(host, "initrd"))      // initramfs
	must(t, os.Remove(filepath.Join(d, "etc/crypttab")))
	must(t, os.Link(filepath.Join(host, "crypt"), filepath.Join(d, "etc/crypttab"))) // hard link
	before := snapshotTree(t, host)
	fx := &fakeExec{}
	rep, _ := Run(context.Background(), openRoot(t, d), Options{Target: KVM, Exec: fx.exec})
	if after := snapshotTree(t, host); !reflect.DeepEqual(before, after) {
		t.Fatalf("host files changed:\n%s", rep.Summary())
	}
	for n, s := range canary {
		if got := readT(t, filepath.Join(host, n)); got != s {
			t.Errorf("host %s changed: %q", n, got)
		}
	}
	if len(fx.runs) != 0 {
		t.Errorf("initramfs rebuilt over a symlinked initrd: %v", fx.runs)
	}
	if c := rep.Find("/etc/crypttab"); len(c) != 1 || c[0].Action != clean.Skipped {
		t.Errorf("hard-linked crypttab: %+v", c)
	}
	t.Logf("\n%s", rep.Summary())
}

func TestUnescapeOctal(t *testing.T) {
	for in, want := range map[string]string{`/mnt/a\040b`: "/mnt/a b", `/x\134y`: `/x\y`, `/end\04`: `/end\04`, "/plain": "/plain"} {
		if got := unescapeOctal(in); got != want {
			t.Errorf("%q: got %q want %q", in, got, want)
		}
	}
}
