package clean

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// liveTree is a small Debian-like tree with a session user (packer), an ordinary user (alice),
// SSH material, a staging directory in /tmp and a socket.
func liveTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	mk(t, filepath.Join(root, "etc/os-release"), "ID=debian\nVERSION_ID=12\n", 0o644)
	mk(t, filepath.Join(root, "etc/login.defs"), "UID_MIN 1000\nUID_MAX 60000\nGID_MIN 1000\nGID_MAX 60000\n", 0o644)
	mk(t, filepath.Join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n"+
		"packer:x:1000:1000::/home/packer:/bin/bash\nalice:x:1001:1001::/home/alice:/bin/bash\n", 0o644)
	mk(t, filepath.Join(root, "etc/shadow"), "root:*:1::::::\npacker:!:1::::::\nalice:!:1::::::\n", 0o640)
	mk(t, filepath.Join(root, "etc/group"), "root:x:0:\npacker:x:1000:\nalice:x:1001:\n", 0o644)
	mk(t, filepath.Join(root, "home/packer/.ssh/authorized_keys"), "ssh-ed25519 AAAA packer\n", 0o600)
	mk(t, filepath.Join(root, "home/packer/.ssh/known_hosts"), "host ssh-ed25519 AAAA\n", 0o644)
	mk(t, filepath.Join(root, "home/packer/.bash_history"), "ls\n", 0o600)
	mk(t, filepath.Join(root, "home/alice/.ssh/authorized_keys"), "ssh-ed25519 AAAA alice\n", 0o600)
	mk(t, filepath.Join(root, "root/.ssh/authorized_keys"), "ssh-ed25519 AAAA root\n", 0o600)
	mk(t, filepath.Join(root, "tmp/stage-1/engine"), "binary", 0o700)
	mk(t, filepath.Join(root, "tmp/stage-1/config.json"), "{}", 0o600)
	mk(t, filepath.Join(root, "tmp/junk"), "junk", 0o644)
	l, err := net.Listen("unix", filepath.Join(root, "tmp/service.sock"))
	must(t, err)
	t.Cleanup(func() { l.Close() })
	return root
}

// TestLiveRules runs the chromogenic selection with the live rules: the session user, its
// authorized_keys, the staging directory and the socket survive; everything else is cleaned.
func TestLiveRules(t *testing.T) {
	needRoot(t)
	root := liveTree(t)
	opts := Options{Operations: []string{"defaults", "+user-account"},
		Live: &Live{SessionUsers: []string{"packer"}, Protect: []string{"/tmp/stage-1", "/tmp/stage-1/engine"}}} // as the guest entry protects them
	rep := run(t, openRoot(t, root), opts)

	for _, keep := range []string{"home/packer/.ssh/authorized_keys", "tmp/stage-1/engine", "tmp/stage-1/config.json",
		"tmp/service.sock", "root/.ssh/authorized_keys"} {
		if !exists(filepath.Join(root, keep)) {
			t.Errorf("%s removed on a live system", keep)
		}
	}
	for _, gone := range []string{"home/packer/.ssh/known_hosts", "home/packer/.bash_history", "home/alice",
		"tmp/junk"} {
		if exists(filepath.Join(root, gone)) {
			t.Errorf("%s not cleaned", gone)
		}
	}
	pw := readT(t, filepath.Join(root, "etc/passwd"))
	if !strings.Contains(pw, "\npacker:x:1000:") || strings.Contains(pw, "alice:") {
		t.Errorf("passwd: session user must stay, alice must go:\n%s", pw)
	}
	if !hasChange(rep, "user-account", Skipped, "/etc/passwd") {
		t.Errorf("report does not say the session user was kept")
	}
	if !hasChange(rep, "tmp-files", Skipped, "/tmp/stage-1") || !hasChange(rep, "tmp-files", Skipped, "/tmp/service.sock") {
		t.Errorf("report does not list the staging dir and the socket as skipped: %v", changeSet(rep))
	}
	if !hasChange(rep, "ssh-userdir", Skipped, "/home/packer/.ssh") {
		t.Errorf("report does not say /home/packer/.ssh was emptied around authorized_keys: %v", changeSet(rep))
	}
}

