package clean

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const hostSecret = "HOST SECRET - must never change\n"

// hostileTree builds base/host (the host canary) and base/root (a guest tree whose every
// cleaning target is a trap). It returns base, root and host.
func hostileTree(t *testing.T, huge bool) (base, root, host string) {
	t.Helper()
	base = t.TempDir()
	host = filepath.Join(base, "host")
	root = filepath.Join(base, "root")
	g := func(p string) string { return filepath.Join(root, p) }
	hostRel := strings.TrimPrefix(host, "/") // host path as a relative path from "/"
	up := strings.Repeat("../", 20)
	// Host canary: files and directories the guest links point at.
	for _, f := range []string{"secret.txt", "hl.txt", "shadow", "machine-id", "sudoers", "app.conf", "resolv.conf",
		"ssh_host_rsa_key", "dev/.blkid.tab", "proc/1/status", "mail/alice", ".bash_history", ".ssh/authorized_keys",
		"cloud/instance", "a.log", "custom/x"} {
		mk(t, filepath.Join(host, f), hostSecret+f+"\n", 0o644)
	}
	// A minimal Debian guest.
	mk(t, g("etc/os-release"), "ID=debian\nVERSION_ID=12\n", 0o644)
	mk(t, g("etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n"+
		"evil:x:1000:1000::/home/evil:/bin/sh\n"+ // /home/evil -> host dir (absolute)
		"loop:x:1001:1001::/home/loop:/bin/sh\n"+ // /home/loop -> /
		"dots:x:1002:1002::/home/../etc:/bin/sh\n"+ // lexically /etc: protected
		"via:x:1003:1003::/lnk/passwd:/bin/sh\n", 0o644) // /lnk -> /etc: parent is a symlink
	mk(t, g("etc/group"), "root:x:0:\nevil:x:1000:\nloop:x:1001:\n", 0o644)
	mk(t, g("etc/gshadow"), "root:*::\nevil:!::\n", 0o640)
	must(t, os.Link(filepath.Join(host, "shadow"), g("etc/shadow"))) // hard link to a host file
	must(t, os.MkdirAll(g("home"), 0o755))
	must(t, os.Symlink(host, g("home/evil")))
	must(t, os.Symlink("/", g("home/loop")))
	must(t, os.Symlink("/etc", g("lnk")))
	// Logs.
	must(t, os.MkdirAll(g("var/log/private"), 0o755))
	must(t, os.Symlink(filepath.Join(host, "secret.txt"), g("var/log/syslog")))
	must(t, os.Symlink(up+hostRel+"/secret.txt", g("var/log/rel.log")))
	must(t, os.Link(filepath.Join(host, "hl.txt"), g("var/log/hl.log")))
	must(t, unix.Mkfifo(g("var/log/fifo.log"), 0o644))
	must(t, unix.Mknod(g("var/log/sock.log"), unix.S_IFSOCK|0o644, 0))
	must(t, unix.Mknod(g("var/log/chr.log"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3))))
	must(t, unix.Mknod(g("var/log/blk.log"), unix.S_IFBLK|0o644, int(unix.Mkdev(7, 0))))
	mk(t, g("var/log/unreadable.log"), "secret log\n", 0o000)
	mk(t, g("var/log/private/inner.log"), "inner\n", 0o600)
	must(t, os.Chmod(g("var/log/private"), 0o000))
	f, err := os.Create(g("var/log/sparse.log"))
	must(t, err)
	must(t, f.Truncate(20<<30))
	_, err = f.WriteAt([]byte("tail\n"), 20<<30-5)
	must(t, err)
	must(t, f.Close())
	// Identity, ssh, histories.
	must(t, os.Symlink(filepath.Join(host, "machine-id"), g("etc/machine-id")))
	must(t, os.MkdirAll(g("var/lib/dbus"), 0o755))
	must(t, os.Link(filepath.Join(host, "machine-id"), g("var/lib/dbus/machine-id")))
	must(t, os.Symlink(up+hostRel, g("etc/ssh")))
	must(t, os.MkdirAll(g("root"), 0o700))
	must(t, os.Symlink(filepath.Join(host, ".bash_history"), g("root/.bash_history")))
	must(t, os.Symlink(filepath.Join(host, ".ssh"), g("root/.ssh")))
	must(t, os.MkdirAll(g("etc/udev/rules.d"), 0o755))
	must(t, os.Symlink(filepath.Join(host, "secret.txt"), g("etc/udev/rules.d/70-persistent-net.rules")))
	must(t, os.MkdirAll(g("var/lib"), 0o755))
	must(t, os.Symlink(filepath.Join(host, "cloud"), g("var/lib/cloud")))
	must(t, os.Symlink(host+"/mail", g("var/mail")))
	must(t, os.Symlink("../..", g("var/tmp"))) // resolves to the guest root
	must(t, os.Symlink(host, g("mnt")))
	must(t, os.Symlink(filepath.Join(host, "sudoers"), g("etc/sudoers")))
	must(t, unix.Mkfifo(g("etc/fstab"), 0o644))
	must(t, os.MkdirAll(g("etc/cloud"), 0o755))
	must(t, unix.Mknod(g("etc/cloud/cloud.cfg"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3))))
	must(t, os.MkdirAll(g("etc/selinux"), 0o755))
	sf, err := os.Create(g("etc/selinux/config"))
	must(t, err)
	must(t, sf.Truncate(20<<30))
	must(t, sf.Close())
	// Custom-rule traps.
	must(t, os.Symlink(filepath.Join(host, "custom"), g("etc/custom")))
	must(t, os.MkdirAll(g("srv"), 0o755))
	must(t, os.Symlink(filepath.Join(host, "a.log"), g("srv/a.log")))
	must(t, os.Symlink(filepath.Join(host, "app.conf"), g("etc/app.conf")))
	must(t, os.Link(filepath.Join(host, "hl.txt"), g("etc/hl.conf")))
	// A 100k-entry directory in /tmp: files, dirs, symlinks and hard links to host files.
	many := g("tmp/many")
	must(t, os.MkdirAll(many, 0o755))
	dfd, err := unix.Open(many, unix.O_PATH|unix.O_DIRECTORY, 0)
	must(t, err)
	n := 100_000
	if !huge {
		n = 1000
	}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("entry-%06d", i)
		switch i % 100 {
		case 0:
			err = unix.Symlinkat(host, dfd, name)
		case 1:
			err = unix.Linkat(unix.AT_FDCWD, filepath.Join(host, "hl.txt"), dfd, name, 0)
		case 2:
			err = unix.Mkdirat(dfd, name, 0o755)
		default:
			err = unix.Mknodat(dfd, name, unix.S_IFREG|0o644, 0)
		}
		must(t, err)
	}
	unix.Close(dfd)
	// Builder mounts: a host directory bind-mounted on /proc and /dev, a host file on
	// /etc/resolv.conf.
	for _, m := range []struct{ src, dst string }{{filepath.Join(host, "proc"), "proc"}, {filepath.Join(host, "dev"), "dev"}} {
		must(t, os.MkdirAll(g(m.dst), 0o755))
		if err := unix.Mount(m.src, g(m.dst), "", unix.MS_BIND, ""); err != nil {
			t.Skipf("cannot bind-mount: %v", err)
		}
		dst := g(m.dst)
		t.Cleanup(func() { unix.Unmount(dst, unix.MNT_DETACH) })
	}
	mk(t, g("etc/resolv.conf"), "", 0o644)
	must(t, unix.Mount(filepath.Join(host, "resolv.conf"), g("etc/resolv.conf"), "", unix.MS_BIND, ""))
	t.Cleanup(func() { unix.Unmount(g("etc/resolv.conf"), unix.MNT_DETACH) })
	return base, root, host
}

