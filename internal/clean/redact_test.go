package clean

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The secrets of the guest's cloud-init configuration: none may appear in a report.
var cloudSecrets = []string{
	"$6$rounds=4096$saltsalt$HASHEDPASSWORDVALUE", // passwd
	"PlainTextPassword1",                          // plain_text_passwd
	"$6$otherhash$HASHED2",                        // hashed_passwd
	"ChpasswdSecret1",                             // chpasswd list (multi-line string)
	"ChpasswdSecret2",                             // chpasswd list (YAML list)
	"NewStylePassword",                            // chpasswd users: password
	"InlinePassword",                              // flow mapping
	"ShadowHashValue",                             // custom rule on /etc/shadow
}

const cloudCfg = `users:
  - default
  - name: atmo
    passwd: $6$rounds=4096$saltsalt$HASHEDPASSWORDVALUE
    plain_text_passwd: PlainTextPassword1
    hashed_passwd: "$6$otherhash$HASHED2"
    lock_passwd: false
disable_root: true
chpasswd:
  list: |
    root:ChpasswdSecret1
    atmo:RANDOM
  expire: false
ssh_deletekeys: true
`

const cloudCfgD = `chpasswd:
  expire: false
  list:
    - root:ChpasswdSecret2
  users:
    - name: root
      password: NewStylePassword
      type: text
    - {name: atmo, password: InlinePassword, type: text}
ssh_pwauth: true
`

// TestReportsRedactSecrets: edits of cloud-init's configuration (the atmosphere op comments
// its users block; custom rules delete chpasswd entries and edit /etc/shadow) are made, and
// their diffs show which lines changed, but no password, hash or chpasswd entry reaches the
// report's JSON or its summary.
func TestReportsRedactSecrets(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	mk(t, filepath.Join(root, "etc/cloud/cloud.cfg"), cloudCfg, 0o644)
	mk(t, filepath.Join(root, "etc/cloud/cloud.cfg.d/90-pw.cfg"), cloudCfgD, 0o644)
	mk(t, filepath.Join(root, "etc/shadow"), "root:ShadowHashValue:19000:0:99999:7:::\n", 0o640)
	mk(t, filepath.Join(root, "etc/os-release"), "ID=debian\nVERSION_ID=12\n", 0o644)
	rep := run(t, openRoot(t, root), Options{
		Operations: []string{"atmosphere", "custom-rules"},
		Rules: Rules{
			DeleteLines: []LineRule{
				{File: "/etc/cloud/cloud.cfg.d/*.cfg", Regexp: `^\s*(- root:|password:|- \{name)`},
			},
			ReplaceLines: []LineRule{
				{File: "/etc/shadow", Regexp: `^root:[^:]*:`, Replacement: "root:*:"},
				{File: "/etc/cloud/cloud.cfg", Regexp: `^(\s+)(root|atmo):[A-Z].*`, Replacement: "${1}${2}:REPLACED"},
			},
		},
	})
	// The edits are real.
	cfg := readT(t, filepath.Join(root, "etc/cloud/cloud.cfg"))
	if !strings.Contains(cfg, "#    plain_text_passwd: PlainTextPassword1") || !strings.Contains(cfg, "    root:REPLACED") {
		t.Fatalf("cloud.cfg not edited as asked:\n%s", cfg)
	}
	if d := readT(t, filepath.Join(root, "etc/cloud/cloud.cfg.d/90-pw.cfg")); strings.Contains(d, "Secret2") || strings.Contains(d, "InlinePassword") {
		t.Fatalf("cloud.cfg.d not edited:\n%s", d)
	}
	if s := readT(t, filepath.Join(root, "etc/shadow")); s != "root:*:19000:0:99999:7:::\n" {
		t.Fatalf("shadow = %q", s)
	}
	js, err := rep.JSON()
	must(t, err)
	sum := rep.Summary()
	for _, s := range cloudSecrets {
		if strings.Contains(string(js), s) || strings.Contains(sum, s) {
			t.Errorf("secret %q in the report:\n%s", s, sum)
		}
	}
	// The diffs still say what changed.
	for _, want := range []string{"-    plain_text_passwd: <redacted>", "+#    plain_text_passwd: <redacted>",
		"-    root:<redacted>", "+    root:<redacted>", "-    - root:<redacted>", "-      password: <redacted>",
		"-    - {name: atmo, password: <redacted>, type: text}", "-root:<redacted>", "+#    lock_passwd: false"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks diff line %q:\n%s", want, sum)
		}
	}
	if !strings.Contains(sum, "-    atmo:<redacted>") {
		t.Errorf("chpasswd entry of the block not redacted as a pair:\n%s", sum)
	}
}

