package clean

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	ifcfgEth0 = `TYPE=Ethernet
BOOTPROTO=dhcp
DEVICE=eth0
ONBOOT=yes
HWADDR=52:54:00:12:34:56
MACADDR=52:54:00:ab:cd:ef
# HWADDR=commented stays
HOSTNAME=node7.example.org
DHCP_HOSTNAME=node7
NM_CONTROLLED=no
`
	// The last line has no newline: the original's "s/^HWADDR=*\n//" missed such lines and
	// joined others.
	ifcfgEth1 = "DEVICE=eth1\nONBOOT=no\nHWADDR=\"52:54:00:00:00:01\""
)

// rhelTree writes a files-only Rocky Linux 9 tree.
func rhelTree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "rocky")
	g := func(p string) string { return filepath.Join(root, p) }
	mk(t, g("etc/os-release"), "NAME=\"Rocky Linux\"\nVERSION=\"9.3 (Blue Onyx)\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\nPRETTY_NAME=\"Rocky Linux 9.3 (Blue Onyx)\"\n", 0o644)
	mk(t, g("etc/redhat-release"), "Rocky Linux release 9.3 (Blue Onyx)\n", 0o644)
	mk(t, g("etc/login.defs"), "MAIL_DIR /var/spool/mail\nUID_MIN                  1000\nUID_MAX                 60000\nGID_MIN 1000\nGID_MAX 60000\n", 0o644)
	mk(t, g("etc/passwd"), "root:x:0:0:root:/root:/bin/bash\nrocky:x:1000:1000::/home/rocky:/bin/bash\n", 0o644)
	mk(t, g("etc/sysconfig/network-scripts/ifcfg-eth0"), ifcfgEth0, 0o644)
	mk(t, g("etc/sysconfig/network-scripts/ifcfg-eth1"), ifcfgEth1, 0o644)
	mk(t, g("etc/sysconfig/network-scripts/ifcfg-lo"), "DEVICE=lo\nIPADDR=127.0.0.1\n", 0o644)
	mk(t, g("etc/sysconfig/network"), "NETWORKING=yes\nHOSTNAME=node7.example.org\n", 0o644)
	mk(t, g("etc/sysconfig/kernel"), "UPDATEDEFAULT=yes\nDEFAULTKERNEL=kernel-core\n", 0o644)
	mk(t, g("etc/NetworkManager/system-connections/eth0.nmconnection"), "[connection]\nid=eth0\n", 0o600)
	mk(t, g("etc/NetworkManager/NetworkManager.conf"), "[main]\n", 0o644)
	mk(t, g("var/lib/rpm/__db.001"), "x", 0o644)
	mk(t, g("var/lib/rpm/rpmdb.sqlite"), "SQLITE", 0o644)
	mk(t, g("var/lib/dnf/uuid"), "uuid\n", 0o644)
	mk(t, g("etc/pki/entitlement/123.pem"), "x", 0o644)
	mk(t, g("etc/pki/consumer/cert.pem"), "x", 0o644)
	mk(t, g("etc/sysconfig/rhn/systemid"), "x", 0o600)
	mk(t, g("etc/selinux/config"), "# SELinux\nSELINUX=enforcing\nSELINUXTYPE=targeted\n", 0o644)
	mk(t, g("var/log/messages"), "Nov 25 boot\n", 0o600)
	mk(t, g("var/log/secure-20240101"), "old\n", 0o600)
	mk(t, g("var/cache/dnf/baseos.solv"), "x", 0o644)
	mk(t, g("root/anaconda-ks.cfg"), "# kickstart\n", 0o600)
	mk(t, g("boot/vmlinuz-5.14.0-362.el9.x86_64"), "k", 0o755)
	mk(t, g("boot/initramfs-5.14.0-362.el9.x86_64.img"), "i", 0o600)
	mk(t, g("lib/modules/5.14.0-362.el9.x86_64/modules.builtin"), "kernel/drivers/block/virtio_blk.ko\n", 0o644)
	mk(t, g("usr/bin/dracut"), "#!/bin/bash\n", 0o755)
	mk(t, g("usr/bin/dnf"), "#!/bin/sh\n", 0o755)
	mk(t, g("usr/lib/systemd/systemd"), "ELF", 0o755)
	must(t, os.MkdirAll(g("sbin"), 0o755))
	must(t, os.Symlink("../lib/systemd/systemd", g("sbin/init")))
	mk(t, g("boot/grub2/grub.cfg"), "set default=0\n", 0o644)
	return root
}