// hostSnapshot records everything under base except the guest root (whose content changes on
// purpose); the host directories bind-mounted into the guest are under base/host.
func hostSnapshot(t *testing.T, base, root string) map[string]entry {
	t.Helper()
	return snapshotSkip(t, base, root)
}

// TestHostile: every place an op touches is a trap (symlinks out of the root, .. chains, hard
// links to host files, FIFOs, sockets, devices, a 100k-entry directory, 20 GiB sparse files,
// unreadable files, builder bind mounts). All ops run, dry and real; nothing outside the
// guest changes, nothing blocks, and the traps are reported as skipped.
func TestHostile(t *testing.T) {
	needRoot(t)
	start := time.Now()
	base, root, host := hostileTree(t, true)
	t.Logf("hostile tree built in %s", time.Since(start).Round(time.Millisecond))
	canary := hostSnapshot(t, base, root)
	r := openRoot(t, root)
	opts := Options{
		Operations: []string{"all"},
		Rules: Rules{
			Remove:      []string{"/etc/custom/*"},
			Truncate:    []string{"/srv/*.log", "/etc/resolv.conf"},
			DeleteLines: []LineRule{{File: "/etc/app.conf", Regexp: "SECRET"}},
			AppendLines: []AppendRule{{File: "/etc/hl.conf", Line: "appended"}, {File: "/etc/sudoers", Line: "x ALL=(ALL) ALL"}},
		},
	}
	within := func(what string, o Options) *Report {
		t.Helper()
		type res struct {
			rep *Report
			err error
		}
		ch := make(chan res, 1)
		start := time.Now()
		go func() {
			rep, err := Run(context.Background(), r, o)
			ch <- res{rep, err}
		}()
		select {
		case x := <-ch:
			t.Logf("%s: %s, %+v", what, time.Since(start).Round(time.Millisecond), x.rep.Totals)
			if x.err == nil || !strings.Contains(x.err.Error(), "/etc/shadow cannot be edited") {
				t.Errorf("%s: want only the user-account refusal, got %v", what, x.err)
			}
			if strings.Count(x.err.Error(), "\n") > 0 {
				t.Errorf("%s: unexpected errors: %v", what, x.err)
			}
			return x.rep
		case <-time.After(90 * time.Second):
			t.Fatalf("%s blocked", what)
		}
		return nil
	}
	start = time.Now()
	treeBefore := snapshotTree(t, root)
	t.Logf("tree snapshot in %s", time.Since(start).Round(time.Millisecond))
	dopts := opts
	dopts.DryRun = true
	dry := within("dry run", dopts)
	if d := diffSnapshots(treeBefore, snapshotTree(t, root)); len(d) > 0 {
		t.Errorf("dry run changed %v", d)
	}
	rep := within("real run", opts)
	if d := diffSnapshots(canary, hostSnapshot(t, base, root)); len(d) > 0 {
		t.Errorf("HOST CANARY changed: %v", d)
	}
	if b, _ := os.ReadFile(filepath.Join(host, "secret.txt")); string(b) != hostSecret+"secret.txt\n" {
		t.Error("host secret changed")
	}
	g := func(p string) string { return filepath.Join(root, p) }

	skipped := map[string]string{}
	for _, op := range rep.Ops {
		for _, c := range op.Changes {
			if c.Action == Skipped {
				skipped[c.Path] = c.Reason
			}
		}
	}
	for _, p := range []string{"/var/log/syslog", "/var/log/rel.log", "/var/log/hl.log", "/var/log/fifo.log", "/var/log/sock.log",
		"/var/log/chr.log", "/var/log/blk.log", "/etc/machine-id", "/etc/fstab", "/etc/cloud/cloud.cfg", "/etc/selinux/config",
		"/var/tmp", "/proc", "/etc/resolv.conf", "/etc/hl.conf", "/dev/.blkid.tab"} {
		if _, ok := skipped[p]; !ok {
			t.Errorf("%s not reported as skipped", p)
		}
	}
	t.Logf("skip reasons: syslog=%q hl=%q proc=%q resolv=%q blkid=%q", skipped["/var/log/syslog"], skipped["/var/log/hl.log"],
		skipped["/proc"], skipped["/etc/resolv.conf"], skipped["/dev/.blkid.tab"])
	// Real targets were still cleaned.
	for _, p := range []string{"var/log/sparse.log", "var/log/unreadable.log"} {
		if fi, err := os.Stat(g(p)); err != nil || fi.Size() != 0 {
			t.Errorf("/%s not emptied: %v", p, err)
		}
	}
	for _, p := range []string{"tmp/many", "root/.bash_history", "root/.ssh", "etc/udev/rules.d/70-persistent-net.rules",
		"var/lib/dbus/machine-id"} {
		if exists(g(p)) {
			t.Errorf("/%s survived", p)
		}
	}
	// The traps themselves stay where skipping them is the safe answer.
	for _, p := range []string{"var/log/syslog", "var/log/fifo.log", "etc/machine-id", "etc/fstab", "var/tmp", "etc/selinux/config"} {
		if !exists(g(p)) {
			t.Errorf("/%s was removed", p)
		}
	}
	// user-account refused as a whole: /etc/shadow is a hard link, so passwd and group stay.
	if o := rep.Op("user-account"); o == nil || o.Status != StatusFailed || len(o.Changes) != 0 {
		t.Errorf("user-account: %+v", o)
	}
	if !strings.Contains(readT(t, g("etc/passwd")), "evil:x:1000") {
		t.Error("passwd edited although shadow could not be")
	}
	// The dry run announced the same.
	ds, rs := changeSet(dry), changeSet(rep)
	for c := range rs {
		if !ds[c] {
			t.Errorf("real run did %q, not announced by the dry run", c)
		}
	}
	for c := range ds {
		if !rs[c] {
			t.Errorf("dry run announced %q, not done", c)
		}
	}
}

