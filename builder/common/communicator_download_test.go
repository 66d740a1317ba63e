package common

import (
	"os"
	"path/filepath"
	"testing"
)

// A host symlink planted in dst, where DownloadDir will write a guest file of the same name
// or enter a guest directory of the same name, is never followed: the host canary file and
// the canary directory keep their content, and the guest files land in dst.
func TestDownloadDirNeverFollowsHostSymlinks(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "data", "sub"), 0o755)
	os.WriteFile(filepath.Join(root, "data", "motd"), []byte("guest motd"), 0o644)
	os.WriteFile(filepath.Join(root, "data", "sub", "x"), []byte("guest x"), 0o644)
	os.WriteFile(filepath.Join(root, "data", "old"), []byte("guest old"), 0o644)
	c := newComm(t, root)

	host := t.TempDir()
	canary := filepath.Join(host, "canary")
	os.WriteFile(canary, []byte("HOST CANARY"), 0o644)
	canaryDir := filepath.Join(host, "dir")
	os.Mkdir(canaryDir, 0o755)

	dst := t.TempDir()
	os.Symlink(canary, filepath.Join(dst, "motd"))   // file over a planted link
	os.Symlink(canaryDir, filepath.Join(dst, "sub")) // directory over a planted link
	os.WriteFile(filepath.Join(dst, "old"), []byte("previous download"), 0o644)

	err := c.DownloadDir("/data", dst, nil)
	if b, _ := os.ReadFile(canary); string(b) != "HOST CANARY" {
		t.Errorf("host canary written through a symlink in dst: %q", b)
	}
	if e, _ := os.ReadDir(canaryDir); len(e) != 0 {
		t.Errorf("files written into the host canary directory through a symlink in dst: %v", e)
	}
	if err == nil {
		t.Fatalf("downloading a guest directory onto a symlink in dst succeeded")
	}
	t.Logf("refused: %v", err)
	if b, _ := os.ReadFile(filepath.Join(dst, "motd")); string(b) != "guest motd" {
		t.Errorf("dst/motd = %q, want the guest file (the planted link replaced)", b)
	}
	if fi, err := os.Lstat(filepath.Join(dst, "motd")); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Errorf("dst/motd: %v %v, want a regular 0600 file", fi, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "old")); string(b) != "guest old" {
		t.Errorf("dst/old = %q, want the guest file replacing the previous one", b)
	}
}

func TestDownloadDirCopiesTree(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "data", "a", "b"), 0o755)
	os.MkdirAll(filepath.Join(root, "data", "c"), 0o755)
	os.WriteFile(filepath.Join(root, "data", "a", "b", "deep"), []byte("deep"), 0o644)
	os.WriteFile(filepath.Join(root, "data", "c", "file"), []byte("c"), 0o644)
	os.WriteFile(filepath.Join(root, "data", "skip.log"), []byte("s"), 0o644)
	os.Symlink("/etc/passwd", filepath.Join(root, "data", "link"))
	c := newComm(t, root)
	dst := filepath.Join(t.TempDir(), "new")
	if err := c.DownloadDir("/data", dst, []string{"*.log"}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"a/b/deep": "deep", "c/file": "c"} {
		if b, err := os.ReadFile(filepath.Join(dst, p)); err != nil || string(b) != want {
			t.Errorf("%s = %q %v", p, b, err)
		}
	}
	if l, err := os.Readlink(filepath.Join(dst, "link")); err != nil || l != "/etc/passwd" {
		t.Errorf("link = %q %v", l, err)
	}
	if _, err := os.Lstat(filepath.Join(dst, "skip.log")); !os.IsNotExist(err) {
		t.Errorf("excluded file downloaded: %v", err)
	}
	if fi, _ := os.Stat(filepath.Join(dst, "a")); fi == nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("directory a: mode %v, want 0700", fi.Mode())
	}
}
