package common

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/sandbox"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
)

// hostileTree is a guest root with symlinks pointing at a host canary directory.
func hostileTree(t *testing.T) (root, hostDir string) {
	t.Helper()
	root, hostDir = t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(hostDir, "secret"), []byte("HOST SECRET"), 0o600)
	os.WriteFile(filepath.Join(hostDir, "motd"), []byte("host motd"), 0o644)
	for _, d := range []string{"etc", "root", "tmp"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.Symlink(filepath.Join(hostDir, "motd"), filepath.Join(root, "etc", "motd"))
	os.Symlink("../../../../../../"+strings.TrimPrefix(hostDir, "/")+"/secret", filepath.Join(root, "root", "secret"))
	os.Symlink(hostDir, filepath.Join(root, "tmp", "dir"))
	return root, hostDir
}

func newComm(t *testing.T, root string) *Communicator {
	t.Helper()
	g, err := guestfs.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return NewCommunicator(root, g, sandbox.Options{})
}

func checkHost(t *testing.T, hostDir string) {
	t.Helper()
	if b, _ := os.ReadFile(filepath.Join(hostDir, "motd")); string(b) != "host motd" {
		t.Errorf("host motd changed: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(hostDir, "secret")); string(b) != "HOST SECRET" {
		t.Errorf("host secret changed: %q", b)
	}
	if e, _ := os.ReadDir(hostDir); len(e) != 2 {
		t.Errorf("host dir gained entries: %v", e)
	}
}

func TestCommunicatorUploadStaysInRoot(t *testing.T) {
	root, hostDir := hostileTree(t)
	c := newComm(t, root)
	// /etc/motd -> <hostDir>/motd: resolved in-root, the write lands in the guest's own
	// <hostDir> path, created below the guest root.
	os.MkdirAll(filepath.Join(root, strings.TrimPrefix(hostDir, "/")), 0o755)
	if err := c.Upload("/etc/motd", strings.NewReader("guest motd"), nil); err != nil {
		t.Fatalf("upload: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, strings.TrimPrefix(hostDir, "/"), "motd")); string(b) != "guest motd" {
		t.Errorf("upload did not land inside the guest: %q", b)
	}
	// A directory upload through a symlinked guest directory also stays inside.
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("A"), 0o644)
	if err := c.UploadDir("/tmp/dir", src+"/", nil); err != nil {
		t.Fatalf("upload dir: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, strings.TrimPrefix(hostDir, "/"), "a.txt")); string(b) != "A" {
		t.Errorf("dir upload did not land inside the guest: %q", b)
	}
	checkHost(t, hostDir)
}

func TestCommunicatorDownloadStaysInRoot(t *testing.T) {
	root, hostDir := hostileTree(t)
	c := newComm(t, root)
	var buf bytes.Buffer
	err := c.Download("/root/secret", &buf)
	if strings.Contains(buf.String(), "HOST SECRET") {
		t.Fatalf("download followed a guest symlink to the host: %q", buf.String())
	}
	if err == nil {
		t.Errorf("download of a dangling in-root link succeeded with %q", buf.String())
	}
	// DownloadDir copies links as links and never reads through them.
	dst := t.TempDir()
	if err := c.DownloadDir("/root", dst, nil); err != nil {
		t.Fatalf("download dir: %v", err)
	}
	if fi, err := os.Lstat(filepath.Join(dst, "secret")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("guest symlink not kept as a symlink: %v %v", fi, err)
	}
	checkHost(t, hostDir)
}

func TestCommunicatorRoundTrip(t *testing.T) {
	root := t.TempDir()
	c := newComm(t, root)
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "d", "e"), 0o755)
	os.WriteFile(filepath.Join(src, "d", "e", "f.txt"), []byte("deep"), 0o640)
	os.WriteFile(filepath.Join(src, "d", "skip.log"), []byte("x"), 0o644)
	if err := c.UploadDir("/opt", filepath.Join(src, "d"), []string{"*.log"}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(root, "opt", "d", "e", "f.txt"))
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("uploaded file: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(root, "opt", "d", "skip.log")); err == nil {
		t.Errorf("excluded file uploaded")
	}
	var buf bytes.Buffer
	if err := c.Download("/opt/d/e/f.txt", &buf); err != nil || buf.String() != "deep" {
		t.Errorf("download: %q %v", buf.String(), err)
	}
}

// mountBare mounts a real Debian root (released at the end of the test).
func mountBare(t *testing.T) *chroot.Guest {
	t.Helper()
	dir := t.TempDir()
	image := testimages.Make(t, "bare-ext4", dir)
	d, err := chroot.Attach(image, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Detach() })
	g, err := chroot.MountGuest(d, filepath.Join(dir, "mnt"), chroot.GuestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.UnmountAll() })
	return g
}

// Start runs the command inside the guest tree (a real Debian root), in the sandbox and, with
// TrustGuest, through chroot; the host's environment reaches neither.
func TestCommunicatorStart(t *testing.T) {
	t.Setenv("AWS_SECRET_ACCESS_KEY", "sentinel-4711-host-secret")
	g := mountBare(t)
	os.WriteFile(filepath.Join(g.Mounts.Root, "root", "in-guest-only"), nil, 0o644)
	for _, o := range []sandbox.Options{{}, {TrustGuest: true}} {
		c := NewCommunicator(g.Mounts.Root, g.Guest(), o)
		var out bytes.Buffer
		cmd := &packersdk.RemoteCmd{Command: `. /etc/os-release; echo "$ID"; ls /root/in-guest-only; env; cat /proc/1/environ; exit 3`, Stdout: &out, Stderr: &out}
		if err := cmd.RunWithUi(context.Background(), c, packersdk.TestUi(t)); err != nil {
			t.Fatal(err)
		}
		if cmd.ExitStatus() != 3 || !strings.Contains(out.String(), "debian") || !strings.Contains(out.String(), "/root/in-guest-only") {
			t.Errorf("trust %v: exit %d, output %q", o.TrustGuest, cmd.ExitStatus(), out.String())
		}
		if strings.Contains(out.String(), "sentinel-4711") {
			t.Errorf("trust %v: the host's environment reached the guest: %q", o.TrustGuest, out.String())
		}
	}
}

// A program a provisioner leaves running in the sandbox is ended before the guest is
// released, though it lives in a mount namespace of its own (the host's unmount would not
// wait for it).
func TestSandboxedLeftoverKilledOnRelease(t *testing.T) {
	g := mountBare(t)
	c := NewCommunicator(g.Mounts.Root, g.Guest(), sandbox.Options{})
	cmd := &packersdk.RemoteCmd{Command: `sleep 300`}
	if err := c.Start(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if err := g.UnmountAll(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan int, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the sandboxed command still runs after the guest was released")
	}
}
