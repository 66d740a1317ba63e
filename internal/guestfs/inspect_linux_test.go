package guestfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseOSRelease(t *testing.T) {
	m := ParseOSRelease([]byte("# c\nNAME=\"Ubuntu\"\nID=ubuntu\nID_LIKE='debian'\nPRETTY_NAME=\"A \\\"quoted\\\" name\"\nBAD LINE\nVERSION_ID=\"22.04\"\n"))
	if m["NAME"] != "Ubuntu" || m["ID"] != "ubuntu" || m["ID_LIKE"] != "debian" || m["PRETTY_NAME"] != `A "quoted" name` || m["VERSION_ID"] != "22.04" {
		t.Errorf("%v", m)
	}
}

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		sign int
	}{
		{"6.1.0-50-amd64", "6.1.0-9-amd64", 1},
		{"5.14.0-362.el9.x86_64", "5.14.0-70.el9.x86_64", 1},
		{"2.6.18-400.el5xen", "2.6.18-400.el5", 1},
		{"4.19.0", "4.19.0", 0},
	} {
		got := compareVersions(c.a, c.b)
		if (got > 0) != (c.sign > 0) || (got < 0) != (c.sign < 0) {
			t.Errorf("compare(%s, %s) = %d", c.a, c.b, got)
		}
	}
}

// TestInspectXenGuest: a CentOS 5 Xen guest described by files only.
func TestInspectXenGuest(t *testing.T) {
	dir := t.TempDir()
	w := func(p, s string) {
		t.Helper()
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w("etc/redhat-release", "CentOS release 5.11 (Final)\n")
	w("etc/passwd", "root:x:0:0::/root:/bin/bash\n")
	w("etc/login.defs", "UID_MIN 500\nUID_MAX 60000\nGID_MIN 500\nGID_MAX 60000\n")
	w("etc/inittab", "id:3:initdefault:\nco:2345:respawn:/sbin/agetty xvc0 9600 vt100-nav\n")
	w("etc/fstab", "/dev/xvda1 / ext3 defaults 1 1\n")
	w("etc/modprobe.conf", "alias eth0 xennet\nalias scsi_hostadapter xenblk\n")
	w("boot/vmlinuz-2.6.18-400.el5xen", "k")
	w("boot/initrd-2.6.18-400.el5xen.img", "i")
	w("boot/vmlinuz-2.6.18-400.el5", "k")
	w("boot/initrd-2.6.18-400.el5.img", "i")
	w("lib/modules/2.6.18-400.el5/kernel/drivers/block/virtio_blk.ko", "m")
	w("boot/grub/menu.lst", "default=0\n")
	w("sbin/mkinitrd", "#!/bin/bash\n")
	w("sbin/init", "ELF")
	r, err := OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	o, err := Inspect(r)
	if err != nil {
		t.Fatal(err)
	}
	if !o.Linux || o.Family != FamilyRHEL || o.ID != "centos" || o.Major != 5 || o.Accounts.UIDMin != 500 ||
		o.Accounts.Source != "/etc/login.defs" || o.Bootloader != "grub-legacy" || o.InitramfsTool != "mkinitrd" ||
		o.InitSystem != "sysvinit" || o.PackageManager != "yum" {
		t.Errorf("%+v", o)
	}
	if len(o.Kernels) != 2 || !o.Kernels[0].Xen || o.Kernels[1].Xen || !o.Kernels[1].Virtio || o.Kernels[0].Virtio ||
		o.Kernels[1].Initramfs != "/boot/initrd-2.6.18-400.el5.img" {
		t.Errorf("kernels: %+v", o.Kernels)
	}
	ev := strings.Join(o.Xen, "\n")
	for _, want := range []string{"inittab", "fstab", "modprobe.conf", "Xen kernel"} {
		if !strings.Contains(ev, want) {
			t.Errorf("Xen evidence lacks %s:\n%s", want, ev)
		}
	}
}

// TestInspectHostileFiles: a huge sparse os-release, a FIFO login.defs and a symlinked
// /boot out of the root neither block nor escape.
func TestInspectHostileFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	h := newHostile(t)
	f, err := os.Create(h.g("etc/os-release"))
	must(t, err)
	must(t, f.Truncate(8<<30))
	must(t, f.Close())
	os.Remove(h.g("etc/login.defs"))
	must(t, mkfifo(h.g("etc/login.defs")))
	must(t, os.Symlink(h.host, h.g("boot")))
	r := h.open(t, Options{})
	done := make(chan *OSInfo, 1)
	go func() { o, _ := Inspect(r); done <- o }()
	o := <-done
	if o.Accounts.Source != "default" || o.Accounts.UIDMin != 1000 {
		t.Errorf("%+v", o.Accounts)
	}
}
