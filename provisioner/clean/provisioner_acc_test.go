package clean

import (
	_ "embed"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

//go:embed test-fixtures/template.pkr.hcl
var accTemplate string

var checked = []string{"/home/alice/.bash_history", "/root/.bash_history", "/etc/machine-id",
	"/etc/ssh/ssh_host_ed25519_key", "/var/log/syslog", "/var/lib/cloud/instances/i-1/obj.pkl",
	"/etc/passwd", "/etc/shadow", "/etc/app.conf", "/etc/hostname", "/etc/os-release", "/usr/lib/os-release"}

func build(t *testing.T, dryRun bool) (map[string][]byte, string, string) {
	t.Helper()
	env := packertest.Setup(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "source.raw")
	packertest.CopySparse(t, testimages.Sample(t), src)
	out, report := filepath.Join(dir, "out"), filepath.Join(dir, "report.json")
	dry := "false"
	if dryRun {
		dry = "true"
	}
	res := env.MustBuild(t, dir, accTemplate, 15*time.Minute, "-var", "source_path="+src,
		"-var", "output_directory="+out, "-var", "report_file="+report, "-var", "dry_run="+dry)
	return packertest.GuestFiles(t, filepath.Join(out, "clean.raw"), checked...), report, res.Output
}

// TestAccClean seeds the sample with a user, histories, keys, logs and cloud-init state, runs
// chromogenic-clean through the real packer binary, and reads the artifact with util-linux's
// tools: each target is gone or emptied, each neighbour is intact, and the report lists it.
func TestAccClean(t *testing.T) {
	testtier.Acceptance(t, "a packer build")
	got, report, output := build(t, false)
	for _, gone := range []string{"/home/alice/.bash_history", "/root/.bash_history",
		"/etc/ssh/ssh_host_ed25519_key", "/var/lib/cloud/instances/i-1/obj.pkl"} {
		if _, ok := got[gone]; ok {
			t.Errorf("%s still in the cleaned image", gone)
		}
	}
	for _, empty := range []string{"/etc/machine-id", "/var/log/syslog"} {
		if b, ok := got[empty]; !ok || len(b) != 0 {
			t.Errorf("%s not emptied in place: present=%v %q", empty, ok, b)
		}
	}
	if strings.Contains(string(got["/etc/passwd"]), "alice:") || strings.Contains(string(got["/etc/shadow"]), "alice:") {
		t.Errorf("user alice still in passwd/shadow")
	}
	if !strings.HasPrefix(string(got["/etc/passwd"]), "root:x:0:0:") {
		t.Errorf("root lost from passwd: %q", got["/etc/passwd"])
	}
	if string(got["/etc/app.conf"]) != "keep=1\n" {
		t.Errorf("delete_lines: /etc/app.conf = %q", got["/etc/app.conf"])
	}
	if len(got["/etc/hostname"]) == 0 || !strings.Contains(string(got["/usr/lib/os-release"]), "bookworm") {
		t.Errorf("neighbours damaged: hostname %q", got["/etc/hostname"])
	}
	raw, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("no report: %v\n%s", err, output)
	}
	var rep struct {
		DryRun bool
		Ops    []struct {
			Name    string
			Changes []struct{ Action, Path string }
		}
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	paths := map[string]string{}
	for _, op := range rep.Ops {
		for _, c := range op.Changes {
			paths[c.Path] = c.Action
		}
	}
	if rep.DryRun || paths["/etc/machine-id"] != "truncated" || paths["/root/.bash_history"] != "removed" {
		t.Errorf("report does not list the changes: dry=%v %v", rep.DryRun, paths)
	}
}

// TestAccCleanDryRun changes nothing but reports what it would do.
func TestAccCleanDryRun(t *testing.T) {
	testtier.Acceptance(t, "a packer build")
	got, report, _ := build(t, true)
	if string(got["/root/.bash_history"]) != "rm -rf /\n" || len(got["/etc/machine-id"]) == 0 ||
		!strings.Contains(string(got["/etc/passwd"]), "alice:") || string(got["/etc/app.conf"]) != "secret=1\nkeep=1\n" {
		t.Errorf("dry run changed the guest")
	}
	raw, err := os.ReadFile(report)
	if err != nil || !strings.Contains(string(raw), "/root/.bash_history") {
		t.Errorf("dry-run report does not list what would change: %v", err)
	}
}
