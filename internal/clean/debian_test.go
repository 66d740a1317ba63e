package clean

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
)

const (
	sudoersAtmo = `# /etc/sudoers
Defaults	env_reset
root	ALL=(ALL:ALL) ALL
%sudo	ALL=(ALL:ALL) ALL
## Atmosphere System
alice ALL=(ALL) NOPASSWD: ALL
## End Atmosphere System
# Begin Nagios
nagios ALL=(ALL) NOPASSWD: /usr/lib/nagios/plugins/
# End Nagios
# Begin Sensu
sensu ALL=(ALL) NOPASSWD: ALL
# End Sensu
## Read drop-in files from /etc/sudoers.d
@includedir /etc/sudoers.d
atmo_user ALL=(ALL) NOPASSWD: ALL
`
	sudoersWant = `# /etc/sudoers
Defaults	env_reset
root	ALL=(ALL:ALL) ALL
%sudo	ALL=(ALL:ALL) ALL
## Read drop-in files from /etc/sudoers.d
@includedir /etc/sudoers.d
`
	sshdAtmo = `Include /etc/ssh/sshd_config.d/*.conf
PermitRootLogin prohibit-password
AllowGroups users root core-services
UsePAM yes
## Atmosphere System
Match Group users
  X11Forwarding yes
## End Atmosphere System
Subsystem sftp /usr/lib/openssh/sftp-server
`
	sshdWant = `Include /etc/ssh/sshd_config.d/*.conf
PermitRootLogin prohibit-password
UsePAM yes
Subsystem sftp /usr/lib/openssh/sftp-server
`
	fstabAtmo = `# /etc/fstab: the root disk, and extra disks Atmosphere attached (/dev/vdb was a volume)
UUID=0a1b2c3d / ext4 errors=remount-ro 0 1
/dev/sda2 /mnt ext4 defaults 0 2
/dev/vdb /vol1 ext4 defaults,nofail 0 2
/dev/vdc1 /vol2 xfs defaults,nofail 0 2
/dev/sda1 /boot ext4 defaults 0 2
proc /proc proc defaults 0 0`
	fstabWant = `# /etc/fstab: the root disk, and extra disks Atmosphere attached (/dev/vdb was a volume)
UUID=0a1b2c3d / ext4 errors=remount-ro 0 1
/dev/sda1 /boot ext4 defaults 0 2
proc /proc proc defaults 0 0
`
	cloudCfgAtmo = `# cloud-init config
users:
   - default
   - name: atmo
     sudo: ALL
disable_root: true
preserve_hostname: false
ssh_deletekeys:   1
system_info:
   default_user:
     name: debian
`
	cloudCfgWant = `# cloud-init config
#users:
#   - default
#   - name: atmo
#     sudo: ALL
disable_root: false
preserve_hostname: false
ssh_deletekeys:   0
system_info:
   default_user:
     name: debian
`
	rcLocalAtmo = `#!/bin/sh -e
depmod -a
modprobe acpiphp
/usr/bin/ruby /usr/sbin/atmo_boot
echo keep-me
su - alice -c vncserver
/usr/bin/shellinaboxd --background
exit 0
`
	rcLocalWant = `#!/bin/sh -e
echo keep-me
exit 0
`
	bashrcAtmo = "# ~/.bashrc\nalias ll='ls -l'\n## Atmosphere System\nexport ATMO=1\n## End Atmosphere System\nexport PATH\n"
	bashrcWant = "# ~/.bashrc\nalias ll='ls -l'\nexport PATH\n"
)