// TestRHELTree: the distro-gated ops on a Red Hat family tree, with line-exact ifcfg edits.
func TestRHELTree(t *testing.T) {
	needRoot(t)
	root := rhelTree(t)
	g := func(p string) string { return filepath.Join(root, p) }
	r := openRoot(t, root)
	rep := run(t, r, Options{})
	o := rep.Guest
	if o.Family != "rhel" || o.ID != "rocky" || o.Major != 9 || o.Minor != 3 || o.InitramfsTool != "dracut" ||
		o.InitSystem != "systemd" || o.Bootloader != "grub2" || o.PackageManager != "dnf" || !o.SELinux ||
		len(o.Kernels) != 1 || o.Kernels[0].Initramfs != "/boot/initramfs-5.14.0-362.el9.x86_64.img" || !o.Kernels[0].Virtio {
		t.Errorf("inspection: %+v", o)
	}
	want0 := "TYPE=Ethernet\nBOOTPROTO=dhcp\nDEVICE=eth0\nONBOOT=yes\nMACADDR=52:54:00:ab:cd:ef\n# HWADDR=commented stays\nNM_CONTROLLED=no\n"
	if got := readT(t, g("etc/sysconfig/network-scripts/ifcfg-eth0")); got != want0 {
		t.Errorf("ifcfg-eth0:\n%q\nwant\n%q", got, want0)
	}
	if got := readT(t, g("etc/sysconfig/network-scripts/ifcfg-eth1")); got != "DEVICE=eth1\nONBOOT=no\n" {
		t.Errorf("ifcfg-eth1: %q", got)
	}
	for _, p := range []string{"etc/NetworkManager/system-connections/eth0.nmconnection", "var/lib/rpm/__db.001",
		"var/lib/dnf/uuid", "etc/pki/entitlement/123.pem", "etc/pki/consumer/cert.pem", "etc/sysconfig/rhn/systemid",
		"var/log/secure-20240101", "var/cache/dnf/baseos.solv", "root/anaconda-ks.cfg"} {
		if exists(g(p)) {
			t.Errorf("/%s survived", p)
		}
	}
	for p, want := range map[string]string{
		"etc/sysconfig/network-scripts/ifcfg-lo": "DEVICE=lo\nIPADDR=127.0.0.1\n",
		"etc/sysconfig/network":                  "NETWORKING=yes\nHOSTNAME=node7.example.org\n",
		"etc/NetworkManager/NetworkManager.conf": "[main]\n",
		"var/lib/rpm/rpmdb.sqlite":               "SQLITE",
		"etc/selinux/config":                     "# SELinux\nSELINUX=enforcing\nSELINUXTYPE=targeted\n",
		"var/log/messages":                       "",
		"etc/passwd":                             "root:x:0:0:root:/root:/bin/bash\nrocky:x:1000:1000::/home/rocky:/bin/bash\n",
	} {
		if got := readT(t, g(p)); got != want {
			t.Errorf("/%s = %q, want %q", p, got, want)
		}
	}
	if !hasChange(rep, "net-hwaddr", Edited, "/etc/sysconfig/network-scripts/ifcfg-eth1") {
		t.Errorf("report lacks the ifcfg-eth1 edit:\n%s", rep.Summary())
	}
	// atmosphere: MACADDR lines too, and SELinux disabled in the existing config only.
	run(t, r, Options{Operations: []string{"atmosphere"}})
	if got := readT(t, g("etc/sysconfig/network-scripts/ifcfg-eth0")); strings.Contains(got, "MACADDR") || !strings.Contains(got, "NM_CONTROLLED=no\n") {
		t.Errorf("atmosphere ifcfg-eth0: %q", got)
	}
	if got := readT(t, g("etc/selinux/config")); got != "# SELinux\nSELINUX=disabled\nSELINUXTYPE=targeted\n" {
		t.Errorf("selinux config: %q", got)
	}
	if exists(g("etc/syslinux")) {
		t.Error("the original's /etc/syslinux/selinux junk was created")
	}
}

// TestOldReleaseFiles: guests without os-release are identified from older release files,
// and the UID range falls back to the family default (500 before RHEL 7).
func TestOldReleaseFiles(t *testing.T) {
	needRoot(t)
	cases := []struct {
		file, content, id, family, version string
		uidMin                             int
	}{
		{"etc/redhat-release", "CentOS release 6.10 (Final)\n", "centos", "rhel", "6.10", 500},
		{"etc/redhat-release", "Red Hat Enterprise Linux Server release 5.11 (Tikanga)\n", "rhel", "rhel", "5.11", 500},
		{"etc/redhat-release", "CentOS Linux release 7.9.2009 (Core)\n", "centos", "rhel", "7.9.2009", 1000},
		{"etc/SuSE-release", "SUSE Linux Enterprise Server 11 (x86_64)\nVERSION = 11\nPATCHLEVEL = 4\n", "sles", "suse", "11.4", 1000},
		{"etc/lsb-release", "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=12.04\nDISTRIB_CODENAME=precise\nDISTRIB_DESCRIPTION=\"Ubuntu 12.04.5 LTS\"\n", "ubuntu", "debian", "12.04", 1000},
		{"etc/debian_version", "7.11\n", "debian", "debian", "7.11", 1000},
	}
	for _, c := range cases {
		t.Run(c.id+c.version, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "old")
			mk(t, filepath.Join(root, c.file), c.content, 0o644)
			if c.id == "ubuntu" { // Ubuntu also ships debian_version; lsb-release must win
				mk(t, filepath.Join(root, "etc/debian_version"), "wheezy/sid\n", 0o644)
			}
			mk(t, filepath.Join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\nold:x:500:500::/home/old:/bin/sh\nsys:x:499:499::/var/sys:/bin/sh\n", 0o644)
			mk(t, filepath.Join(root, "etc/group"), "root:x:0:\nold:x:500:\nsys:x:499:\n", 0o644)
			mk(t, filepath.Join(root, "home/old/.bash_history"), "x\n", 0o600)
			r := openRoot(t, root)
			rep := run(t, r, Options{Operations: []string{"user-account"}})
			o := rep.Guest
			if o.ID != c.id || o.Family != c.family || o.Version != c.version || o.Accounts.UIDMin != c.uidMin || !o.Linux {
				t.Errorf("inspection of %s: %+v", c.file, o)
			}
			passwd := readT(t, filepath.Join(root, "etc/passwd"))
			if removed := !strings.Contains(passwd, "old:"); removed != (c.uidMin == 500) {
				t.Errorf("uid 500 removed=%v with UID_MIN %d", removed, c.uidMin)
			}
			if !strings.Contains(passwd, "sys:x:499") || !strings.Contains(passwd, "root:x:0") {
				t.Errorf("system accounts removed: %q", passwd)
			}
		})
	}
}
