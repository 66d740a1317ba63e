package retarget

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/clean"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
)

// Test helpers, as in internal/clean's tests.

func TestMain(m *testing.M) {
	// Disk image copies live under /var/tmp (t.TempDir honours TMPDIR).
	os.Setenv("TMPDIR", "/var/tmp")
	os.Exit(m.Run())
}

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (owners, hard links, mounts, chroot)")
	}
}

// mk writes a host file (test side: the tree is ours), creating parents.
func mk(t testing.TB, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func readT(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

// snapshotTree records every path under base: mode, owner, inode, size, mtime, sha256
// (regular files up to 256 MiB; bigger ones by size only), xattrs and link targets.
// Directory mtimes and sizes are left out (they change when entries come and go).
func snapshotTree(t testing.TB, base string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(p, base), "/")
		if rel != "/" {
			rel = filepath.Clean(rel)
		}
		desc := fmt.Sprintf("%v uid=%d gid=%d ino=%d", fi.Mode(), st.Uid, st.Gid, st.Ino)
		switch {
		case fi.Mode().IsRegular():
			desc += fmt.Sprintf(" size=%d mtime=%d.%d", fi.Size(), st.Mtim.Sec, st.Mtim.Nsec)
			if fi.Size() > 0 && fi.Size() <= 256<<20 {
				f, err := os.Open(p)
				if err != nil {
					return err
				}
				h := sha256.New()
				_, err = io.Copy(h, f)
				f.Close()
				if err != nil {
					return err
				}
				desc += fmt.Sprintf(" sha=%x", h.Sum(nil))
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			tg, _ := os.Readlink(p)
			desc += " -> " + tg
		case fi.Mode()&fs.ModeDevice != 0:
			desc += fmt.Sprintf(" rdev=%d", st.Rdev)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			desc += " xattrs=" + xattrs(p)
		}
		m[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func xattrs(p string) string {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return ""
	}
	names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
	sort.Strings(names)
	var out []string
	for _, name := range names {
		v := make([]byte, 64<<10)
		vn, err := unix.Lgetxattr(p, name, v)
		if err != nil {
			continue
		}
		out = append(out, fmt.Sprintf("%s=%x", name, v[:vn]))
	}
	return strings.Join(out, ",")
}

func openRoot(t testing.TB, dir string) *guestfs.Root {
	t.Helper()
	r, err := guestfs.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// runClean runs the cleaning engine (with this package's xen-to-kvm op registered).
func runClean(t testing.TB, r *guestfs.Root, opts clean.Options) *clean.Report {
	t.Helper()
	rep, err := clean.Run(context.Background(), r, opts)
	if rep == nil {
		t.Fatalf("Run: %v", err)
	}
	if err != nil {
		t.Errorf("Run: %v", err)
	}
	return rep
}