// TestLiveRemoveSessionKeys: asked to, ssh-userdir removes the session keys too.
func TestLiveRemoveSessionKeys(t *testing.T) {
	needRoot(t)
	root := liveTree(t)
	run(t, openRoot(t, root), Options{Live: &Live{SessionUsers: []string{"packer"}, RemoveSessionKeys: true}})
	if exists(filepath.Join(root, "home/packer/.ssh")) {
		t.Errorf("remove_session_keys: /home/packer/.ssh kept")
	}
}

// TestLivePackerHost: a run whose Packer host identity is this process's own machine is
// refused before anything changes; another machine's identity is accepted.
func TestLivePackerHost(t *testing.T) {
	needRoot(t)
	root := liveTree(t)
	me := LocalIdentity()
	if me.MachineID == "" && me.BootID == "" {
		t.Skip("no machine-id nor boot id on this machine")
	}
	keyed, err := me.Keyed()
	must(t, err)
	before := snapshotTree(t, root)
	for _, id := range []HostIdentity{me, keyed} {
		_, err := Run(context.Background(), openRoot(t, root), Options{Live: &Live{PackerHost: &id}})
		if !errors.Is(err, ErrPackerHost) {
			t.Fatalf("Run with this machine as the Packer host (%+v): err = %v, want ErrPackerHost", id, err)
		}
		if strings.Contains(err.Error(), me.MachineID) || (me.BootID != "" && strings.Contains(err.Error(), me.BootID)) {
			t.Errorf("refusal prints the host's ids: %v", err)
		}
	}
	if ch := diffSnapshots(before, snapshotTree(t, root)); len(ch) > 0 {
		t.Errorf("refused run changed %v", ch)
	}
	other := HostIdentity{MachineID: "0123456789abcdef0123456789abcdef", BootID: "other", RootDev: me.RootDev, RootIno: me.RootIno}
	if _, err := Run(context.Background(), openRoot(t, root), Options{DryRun: true, Live: &Live{PackerHost: &other}}); err != nil {
		t.Errorf("another machine's identity refused: %v", err)
	}
}

func TestSameRoot(t *testing.T) {
	a := HostIdentity{MachineID: "m1", BootID: "b1", RootDev: 1, RootIno: 2}
	for _, c := range []struct {
		o    HostIdentity
		same bool
	}{
		{HostIdentity{MachineID: "m1"}, true},                                        // same installed system
		{HostIdentity{MachineID: "m2", BootID: "b1", RootDev: 1, RootIno: 2}, true},  // same kernel, same /
		{HostIdentity{MachineID: "m2", BootID: "b1", RootDev: 1, RootIno: 9}, false}, // chroot on the same kernel
		{HostIdentity{MachineID: "m2", BootID: "b2", RootDev: 1, RootIno: 2}, false}, // another machine
		{HostIdentity{}, false},
	} {
		if got, _ := a.SameRoot(c.o); got != c.same {
			t.Errorf("SameRoot(%+v) = %v, want %v", c.o, got, c.same)
		}
	}
	// Keyed: the ids are hashes, the comparisons the same.
	k, err := a.Keyed()
	must(t, err)
	if k.MachineID == "m1" || k.BootID == "b1" || len(k.Key) != 64 || k.RootIno != 2 {
		t.Fatalf("Keyed = %+v", k)
	}
	if got, _ := k.SameRoot(HostIdentity{MachineID: "m1"}); !got {
		t.Errorf("keyed identity does not match its machine-id")
	}
	if got, _ := (HostIdentity{MachineID: "m2", BootID: "b1", RootDev: 1, RootIno: 2}).SameRoot(k); !got {
		t.Errorf("keyed identity does not match its boot id and /")
	}
	if got, _ := k.SameRoot(HostIdentity{MachineID: "m2", BootID: "b2", RootDev: 1, RootIno: 2}); got {
		t.Errorf("keyed identity matches another machine")
	}
	k2, _ := a.Keyed()
	if k2.Key == k.Key || k2.MachineID == k.MachineID {
		t.Errorf("two keyings share a key")
	}
	if got, _ := k.SameRoot(k2); got {
		t.Errorf("identities keyed differently compared equal")
	}
	if _, err := k.Keyed(); err == nil {
		t.Errorf("keying twice accepted")
	}
	var st syscall.Stat_t
	must(t, syscall.Stat("/", &st))
	if id := localRootID(); id[0] != uint64(st.Dev) || id[1] != st.Ino {
		t.Errorf("localRootID = %v", id)
	}
}
