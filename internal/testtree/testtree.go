//go:build linux

// Package testtree is for tests only: helpers over a directory tree on the host that a test
// makes and then hands to code under test as a guest root (internal/clean, internal/retarget).
// It writes files, snapshots every path (type, mode, owner, inode, size, mtime, content hash,
// xattrs, link target) and diffs snapshots, so that a test can prove what changed and what
// did not. It trusts the tree it is given (the test made it) and fails the test on any error.
package testtree

import (
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

	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
)

// NeedRoot skips the test unless it runs as root; why says what root is needed for.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (" + why + ")")
	}
}

// Write writes a host file with content and mode (chmod'ed: the umask does not apply),
// creating its parents.
func Write(t testing.TB, p, content string, mode os.FileMode) {
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

// Must fails the test on err.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Read returns the content of a file, failing the test if it cannot be read.
func Read(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}

// Exists tells whether p exists (a dangling symlink does).
func Exists(p string) bool { _, err := os.Lstat(p); return err == nil }

// Entry describes one path of a snapshot: its type (file, dir, symlink, fifo, socket,
// device) and everything else that Snapshot records.
type Entry struct {
	Type, Desc string
}

// Snapshot records every path under base: type, mode, owner, inode, size, mtime, sha256
// (regular files up to 256 MiB; bigger ones by size only), xattrs and link targets. Paths
// are keyed from "/" (base itself). Directory mtimes and sizes are left out (they change
// when entries come and go).
func Snapshot(t testing.TB, base string) map[string]Entry { return SnapshotSkip(t, base, "") }

// SnapshotSkip is Snapshot without the content of directory skip (recorded as "skipped").
func SnapshotSkip(t testing.TB, base, skip string) map[string]Entry {
	t.Helper()
	m := map[string]Entry{}
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == skip {
			m["/"+strings.TrimPrefix(strings.TrimPrefix(p, base), "/")] = Entry{Type: "dir", Desc: "skipped"}
			return fs.SkipDir
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
			desc += " xattrs=" + Xattrs(p)
		}
		m[rel] = Entry{Type: guestfs.TypeName(fi.Mode()), Desc: desc}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Xattrs returns the extended attributes of p (not followed if a symlink) as sorted
// name=hex pairs, "" when there are none.
func Xattrs(p string) string {
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

// Diff returns the paths that appeared, disappeared or changed between two snapshots, sorted.
func Diff(a, b map[string]Entry) (changed []string) {
	for p, ea := range a {
		if eb, ok := b[p]; !ok || eb != ea {
			changed = append(changed, p)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			changed = append(changed, p)
		}
	}
	sort.Strings(changed)
	return changed
}

// OpenRoot opens dir as a guest root (guestfs.OpenRoot), closed when the test ends.
func OpenRoot(t testing.TB, dir string) *guestfs.Root {
	t.Helper()
	r, err := guestfs.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
