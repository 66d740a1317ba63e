package clean

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRegistryAndResolve(t *testing.T) {
	ops := Operations()
	byName := map[string]OpInfo{}
	for _, o := range ops {
		byName[o.Name] = o
		if o.Description == "" || o.AppliesTo == "" {
			t.Errorf("%s: incomplete %+v", o.Name, o)
		}
	}
	// virt-sysprep's default Linux set, plus ours.
	for _, n := range []string{"abrt-data", "backup-files", "bash-history", "blkid-tab", "crash-data", "cron-spool",
		"dhcp-client-state", "dhcp-server-state", "dovecot-data", "ipa-client", "kerberos-hostkeytab", "logfiles",
		"lvm-system-devices", "machine-id", "mail-spool", "net-hostname", "net-hwaddr", "net-nmconn", "pacct-log",
		"package-manager-cache", "pam-data", "passwd-backups", "puppet-data-log", "rh-subscription-manager",
		"rhn-systemid", "rpm-db", "samba-db-log", "smolt-uuid", "ssh-hostkeys", "ssh-userdir", "sssd-db-log",
		"tmp-files", "udev-persistent-net", "utmp", "yum-uuid", "zsh-history", "cloud-init-state", "history-files",
		"random-seed", "custom-rules"} {
		if !byName[n].Default {
			t.Errorf("%s should be a default op", n)
		}
	}
	for _, n := range []string{"user-account", "atmosphere", "kerberos-data", "ca-certificates", "firewall-rules", "flag-reconfiguration"} {
		if o, ok := byName[n]; !ok || o.Default {
			t.Errorf("%s should exist and be off by default", n)
		}
	}
	def, err := Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	if contains(def, "user-account") || !contains(def, "logfiles") {
		t.Errorf("defaults: %v", def)
	}
	if def[len(def)-1] != "custom-rules" {
		t.Errorf("custom-rules must run last: %v", def)
	}
	chromo, _ := Resolve([]string{"chromogenic"})
	if chromo[0] != "atmosphere" || chromo[1] != "user-account" || !contains(chromo, "kerberos-data") {
		t.Errorf("chromogenic: %v", chromo)
	}
	sel, err := Resolve([]string{"defaults,-tmp-files", "+user-account"})
	if err != nil || contains(sel, "tmp-files") || !contains(sel, "user-account") {
		t.Errorf("selection: %v %v", sel, err)
	}
	if _, err := Resolve([]string{"no-such-op"}); err == nil {
		t.Error("unknown op accepted")
	}
	all, _ := Resolve([]string{"all", "-defaults"})
	if len(all) != len(ops)-len(def) {
		t.Errorf("all-defaults: %v", all)
	}
}

func TestValidate(t *testing.T) {
	bad := []Options{
		{Rules: Rules{Remove: []string{"relative/path"}}},
		{Rules: Rules{Remove: []string{"/"}}},
		{Rules: Rules{Truncate: []string{"/var/log/[bad"}}},
		{Rules: Rules{DeleteLines: []LineRule{{File: "/etc/x", Regexp: "("}}}},
		{Rules: Rules{ReplaceLines: []LineRule{{File: "/etc/x", Regexp: ""}}}},
		{Rules: Rules{AppendLines: []AppendRule{{File: "/etc/x", Line: "a\nb"}}}},
		{Rules: Rules{AppendLines: []AppendRule{{File: "/etc/*.conf", Line: "a", Create: true}}}},
		{Users: UserOptions{Keep: []string{"a:b"}}},
		{Operations: []string{"nope"}},
	}
	for i, o := range bad {
		if o.Validate() == nil {
			t.Errorf("case %d accepted: %+v", i, o)
		}
	}
	if err := (&Options{Rules: customRules}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestRefusals(t *testing.T) {
	needRoot(t)
	// Not a Linux tree.
	empty := t.TempDir()
	r := openRoot(t, empty)
	if _, err := Run(context.Background(), r, Options{}); err != ErrNotLinux {
		t.Errorf("empty tree: %v", err)
	}
	// The host's own root.
	hr := openRoot(t, "/")
	if _, err := Run(context.Background(), hr, Options{DryRun: true}); err != ErrLiveRoot {
		t.Errorf("host root: %v", err)
	}
}

func TestReportJSONAndSummary(t *testing.T) {
	needRoot(t)
	root := filepath.Join(t.TempDir(), "g")
	mk(t, filepath.Join(root, "etc/os-release"), "ID=debian\nVERSION_ID=12\n", 0o644)
	mk(t, filepath.Join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\n", 0o644)
	mk(t, filepath.Join(root, "var/log/syslog"), "x\n", 0o644)
	mk(t, filepath.Join(root, "tmp/x"), "x\n", 0o644)
	r := openRoot(t, root)
	rep := run(t, r, Options{DryRun: true})
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || back.Totals != rep.Totals || back.Guest.ID != "debian" {
		t.Errorf("JSON round trip: %v %+v", err, back.Totals)
	}
	s := rep.Summary()
	for _, want := range []string{"dry run", "truncated /var/log/syslog", "removed   /tmp/x", "not applicable to this guest: "} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "tmp/x")); err != nil {
		t.Error("dry run removed a file")
	}
}