func TestRedactLine(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"    passwd: $6$x", "    passwd: <redacted>"},
		{"#  - hashed_passwd: 'x'", "#  - hashed_passwd: <redacted>"},
		{"PASSWORD=hunter2", "PASSWORD=<redacted>"},
		{"    lock_passwd: true", "    lock_passwd: true"},
		{"ssh_pwauth: true", "ssh_pwauth: true"},
		{"  - {name: a, password: p, type: text}", "  - {name: a, password: <redacted>, type: text}"},
		{"disable_root: false", "disable_root: false"},
		{"keep=1", "keep=1"},
	} {
		if got := redactLine(c.in, nil); got != c.want {
			t.Errorf("redactLine(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	pairs := secretLines(strings.Split(cloudCfg, "\n"))
	if !pairs["root:ChpasswdSecret1"] || !pairs["atmo:RANDOM"] || len(pairs) != 2 {
		t.Errorf("chpasswd entries = %v", pairs)
	}
}

// TestSummaryEscapesGuestNames: a guest file name and os-release fields carrying terminal
// escapes, a newline that forges a report line and a bidi override are printed escaped; the
// JSON report keeps the real name.
func TestSummaryEscapesGuestNames(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	evil := "x\x1b]2;owned\x07\nchromogenic-clean: cleaned - FORGED\u202egpj.exe\xff"
	mk(t, filepath.Join(root, "tmp", evil), "junk", 0o644)
	mk(t, filepath.Join(root, "etc/os-release"), "ID=\"debian\x1b[2J\"\nVERSION_ID=12\n", 0o644)
	rep := run(t, openRoot(t, root), Options{Operations: []string{"tmp-files"}})
	if !hasChange(rep, "tmp-files", Removed, "/tmp/"+evil) {
		t.Fatalf("evil file not removed: %v", changeSet(rep))
	}
	sum := rep.Summary()
	for _, bad := range []string{"\x1b", "\x07", "\u202e", "\xff", "\nchromogenic-clean: cleaned - FORGED"} {
		if strings.Contains(sum, bad) {
			t.Errorf("summary carries %q:\n%s", bad, sum)
		}
	}
	if want := `/tmp/x\x1b]2;owned\x07\nchromogenic-clean: cleaned - FORGED\u202egpj.exe\xff`; !strings.Contains(sum, want) {
		t.Errorf("summary lacks the escaped name %s:\n%s", want, sum)
	}
	if !strings.Contains(sum, `debian\x1b[2j`) {
		t.Errorf("os-release ID not escaped:\n%s", sum)
	}
	var back Report
	js, err := rep.JSON()
	must(t, err)
	must(t, json.Unmarshal(js, &back))
	if back.Find("/tmp/"+strings.ToValidUTF8(evil, "\ufffd")) == nil && back.Find("/tmp/"+evil) == nil {
		t.Errorf("JSON report lost the name")
	}
	if _, err := os.Lstat(filepath.Join(root, "tmp", evil)); !os.IsNotExist(err) {
		t.Errorf("evil file still there: %v", err)
	}
}

func TestPrintable(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/etc/passwd", "/etc/passwd"},
		{`a\b`, `a\b`},
		{"a\\b\n", `a\\b\n`},
		{"caf\u00e9", "caf\u00e9"},
		{"\u009b31m", `\u009b31m`},
		{"\x9b31m", `\x9b31m`},
		{"tab\there", `tab\there`},
		{"\x7f", `\x7f`},
	} {
		if got := Printable(c.in); got != c.want {
			t.Errorf("Printable(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