// seedDebian turns the debootstrap tree into a used Atmosphere instance.
func seedDebian(t testing.TB, tree string) {
	t.Helper()
	g := func(p string) string { return filepath.Join(tree, p) }
	app := func(p, s string) {
		t.Helper()
		f, err := os.OpenFile(g(p), os.O_APPEND|os.O_WRONLY, 0)
		must(t, err)
		_, err = f.WriteString(s)
		must(t, err)
		must(t, f.Close())
	}
	replace := func(p, old, new string) {
		t.Helper()
		b := readT(t, g(p))
		if !strings.Contains(b, old) {
			t.Fatalf("%s has no %q", p, old)
		}
		must(t, os.WriteFile(g(p), []byte(strings.Replace(b, old, new, 1)), 0))
	}
	// Accounts: alice, bob (removed), carol (kept by option), svc (system account, UID 999).
	app("etc/passwd", "svc:x:999:999:service:/var/lib/svc:/usr/sbin/nologin\n"+
		"alice:x:1000:1000:Alice:/home/alice:/bin/bash\n"+
		"bob:x:1001:1001:Bob:/home/bob:/bin/bash\n"+
		"carol:x:1002:1002:Carol:/home/carol:/bin/bash\n")
	app("etc/shadow", "svc:!:19000::::::\nalice:$6$salt$ALICEHASH:19000:0:99999:7:::\n"+
		"bob:$6$salt$BOBHASH:19000:0:99999:7:::\ncarol:$6$salt$CAROLHASH:19000:0:99999:7:::\n")
	app("etc/group", "svc:x:999:\nalice:x:1000:\nbob:x:1001:\ncarol:x:1002:\natmo-extra:x:1500:\nproject:x:2000:alice,carol,bob\n")
	app("etc/gshadow", "svc:!::\nalice:!::\nbob:!::\ncarol:!::\natmo-extra:!::\nproject:!:alice:alice,carol,bob\n")
	replace("etc/group", "users:x:100:\n", "users:x:100:alice,bob,carol\n")
	replace("etc/group", "sudo:x:27:\n", "sudo:x:27:alice,carol\n")
	replace("etc/gshadow", "users:*::\n", "users:*::alice,bob,carol\n")
	replace("etc/gshadow", "sudo:*::\n", "sudo:*::alice,carol\n")
	app("etc/subuid", "alice:100000:65536\nbob:165536:65536\ncarol:231072:65536\n")
	app("etc/subgid", "alice:100000:65536\nbob:165536:65536\ncarol:231072:65536\n")
	for _, u := range []struct {
		name string
		id   int
	}{{"alice", 1000}, {"bob", 1001}, {"carol", 1002}} {
		h := "home/" + u.name
		mk(t, g(h+"/.profile"), "# profile\n", 0o644)
		mk(t, g(h+"/work/data.csv"), "a,b\n1,2\n", 0o644)
		mk(t, g(h+"/.bash_history"), "ls\nsudo -i\n", 0o600)
		mk(t, g(h+"/.python_history"), "import os\n", 0o600)
		mk(t, g(h+"/.ssh/authorized_keys"), "ssh-ed25519 AAAA "+u.name+"\n", 0o600)
		must(t, filepath.Walk(g(h), func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, u.id, u.id)
		}))
	}
	mk(t, g("var/lib/svc/state"), "service state\n", 0o644)
	mk(t, g("var/mail/alice"), "From root\n", 0o660)
	mk(t, g("var/spool/cron/crontabs/alice"), "* * * * * true\n", 0o600)
	mk(t, g("var/spool/cron/crontabs/carol"), "* * * * * true\n", 0o600)
	mk(t, g("etc/sudoers.d/90-cloud-init-users"), "# Created by cloud-init\nalice ALL=(ALL) NOPASSWD:ALL\ncarol ALL=(ALL) NOPASSWD:ALL\n", 0o440)
	mk(t, g("etc/sudoers"), sudoersAtmo, 0o440)
	// root's things.
	mk(t, g("root/.bash_history"), "rm -rf /tmp/x\n", 0o600)
	mk(t, g("root/.zsh_history"), ": 1:0;ls\n", 0o600)
	mk(t, g("root/.viminfo"), "# viminfo\n", 0o600)
	mk(t, g("root/.ssh/authorized_keys"), "ssh-rsa AAAA atmosphere\n", 0o600)
	mk(t, g("root/.bashrc"), "# root bashrc\n", 0o644)
	// Atmosphere files.
	mk(t, g("var/log/atmo/atmo_init_full.log"), "deploy\n", 0o644)
	mk(t, g("var/log/atmo/post-scripts/stdout"), "x\n", 0o644)
	mk(t, g("etc/rc.local.atmo"), "#!/bin/sh\n", 0o755)
	mk(t, g("opt/cyverse/tmp/job"), "x\n", 0o644)
	mk(t, g("opt/keep/app.conf"), "keep\n", 0o644)
	mk(t, g("usr/sbin/atmo_boot.py"), "#!/usr/bin/python\n", 0o755)
	mk(t, g("var/lib/puppet/run/agent.pid"), "123\n", 0o644)
	mk(t, g("etc/puppet/ssl/certs/host.pem"), "CERT\n", 0o644)
	mk(t, g("etc/ssh/sshd_config"), sshdAtmo, 0o644)
	mk(t, g("etc/ssh/ssh_config"), "Host *\n", 0o644)
	mk(t, g("etc/skel/.bashrc"), bashrcAtmo, 0o644)
	must(t, os.WriteFile(g("etc/fstab"), []byte(fstabAtmo), 0o644))
	mk(t, g("etc/cloud/cloud.cfg"), cloudCfgAtmo, 0o644)
	mk(t, g("etc/rc.local"), rcLocalAtmo, 0o755)
	mk(t, g("mnt/scratch/file"), "scratch\n", 0o644)
	// ssh host keys (and sshd so the regeneration drop-in is written).
	for _, k := range []string{"rsa", "ecdsa", "ed25519"} {
		mk(t, g("etc/ssh/ssh_host_"+k+"_key"), "PRIVATE "+k+"\n", 0o600)
		mk(t, g("etc/ssh/ssh_host_"+k+"_key.pub"), "PUBLIC "+k+"\n", 0o644)
	}
	mk(t, g("usr/sbin/sshd"), "#!/bin/false\n", 0o755)
	mk(t, g("usr/lib/systemd/system/ssh.service"), "[Service]\nExecStart=/usr/sbin/sshd -D\n", 0o644)
	// Machine identity, cloud-init, udev, leases, tmp, caches, mail, crash, backups.
	must(t, os.WriteFile(g("etc/machine-id"), []byte("0123456789abcdef0123456789abcdef\n"), 0o444))
	mk(t, g("var/lib/dbus/machine-id"), "0123456789abcdef0123456789abcdef\n", 0o444)
	mk(t, g("var/lib/cloud/instances/i-0123/user-data.txt"), "#cloud-config\n", 0o600)
	mk(t, g("var/lib/cloud/instances/i-0123/sem/config_ssh"), "x\n", 0o644)
	must(t, os.Symlink("/var/lib/cloud/instances/i-0123", g("var/lib/cloud/instance")))
	mk(t, g("var/lib/cloud/data/instance-id"), "i-0123\n", 0o644)
	mk(t, g("var/lib/cloud/seed/nocloud/user-data"), "#cloud-config\n", 0o600)
	mk(t, g("var/log/cloud-init.log"), "cloud-init ran\n", 0o640)
	mk(t, g("etc/udev/rules.d/70-persistent-net.rules"), `SUBSYSTEM=="net", ATTR{address}=="52:54:00:12:34:56", NAME="eth0"`+"\n", 0o644)
	mk(t, g("etc/udev/rules.d/99-local.rules"), "# keep\n", 0o644)
	mk(t, g("var/lib/dhcp/dhclient.eth0.leases"), "lease { fixed-address 10.0.0.5; }\n", 0o644)
	mk(t, g("tmp/build.sh"), "x\n", 0o755)
	mk(t, g("tmp/.X11-unix/X0"), "", 0o644)
	mk(t, g("var/tmp/cache.bin"), "x\n", 0o644)
	mk(t, g("var/cache/apt/archives/hello_1.0_amd64.deb"), "DEB\n", 0o644)
	mk(t, g("var/cache/apt/pkgcache.bin"), "BIN\n", 0o644)
	mk(t, g("var/crash/_usr_bin_x.0.crash"), "core\n", 0o640)
	mk(t, g("etc/default/grub~"), "old\n", 0o644)
	mk(t, g("etc/network/interfaces.bak"), "old\n", 0o644)
	mk(t, g("var/lib/systemd/random-seed"), "SEED", 0o600)
	must(t, os.WriteFile(g("etc/passwd-"), []byte("root:x:0:0::/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n"), 0o644))
	// Logs: content, special owner/mode, an xattr and an SELinux label.
	mk(t, g("var/log/syslog"), strings.Repeat("Nov 25 host kernel: line\n", 500), 0o640)
	must(t, os.Chown(g("var/log/syslog"), 0, 4))
	must(t, unix.Setxattr(g("var/log/syslog"), "user.chromogenic", []byte("keep"), 0))
	if err := unix.Setxattr(g("var/log/syslog"), "security.selinux", []byte("system_u:object_r:var_log_t:s0\x00"), 0); err != nil {
		t.Logf("cannot set security.selinux here (%v); the user xattr stands in for it", err)
	}
	mk(t, g("var/log/auth.log"), "sshd: Accepted publickey for alice\n", 0o640)
	mk(t, g("var/log/syslog.1"), "old\n", 0o640)
	mk(t, g("var/log/syslog.2.gz"), "\x1f\x8b old\n", 0o640)
	mk(t, g("var/log/apt/history.log"), "Start-Date: 2024\n", 0o644)
	mk(t, g("var/log/journal/0123456789abcdef0123456789abcdef/system.journal"), "LPKSHHRH", 0o640)
	mk(t, g("var/log/wtmp"), "WTMPDATA", 0o664)
	// Files of the custom rules.
	mk(t, g("etc/custom-remove-1"), "x\n", 0o644)
	mk(t, g("etc/custom-remove-2"), "x\n", 0o644)
	mk(t, g("srv/app/app.log"), "app log\n", 0o644)
	mk(t, g("etc/app.conf"), "# app\ntoken = SECRET\nhost = build.local\nport = 80\r\n", 0o600)
	mk(t, g("etc/motd.d/banner"), "Welcome", 0o644)
	// Neighbours that must survive untouched.
	mk(t, g("etc/neighbour.conf"), "must not change\n", 0o644)
}

