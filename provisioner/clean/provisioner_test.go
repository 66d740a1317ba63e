package clean

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
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

// cleanMachineID runs the machine-id operation on root.
func cleanMachineID(t *testing.T, root string) {
	t.Helper()
	var p Provisioner
	if err := p.Prepare(map[string]interface{}{"root": root, "report_file": filepath.Join(t.TempDir(), "r.json"),
		"operations": []string{"machine-id"}}); err != nil {
		t.Fatal(err)
	}
	p.Provision(context.Background(), packersdk.TestUi(t), nil, map[string]interface{}{})
}

// A root that is a plain host directory can hold a hard link to a host file: the guest's
// /etc/machine-id hard-linked to a host canary is not emptied (hard-link writes off).
func TestHardlinkWritesOffForPlainDirectory(t *testing.T) {
	root := guestTree(t)
	canary := filepath.Join(t.TempDir(), "host-canary")
	if err := os.WriteFile(canary, []byte("HOST DATA\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(canary, filepath.Join(root, "etc", "machine-id")); err != nil {
		t.Skipf("hard link across the two temp dirs: %v", err)
	}
	cleanMachineID(t, root)
	if b, _ := os.ReadFile(canary); string(b) != "HOST DATA\n" {
		t.Errorf("host canary changed through a hard link in a plain-directory root: %q", b)
	}
}

// On a guest filesystem mounted on its own, hard links stay inside the guest, so a
// hard-linked /etc/machine-id is emptied (hard-link writes on).
func TestHardlinkWritesOnForGuestMount(t *testing.T) {
	dir := t.TempDir()
	image := testimages.Make(t, "bare-ext4", dir)
	d, err := chroot.Attach(image, false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Detach()
	g, err := chroot.MountGuest(d, filepath.Join(dir, "mnt"), chroot.GuestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.UnmountAll()
	mid, other := filepath.Join(g.Mounts.Root, "etc", "machine-id"), filepath.Join(g.Mounts.Root, "etc", "machine-id.link")
	os.Remove(mid)
	if err := os.WriteFile(mid, []byte("0123456789abcdef0123456789abcdef\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(mid, other); err != nil {
		t.Fatal(err)
	}
	cleanMachineID(t, g.Mounts.Root)
	if b, err := os.ReadFile(mid); err != nil || len(b) != 0 {
		t.Errorf("hard-linked /etc/machine-id on the guest mount not emptied: %q %v", b, err)
	}
}
