package clean

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// guestTree makes a small guest tree in a plain directory: a history to clean.
func guestTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range map[string]string{
		"etc/os-release":     "ID=debian\n",
		"etc/passwd":         "root:x:0:0:root:/root:/bin/sh\n",
		"root/.bash_history": "secret command\n",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// The report (it names the guest's files) is written 0600, not 0644 under umask 022.
func TestReportFileMode(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	root := guestTree(t)
	report := filepath.Join(t.TempDir(), "report.json")
	var p Provisioner
	if err := p.Prepare(map[string]interface{}{"root": root, "report_file": report, "operations": []string{"bash-history"}}); err != nil {
		t.Fatal(err)
	}
	if err := p.Provision(context.Background(), packersdk.TestUi(t), nil, map[string]interface{}{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "root/.bash_history")); !os.IsNotExist(err) {
		t.Fatalf("history not cleaned: %v", err)
	}
	fi, err := os.Stat(report)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("report mode %o, want 0600", fi.Mode().Perm())
	}
}