// customRules exercises every kind of custom rule.
var customRules = Rules{
	Remove:   []string{"/etc/custom-remove-*"},
	Truncate: []string{"/srv/app/*.log"},
	DeleteLines: []LineRule{
		{File: "/etc/app.conf", Regexp: `^token\s*=`},
	},
	ReplaceLines: []LineRule{
		{File: "/etc/app.conf", Regexp: `^host = .*$`, Replacement: "host = localhost"},
		{File: "/etc/app.conf", Regexp: `^port = (80)$`, Replacement: "port = 80$1"},
	},
	AppendLines: []AppendRule{
		{File: "/etc/motd.d/banner", Line: "Cleaned by chromogenic"},
		{File: "/etc/motd.d/banner", Line: "Welcome"}, // present: not appended again
		{File: "/etc/created.conf", Line: "created = yes", Create: true},
	},
}

// TestDebianTree cleans a real Debian 12 tree seeded as a used Atmosphere instance: a dry run
// first (nothing may change, and it must announce exactly what the real run then does), then
// the real run; every target is gone or emptied and the named neighbours are untouched.
func TestDebianTree(t *testing.T) {
	needRoot(t)
	tree := testimages.DebianTree(t, t.TempDir())
	seedDebian(t, tree)
	g := func(p string) string { return filepath.Join(tree, p) }
	r := openRoot(t, tree)
	opts := Options{
		Operations: []string{"chromogenic"},
		Users:      UserOptions{Keep: []string{"carol"}},
		Rules:      customRules,
	}

	rootShadow := strings.SplitN(readT(t, g("etc/shadow")), "\n", 2)[0]
	before := snapshotTree(t, tree)
	dopts := opts
	dopts.DryRun = true
	dry := run(t, r, dopts)
	if d := diffSnapshots(before, snapshotTree(t, tree)); len(d) > 0 {
		t.Fatalf("dry run changed %d paths: %v", len(d), d)
	}
	if !dry.DryRun || dry.Totals.Removed == 0 {
		t.Fatalf("dry run report: %+v", dry.Totals)
	}

	sysl := inodeOf(t, g("var/log/syslog"))
	syslX := xattrs(g("var/log/syslog"))
	rep := run(t, r, opts)
	t.Logf("clean took %s: %+v", rep.Duration, rep.Totals)
	after := snapshotTree(t, tree)

	// The dry run announced exactly what the real run did.
	ds, rs := changeSet(dry), changeSet(rep)
	for c := range ds {
		if !rs[c] {
			t.Errorf("dry run announced %q, the real run did not do it", c)
		}
	}
	for c := range rs {
		if !ds[c] {
			t.Errorf("real run did %q, the dry run did not announce it", c)
		}
	}

	// Every change on disk is in the report, and every reported change happened.
	changed := diffSnapshots(before, after)
	covered := func(p string) bool {
		for _, op := range rep.Ops {
			for _, c := range op.Changes {
				if c.Action == Skipped {
					continue
				}
				if c.Path == p || (c.Action == Removed && strings.HasPrefix(p, c.Path+"/")) {
					return true
				}
				// Created files bring their new parent directories.
				if c.Action == Created && strings.HasPrefix(c.Path, p+"/") {
					return true
				}
			}
		}
		return false
	}
	for _, p := range changed {
		if !covered(p) {
			t.Errorf("%s changed on disk but is not in the report (%v -> %v)", p, before[p], after[p])
		}
	}
	inChanged := map[string]bool{}
	for _, p := range changed {
		inChanged[p] = true
	}
	for _, op := range rep.Ops {
		for _, c := range op.Changes {
			if c.Action != Skipped && !inChanged[c.Path] {
				t.Errorf("%s: reported %s %s but nothing changed on disk", op.Name, c.Action, c.Path)
			}
		}
	}

	gone := []string{
		// atmosphere
		"var/log/atmo", "etc/rc.local.atmo", "opt/cyverse", "usr/sbin/atmo_boot.py", "var/lib/puppet/run/agent.pid",
		"etc/puppet/ssl", "mnt/scratch",
		// users
		"home/alice", "home/bob", "var/mail/alice", "var/spool/cron/crontabs/alice", "var/spool/cron/crontabs/carol",
		// histories, ssh
		"root/.bash_history", "root/.zsh_history", "root/.viminfo", "root/.ssh", "home/carol/.bash_history",
		"home/carol/.python_history", "home/carol/.ssh",
		"etc/ssh/ssh_host_rsa_key", "etc/ssh/ssh_host_rsa_key.pub", "etc/ssh/ssh_host_ed25519_key",
		// identity and state
		"var/lib/dbus/machine-id", "var/lib/cloud/instances", "var/lib/cloud/instance", "var/lib/cloud/data",
		"etc/udev/rules.d/70-persistent-net.rules", "var/lib/dhcp/dhclient.eth0.leases", "tmp/build.sh", "tmp/.X11-unix",
		"var/tmp/cache.bin", "var/cache/apt/archives/hello_1.0_amd64.deb", "var/cache/apt/pkgcache.bin",
		"var/crash/_usr_bin_x.0.crash", "etc/default/grub~", "etc/network/interfaces.bak", "var/lib/systemd/random-seed",
		"etc/passwd-", "var/log/syslog.1", "var/log/syslog.2.gz", "var/log/journal/0123456789abcdef0123456789abcdef",
		// custom
		"etc/custom-remove-1", "etc/custom-remove-2",
	}
	for _, p := range gone {
		if exists(g(p)) {
			t.Errorf("/%s survived", p)
		}
	}
	empty := []string{"etc/machine-id", "var/log/syslog", "var/log/auth.log", "var/log/apt/history.log", "var/log/dpkg.log",
		"var/log/cloud-init.log", "var/log/wtmp", "var/log/alternatives.log", "srv/app/app.log"}
	for _, p := range empty {
		if fi, err := os.Lstat(g(p)); err != nil || fi.Size() != 0 || !fi.Mode().IsRegular() {
			t.Errorf("/%s not emptied in place: %v %v", p, fi, err)
		}
	}
	// Logs keep inode, owner, mode and xattrs (the SELinux label included when settable).
	if st := inodeOf(t, g("var/log/syslog")); st.Ino != sysl.Ino || st.Uid != sysl.Uid || st.Gid != sysl.Gid || st.Mode != sysl.Mode {
		t.Errorf("syslog identity changed: %+v -> %+v", sysl, st)
	}
	if x := xattrs(g("var/log/syslog")); x != syslX || !strings.Contains(x, "user.chromogenic") {
		t.Errorf("syslog xattrs changed: %q -> %q", syslX, x)
	}
	for _, d := range []string{"tmp", "var/tmp", "var/lib/cloud/seed/nocloud/user-data", "var/cache/apt/archives/partial",
		"var/log/journal", "mnt", "var/spool/cron/crontabs"} {
		if !exists(g(d)) {
			t.Errorf("/%s must stay", d)
		}
	}
	if fi, _ := os.Lstat(g("tmp")); fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Errorf("/tmp mode changed: %v", fi.Mode())
	}

	// Exact edits.
	for p, want := range map[string]string{
		"etc/sudoers": sudoersWant, "etc/ssh/sshd_config": sshdWant, "etc/fstab": fstabWant,
		"etc/cloud/cloud.cfg": cloudCfgWant, "etc/rc.local": rcLocalWant, "etc/skel/.bashrc": bashrcWant,
		"etc/app.conf":                      "# app\nhost = localhost\nport = 8080\r\n",
		"etc/motd.d/banner":                 "Welcome\nCleaned by chromogenic\n",
		"etc/created.conf":                  "created = yes\n",
		"etc/sudoers.d/90-cloud-init-users": "# Created by cloud-init\ncarol ALL=(ALL) NOPASSWD:ALL\n",
	} {
		if got := readT(t, g(p)); got != want {
			t.Errorf("/%s:\n got %q\nwant %q", p, got, want)
		}
	}
	if fi, _ := os.Stat(g("etc/sudoers")); fi.Mode().Perm() != 0o440 {
		t.Errorf("sudoers mode %v", fi.Mode())
	}

	// Accounts: consistent, root and system accounts kept, carol kept.
	passwd, shadow := readT(t, g("etc/passwd")), readT(t, g("etc/shadow"))
	group, gshadow := readT(t, g("etc/group")), readT(t, g("etc/gshadow"))
	for _, want := range []string{"root:x:0:0:root:/root:/bin/bash\n", "daemon:x:1:1:", "_apt:x:42:", "nobody:x:65534:",
		"systemd-network:x:998:", "svc:x:999:", "carol:x:1002:1002:"} {
		if !strings.Contains(passwd, want) {
			t.Errorf("/etc/passwd lost %q", want)
		}
	}
	for _, bad := range []string{"alice", "bob"} {
		for name, content := range map[string]string{"passwd": passwd, "shadow": shadow, "group": group, "gshadow": gshadow,
			"subuid": readT(t, g("etc/subuid")), "subgid": readT(t, g("etc/subgid"))} {
			if strings.Contains(content, bad) {
				t.Errorf("/etc/%s still mentions %s:\n%s", name, bad, content)
			}
		}
	}
	for _, want := range []string{"root:", "users:x:100:\n", "sudo:x:27:carol\n", "carol:x:1002:\n", "project:x:2000:carol\n", "svc:x:999:\n"} {
		if !strings.Contains(group, want) {
			t.Errorf("/etc/group lacks %q:\n%s", want, group)
		}
	}
	for _, want := range []string{"users:*::\n", "sudo:*::carol\n", "project:!::carol\n", "carol:!::\n"} {
		if !strings.Contains(gshadow, want) {
			t.Errorf("/etc/gshadow lacks %q:\n%s", want, gshadow)
		}
	}
	if strings.Contains(group, "atmo-extra") || strings.Contains(gshadow, "atmo-extra") {
		t.Error("empty 1xxx group atmo-extra survived")
	}
	if !strings.Contains(shadow, "root:") || !strings.Contains(shadow, "carol:$6$salt$CAROLHASH") {
		t.Errorf("/etc/shadow lost root or carol")
	}
	if rootLine := strings.SplitN(shadow, "\n", 2)[0]; rootLine != rootShadow {
		t.Errorf("root's password entry changed: %q -> %q", rootShadow, rootLine)
	}
	// The report never shows password hashes.
	js, _ := rep.JSON()
	if strings.Contains(string(js), "HASH") {
		t.Error("report leaks password hashes")
	}
	// Untouched neighbours: same bytes, same metadata.
	for _, p := range []string{"/etc/neighbour.conf", "/etc/hostname", "/etc/hosts", "/etc/apt/sources.list", "/usr/bin/bash",
		"/var/lib/dpkg/status", "/etc/ssh/ssh_config", "/home/carol/.profile", "/home/carol/work/data.csv", "/var/lib/svc/state",
		"/opt/keep/app.conf", "/etc/udev/rules.d/99-local.rules", "/root/.bashrc",
		"/var/lib/cloud/seed/nocloud/user-data", "/etc/os-release", "/etc/login.defs", "/boot"} {
		if before[p] != after[p] || before[p].Desc == "" {
			t.Errorf("neighbour %s changed: %v -> %v", p, before[p], after[p])
		}
	}
	// Debian-specific: the regeneration drop-in, rhel-only ops not applicable.
	if !exists(g("etc/systemd/system/ssh.service.d/chromogenic-regenerate-host-keys.conf")) {
		t.Error("ssh host key regeneration drop-in missing")
	}
	for _, op := range []string{"net-hwaddr", "net-hostname", "rpm-db", "rhn-systemid"} {
		if o := rep.Op(op); o == nil || o.Status != StatusNotApplicable {
			t.Errorf("%s should be not-applicable on Debian: %+v", op, o)
		}
	}
	if rep.Guest.ID != "debian" || rep.Guest.Major != 12 || rep.Guest.Accounts.UIDMin != 1000 || rep.Guest.InitSystem != "systemd" ||
		rep.Guest.InitramfsTool != "update-initramfs" || len(rep.Guest.Kernels) == 0 || !rep.Guest.Kernels[0].Virtio {
		t.Errorf("inspection: %+v", rep.Guest)
	}

	// Idempotent: a second run changes nothing.
	again := run(t, r, opts)
	for _, op := range again.Ops {
		for _, c := range op.Changes {
			if c.Action != Skipped {
				t.Errorf("second run: %s %s %s", op.Name, c.Action, c.Path)
			}
		}
	}
	if testing.Verbose() {
		t.Log("\n" + rep.Summary())
	}
}
