package chroot

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// NewMounts creates the mount directory and its missing parents 0700 (not 0755 under the
// usual umask): only root may reach a mounted guest.
func TestNewMountsPrivateDirs(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	base := t.TempDir()
	dir := filepath.Join(base, "chromogenic", "loop9")
	m, err := NewMounts(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Root != dir {
		t.Errorf("Root %s, want %s", m.Root, dir)
	}
	for _, p := range []string{dir, filepath.Dir(dir)} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %o, want 0700", p, fi.Mode().Perm())
		}
	}
}
