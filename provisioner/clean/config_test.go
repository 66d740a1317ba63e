package clean

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	engine "github.com/chromogenic/packer-plugin-chromogenic/internal/clean"
)

func TestPrepareErrorsNameTheField(t *testing.T) {
	cases := []struct {
		raw  map[string]interface{}
		want string
	}{
		{map[string]interface{}{"operations": []string{"no-such-op"}}, "operations"},
		{map[string]interface{}{"remove": []string{"relative/path"}}, "rules"},
		{map[string]interface{}{"remove": []string{"/"}}, "rules"},
		{map[string]interface{}{"delete_lines": []map[string]interface{}{{"file": "/etc/x", "regexp": "("}}}, "rules"},
		{map[string]interface{}{"delete_lines": []map[string]interface{}{{"file": "/etc/x", "regexp": "a", "replacement": "b"}}}, "delete_lines[0]"},
		{map[string]interface{}{"mode": "remote"}, "mode"},
		{map[string]interface{}{"mode": "live", "root": "/mnt"}, "root"},
		{map[string]interface{}{"mode": "live", "target": "kvm"}, "target"},
		{map[string]interface{}{"execute_command": "sudo {{.Nope}}"}, "execute_command"},
		{map[string]interface{}{"execute_command": "sudo {{"}, "execute_command"},
		{map[string]interface{}{"execute_command": "echo hello"}, "execute_command"},
		{map[string]interface{}{"remote_folder": "tmp"}, "remote_folder"},
		{map[string]interface{}{"remote_folder": "/"}, "remote_folder"},
	}
	for _, tc := range cases {
		var p Provisioner
		err := p.Prepare(tc.raw)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error naming %q", tc.raw, err, tc.want)
		}
	}
	var p Provisioner
	if err := p.Prepare(map[string]interface{}{"packer_build_name": "x"}); err != nil {
		t.Fatal(err)
	}
	if p.config.ReportFile != "chromogenic-clean-x.json" || p.config.Operations[0] != "defaults" ||
		p.config.ExecuteCommand != "{{.Command}}" || p.config.RemoteFolder != "/tmp" {
		t.Errorf("defaults: %q %v %q %q", p.config.ReportFile, p.config.Operations, p.config.ExecuteCommand, p.config.RemoteFolder)
	}
	// execute_command is rendered at run time, with the engine's command line.
	p = Provisioner{}
	if err := p.Prepare(map[string]interface{}{"mode": "live", "execute_command": "sudo -n {{.Command}}"}); err != nil {
		t.Fatal(err)
	}
	got, err := renderExecute(p.config.ExecuteCommand, executeData{Command: "'/tmp/x/e' clean-guest --config '/tmp/x/c'"}, &p.config.ctx)
	if err != nil || got != "sudo -n '/tmp/x/e' clean-guest --config '/tmp/x/c'" {
		t.Errorf("execute_command rendered %q, %v", got, err)
	}
	if q := shellQuote("/tmp/it's"); q != `'/tmp/it'\''s'` {
		t.Errorf("shellQuote: %s", q)
	}
}

// TestGuestMainRefuses: the hidden guest command fails (status 2, no report) on bad
// arguments, on a configuration without the Packer host identity, and on the machine Packer
// runs on (this one). Nothing here can clean this machine: every case is refused before any
// operation, and the last is a dry run.
func TestGuestMainRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name, js string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(js), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	me, _ := json.Marshal(engine.LocalIdentity())
	report := filepath.Join(dir, "report.json")
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "usage"},
		{[]string{"--config", filepath.Join(dir, "missing.json")}, "no such file"},
		{[]string{"--config", write("bad.json", "{")}, "unexpected end"},
		{[]string{"--config", write("nolive.json", `{"options":{"dry_run":true},"report":"`+report+`"}`)}, "not a live-mode configuration"},
		{[]string{"--config", write("nohost.json", `{"options":{"dry_run":true,"live":{}},"report":"`+report+`"}`)}, "not a live-mode configuration"},
		{[]string{"--config", write("self.json", `{"options":{"dry_run":true,"live":{"packer_host":`+string(me)+`}},"report":"`+report+`"}`)},
			"refusing to clean the root of the machine Packer runs on"},
	} {
		var out, errb bytes.Buffer
		if st := GuestMain(c.args, &out, &errb); st != guestFatal || !strings.Contains(errb.String(), c.want) {
			t.Errorf("GuestMain(%v) = %d, stderr %q; want %d and %q", c.args, st, errb.String(), guestFatal, c.want)
		}
		if _, err := os.Stat(report); err == nil {
			t.Fatalf("GuestMain(%v) wrote a report", c.args)
		}
	}
}
