package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/clean"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/retarget"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

// runClean runs the built binary and checks its exit code.
func runClean(t *testing.T, wantCode int, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"clean"}, args...)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != wantCode {
		t.Fatalf("chromogenic clean %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String()
}

func TestCleanUsage(t *testing.T) {
	runClean(t, 2)
	runClean(t, 2, "--root", "/x", "--image", "/y")
	runClean(t, 2, "--root", "/x", "--target", "vmware")
	runClean(t, 2, "--root", "/x", "--ops", "no-such-op")
	runClean(t, 2, "--root", "/x", "--ops", "none")
	out, _ := runClean(t, 0, "--help")
	if !strings.Contains(out, "--image FILE") {
		t.Errorf("help:\n%s", out)
	}
	out, _ = runClean(t, 0, "--list")
	if !strings.Contains(out, "machine-id") || !strings.Contains(out, "xen-to-kvm") {
		t.Errorf("list:\n%s", out)
	}
}

type cleanJSON struct {
	Clean   *clean.Report `json:"clean"`
	Convert *clean.Report `json:"convert"`
}

func TestCleanRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (guest trees hold root-owned files)")
	}
	d := t.TempDir()
	for p, s := range map[string]string{
		"etc/os-release":      "ID=debian\nVERSION_ID=12\n",
		"etc/passwd":          "root:x:0:0:root:/root:/bin/bash\n",
		"etc/machine-id":      "0123456789abcdef0123456789abcdef\n",
		"var/log/syslog":      "old log lines\n",
		"root/.bash_history":  "secret\n",
		"etc/ssh/sshd_config": "Port 22\n",
	} {
		mustOK(t, os.MkdirAll(filepath.Join(d, filepath.Dir(p)), 0o755))
		mustOK(t, os.WriteFile(filepath.Join(d, p), []byte(s), 0o644))
	}
	out, _ := runClean(t, 0, "--root", d, "--dry-run", "--json")
	var r cleanJSON
	mustOK(t, json.Unmarshal([]byte(out), &r))
	if r.Clean == nil || !r.Clean.DryRun || r.Clean.Totals.Truncated < 2 || r.Clean.Totals.Removed < 1 || r.Convert != nil {
		t.Fatalf("dry-run report: %s", out)
	}
	if b, _ := os.ReadFile(filepath.Join(d, "etc/machine-id")); len(b) == 0 {
		t.Fatal("dry run emptied machine-id")
	}
	out, _ = runClean(t, 0, "--root", d, "--ops", "defaults,-logfiles")
	if !strings.Contains(out, "machine-id") {
		t.Errorf("summary:\n%s", out)
	}
	if b, _ := os.ReadFile(filepath.Join(d, "etc/machine-id")); len(b) != 0 {
		t.Error("machine-id not emptied")
	}
	if b, _ := os.ReadFile(filepath.Join(d, "var/log/syslog")); len(b) == 0 {
		t.Error("-logfiles not honoured")
	}
	if _, err := os.Lstat(filepath.Join(d, "root/.bash_history")); err == nil {
		t.Error("bash history left")
	}
}

// TestCleanImageTarget cleans and converts (target kvm) a copy of the sample image through
// --image: attach, mount, chroot mounts, clean, convert with the guest's update-initramfs,
// trim, release. (The Xen->KVM boot itself is internal/retarget's TestXenToKVMBoot.)
func TestCleanImageTarget(t *testing.T) {
	testtier.Acceptance(t, "a guest initramfs rebuild (minutes of CPU)")
	if os.Geteuid() != 0 {
		t.Skip("needs root (loop devices, mounts)")
	}
	if testing.Short() {
		t.Skip("rebuilds an initramfs (tens of seconds)")
	}
	img := filepath.Join(t.TempDir(), "disk.raw")
	if out, err := exec.Command("cp", "--sparse=always", testimages.Sample(t), img).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	out, _ := runClean(t, 0, "--image", img, "--target", "kvm", "--json")
	var r cleanJSON
	mustOK(t, json.Unmarshal([]byte(out), &r))
	if r.Clean == nil || r.Convert == nil {
		t.Fatalf("report: %s", out)
	}
	op := r.Convert.Op("convert-initramfs")
	if op == nil || op.Status != clean.StatusDone {
		t.Fatalf("convert-initramfs: %+v", op)
	}
	var copied, ran bool
	for _, c := range op.Changes {
		copied = copied || (c.Action == clean.Copied && strings.HasSuffix(c.Path, retarget.BackupSuffix))
		ran = ran || (c.Action == retarget.Ran && strings.HasSuffix(c.Path, "/update-initramfs") && strings.Contains(c.Reason, ": ok"))
	}
	if !copied || !ran {
		t.Errorf("convert-initramfs changes: %+v", op.Changes)
	}
	if loops := chroot.LoopsBackedBy(img); len(loops) > 0 {
		t.Errorf("loop devices left: %v", loops)
	}
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