// TestHostileUsers: user homes that are symlinks out of the root, to / or through symlinked
// parents are never followed by the removal; only names are removed.
func TestHostileUsers(t *testing.T) {
	needRoot(t)
	base, root, _ := hostileTree(t, false)
	canary := hostSnapshot(t, base, root)
	// A writable shadow this time, so user-account runs.
	must(t, os.Remove(filepath.Join(root, "etc/shadow")))
	mk(t, filepath.Join(root, "etc/shadow"), "root:*:19000:0:99999:7:::\nevil:!:19000::::::\n", 0o640)
	r := openRoot(t, root)
	rep := run(t, r, Options{Operations: []string{"user-account"}})
	if d := diffSnapshots(canary, hostSnapshot(t, base, root)); len(d) > 0 {
		t.Errorf("HOST CANARY changed: %v", d)
	}
	g := func(p string) string { return filepath.Join(root, p) }
	if exists(g("home/evil")) || exists(g("home/loop")) {
		t.Error("the home symlinks (names) should be removed")
	}
	for _, p := range []string{"etc", "etc/os-release", "lnk", "var/log"} {
		if !exists(g(p)) {
			t.Errorf("/%s removed through a crafted home", p)
		}
	}
	passwd := readT(t, g("etc/passwd"))
	if passwd != "root:x:0:0:root:/root:/bin/bash\n" {
		t.Errorf("passwd: %q", passwd)
	}
	if !hasChange(rep, "user-account", Skipped, "/etc") || !hasChange(rep, "user-account", Skipped, "/lnk/passwd") {
		t.Errorf("crafted homes not reported:\n%s", rep.Summary())
	}
}
