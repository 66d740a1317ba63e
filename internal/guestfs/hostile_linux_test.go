package guestfs

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	// The brief: hostile trees live under /var/tmp (t.TempDir honours TMPDIR).
	os.Setenv("TMPDIR", "/var/tmp")
	os.Exit(m.Run())
}

const (
	hostSecret = "HOST SECRET - must never change or be read\n"
	decoyAbs   = "in-root decoy reached through an absolute link\n"
	decoyRel   = "in-root decoy reached through .. or a relative link\n"
)

// hostile is a test fixture: base/host is the host canary directory, base/root the guest tree.
//
// Guest layout (paths relative to the root):
//
//	etc/fstab, etc/hostname                 ordinary files (neighbours)
//	var/log/syslog, var/log/keep.log        ordinary log files
//	var/log/hl.log                          HARD LINK to host/hl.txt
//	var/log/fifo.log, sock.log, chr.log, blk.log   FIFO, socket, char dev (1:3), block dev (7:0)
//	abs_file   -> <base>/host/secret.txt    absolute link out of the root (final component)
//	abs_dir    -> <base>/host               absolute link out of the root (intermediate)
//	abs_miss   -> <base>/host/sub/inner.txt absolute link whose in-root target is missing
//	rel_file   -> ../host/secret.txt        relative link escaping by one level
//	rel_dir    -> ../../../../../../../../host
//	dotdot     -> ../../../../../../../../../../..
//	loop1 <-> loop2                         symlink loop
//	procroot   -> /proc/self/root           magic link target
//	dangle     -> /etc/created-through-link dangling link with an existing in-root parent
//	<base>/host/secret.txt  (in root)       decoy for absolute links (decoyAbs)
//	host/secret.txt         (in root)       decoy for relative links (decoyRel)
type hostile struct {
	base, host, root string
	canary           map[string]string
}

func newHostile(t *testing.T) *hostile {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (mknod, chown, hard links to host files)")
	}
	base := t.TempDir()
	h := &hostile{base: base, host: filepath.Join(base, "host"), root: filepath.Join(base, "root")}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		t.Helper()
		must(os.MkdirAll(filepath.Dir(p), 0o755))
		must(os.WriteFile(p, []byte(s), 0o644))
	}
	// Host canary.
	write(filepath.Join(h.host, "secret.txt"), hostSecret)
	write(filepath.Join(h.host, "hl.txt"), hostSecret+"(hard link target)\n")
	write(filepath.Join(h.host, "sub", "inner.txt"), hostSecret+"(inner)\n")
	// Guest tree.
	g := func(p string) string { return filepath.Join(h.root, p) }
	write(g("etc/fstab"), "/dev/vda1 / ext4 defaults 0 1\n")
	write(g("etc/hostname"), "guest\n")
	write(g("var/log/syslog"), strings.Repeat("log line\n", 1000))
	write(g("var/log/keep.log"), "neighbour\n")
	write(g(filepath.Join(h.host, "secret.txt")), decoyAbs)
	write(g("host/secret.txt"), decoyRel)
	must(os.Link(filepath.Join(h.host, "hl.txt"), g("var/log/hl.log")))
	must(unix.Mkfifo(g("var/log/fifo.log"), 0o644))
	must(unix.Mknod(g("var/log/sock.log"), unix.S_IFSOCK|0o644, 0))
	must(unix.Mknod(g("var/log/chr.log"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3))))
	must(unix.Mknod(g("var/log/blk.log"), unix.S_IFBLK|0o644, int(unix.Mkdev(7, 0))))
	links := map[string]string{
		"abs_file": filepath.Join(h.host, "secret.txt"),
		"abs_dir":  h.host,
		"abs_miss": filepath.Join(h.host, "sub", "inner.txt"),
		"rel_file": "../host/secret.txt",
		"rel_dir":  "../../../../../../../../host",
		"dotdot":   "../../../../../../../../../../..",
		"loop1":    "loop2",
		"loop2":    "loop1",
		"procroot": "/proc/self/root",
		"dangle":   "/etc/created-through-link",
	}
	for name, target := range links {
		must(os.Symlink(target, g(name)))
	}
	h.canary = snapshot(t, base, h.root)
	t.Cleanup(func() { h.check(t) })
	return h
}

// snapshot records existence, type, mode, size, mtime, sha256 and link target of everything
// under base except the guest root (whose content the tests change on purpose).
func snapshot(t *testing.T, base, skip string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == skip {
			// Record the root directory itself (so its replacement would show) but not its content.
			fi, err := os.Lstat(p)
			if err != nil {
				return err
			}
			m[p] = fmt.Sprintf("root %v", fi.Mode())
			return fs.SkipDir
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		desc := fmt.Sprintf("%v size=%d mtime=%d.%09d uid=%d gid=%d ino=%d", fi.Mode(), fi.Size(),
			st.Mtim.Sec, st.Mtim.Nsec, st.Uid, st.Gid, st.Ino)
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" sha256=%x", sha256.Sum256(b))
		case fi.Mode()&fs.ModeSymlink != 0:
			tg, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + tg
		}
		m[p] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// check proves nothing on the host side changed: same set of paths, same content and metadata.
func (h *hostile) check(t *testing.T) {
	t.Helper()
	now := snapshot(t, h.base, h.root)
	for p, want := range h.canary {
		if got, ok := now[p]; !ok {
			t.Errorf("HOST CANARY %s disappeared", p)
		} else if got != want {
			t.Errorf("HOST CANARY %s changed:\n was %s\n now %s", p, want, got)
		}
	}
	for p := range now {
		if _, ok := h.canary[p]; !ok {
			t.Errorf("HOST CANARY: %s appeared outside the root", p)
		}
	}
}

func (h *hostile) g(p string) string { return filepath.Join(h.root, p) }

func (h *hostile) open(t *testing.T, opts Options) *Root {
	t.Helper()
	r, err := OpenRootWithOptions(h.root, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func readHost(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("host read %s: %v", p, err)
	}
	return string(b)
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
		return
	}
	var pe *fs.PathError
	var le *os.LinkError
	if !errors.As(err, &pe) && !errors.As(err, &le) {
		t.Errorf("%s: error %T is not a *fs.PathError", what, err)
	}
}

// noOpen watches dir with inotify and reports whether any of names was opened (O_PATH
// descriptors do not generate IN_OPEN, real opens do).
func noOpen(t *testing.T, dir string, names []string) func() {
	t.Helper()
	ifd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.InotifyAddWatch(ifd, dir, unix.IN_OPEN); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		defer unix.Close(ifd)
		buf := make([]byte, 64<<10)
		for {
			n, err := unix.Read(ifd, buf)
			if n <= 0 || err != nil {
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				name := string(bytes.TrimRight(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)], "\x00"))
				for _, w := range names {
					if name == w {
						t.Errorf("special file %s was opened", name)
					}
				}
				off += unix.SizeofInotifyEvent + int(ev.Len)
			}
		}
	}
}

// within runs f and fails the test if it blocks longer than d.
func within(t *testing.T, what string, d time.Duration, f func() error) error {
	t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	select {
	case err := <-ch:
		return err
	case <-time.After(d):
		t.Fatalf("%s blocked for more than %v", what, d)
		return nil
	}
}

func TestOpenRootAndClose(t *testing.T) {
	h := newHostile(t)
	r, err := OpenRoot(h.root)
	if err != nil {
		t.Fatal(err)
	}
	if r.Dir() != h.root {
		t.Errorf("Dir() = %q", r.Dir())
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = r.ReadFile("/etc/fstab")
	wantErr(t, "ReadFile after Close", err, os.ErrClosed)
	if _, err := OpenRoot(h.g("etc/fstab")); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("OpenRoot(file) = %v, want ENOTDIR", err)
	}
}

func TestReadStaysInRoot(t *testing.T) {
	h := newHostile(t)
	r := h.open(t, Options{})
	cases := []struct {
		p    string
		want string // content, or "" when an error is expected
		err  error
	}{
		{"/etc/fstab", "/dev/vda1 / ext4 defaults 0 1\n", nil},
		{"etc/hostname", "guest\n", nil},
		{"/abs_file", decoyAbs, nil},
		{"abs_dir/secret.txt", decoyAbs, nil},
		{"/rel_file", decoyRel, nil},
		{"rel_dir/secret.txt", decoyRel, nil},
		{"dotdot/host/secret.txt", decoyRel, nil},
		{"../../../../../../host/secret.txt", decoyRel, nil},
		{"/etc/../../../../host/secret.txt", decoyRel, nil},
		{"dotdot" + h.host + "/secret.txt", decoyAbs, nil},
		{"abs_miss", "", fs.ErrNotExist},
		{"abs_dir/sub/inner.txt", "", fs.ErrNotExist},
		{"loop1", "", syscall.ELOOP},
		{"loop1/x", "", syscall.ELOOP},
		{"procroot" + h.host + "/secret.txt", "", fs.ErrNotExist},
		{"var/log/fifo.log", "", ErrSpecialFile},
		{"var/log/sock.log", "", ErrSpecialFile},
		{"var/log/chr.log", "", ErrSpecialFile},
		{"var/log/blk.log", "", ErrSpecialFile},
	}
	done := noOpen(t, h.g("var/log"), []string{"fifo.log", "sock.log", "chr.log", "blk.log"})
	for _, c := range cases {
		var b []byte
		err := within(t, "ReadFile "+c.p, 5*time.Second, func() error {
			var err error
			b, err = r.ReadFile(c.p)
			return err
		})
		if strings.Contains(string(b), "HOST SECRET") {
			t.Fatalf("ReadFile(%q) returned host data", c.p)
		}
		if c.err != nil {
			wantErr(t, "ReadFile "+c.p, err, c.err)
			continue
		}
		if err != nil || string(b) != c.want {
			t.Errorf("ReadFile(%q) = %q, %v; want %q", c.p, b, err, c.want)
		}
		fi, err := r.Stat(c.p)
		if err != nil || fi.Size() != int64(len(c.want)) || !fi.Mode().IsRegular() {
			t.Errorf("Stat(%q) = %v, %v", c.p, fi, err)
		}
	}
	done()
	// Lstat and Readlink see the links themselves, verbatim.
	fi, err := r.Lstat("abs_file")
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 || fi.Name() != "abs_file" {
		t.Errorf("Lstat(abs_file) = %v, %v", fi, err)
	}
	if tg, err := r.Readlink("/abs_dir"); err != nil || tg != h.host {
		t.Errorf("Readlink(abs_dir) = %q, %v", tg, err)
	}
	_, err = r.Readlink("etc/fstab")
	wantErr(t, "Readlink(regular)", err, syscall.EINVAL)
	// Stat of the root and of ".." above it is the root itself.
	st1, _ := r.Stat("/")
	st2, _ := r.Stat("/../..")
	if st1 == nil || st2 == nil || st1.Sys().(*syscall.Stat_t).Ino != st2.Sys().(*syscall.Stat_t).Ino ||
		st1.Sys().(*syscall.Stat_t).Ino != inode(t, h.root).Ino {
		t.Errorf("Stat(/../..) is not the root")
	}
}

// TestProcMagicLinks mounts procfs inside the guest tree (as legacy chroot code did): links
// into /proc/self/... must not be followed.
func TestProcMagicLinks(t *testing.T) {
	h := newHostile(t)
	proc := h.g("proc")
	if err := os.Mkdir(proc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("proc", proc, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		t.Skipf("cannot mount proc: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(proc, unix.MNT_DETACH) })
	r := h.open(t, Options{})
	for _, p := range []string{
		"procroot" + h.host + "/secret.txt",
		"/proc/self/root" + h.host + "/secret.txt",
		"/proc/self/cwd",
		"/proc/self/fd/0",
		"/proc/thread-self/root/etc/hostname",
	} {
		_, err := r.ReadFile(p)
		wantErr(t, "ReadFile "+p, err, syscall.ELOOP)
		err = r.WriteFile(p, []byte("x"), 0o644)
		wantErr(t, "WriteFile "+p, err, syscall.ELOOP)
	}
	err := r.RemoveAll("/proc")
	wantErr(t, "RemoveAll(/proc) on a mounted procfs", err, ErrMountPoint)
	if !exists(filepath.Join(proc, "self")) {
		t.Error("procfs mount was emptied?")
	}
}

func TestWriteFileStaysInRoot(t *testing.T) {
	h := newHostile(t)
	r := h.open(t, Options{})
	type tc struct {
		p        string
		hostPath string // in-root file expected to hold the data
		err      error
	}
	cases := []tc{
		{"/abs_file", h.g(filepath.Join(h.host, "secret.txt")), nil},
		{"rel_file", h.g("host/secret.txt"), nil},
		{"abs_dir/new.txt", h.g(filepath.Join(h.host, "new.txt")), nil},
		{"rel_dir/new.txt", h.g("host/new.txt"), nil},
		{"../../../../../../host/new2.txt", h.g("host/new2.txt"), nil},
		{"dangle", h.g("etc/created-through-link"), nil},
		{"abs_miss", "", fs.ErrNotExist},
		{"loop1", "", syscall.ELOOP},
		{"procroot/x", "", fs.ErrNotExist},
		{"var/log/hl.log", "", ErrHardlink},
		{"var/log/fifo.log", "", ErrSpecialFile},
		{"var/log/sock.log", "", ErrSpecialFile},
		{"var/log/chr.log", "", ErrSpecialFile},
		{"var/log/blk.log", "", ErrSpecialFile},
		{"etc", "", syscall.EISDIR},
	}
	done := noOpen(t, h.g("var/log"), []string{"fifo.log", "sock.log", "chr.log", "blk.log", "hl.log"})
	for i, c := range cases {
		data := fmt.Sprintf("written %d\n", i)
		err := within(t, "WriteFile "+c.p, 5*time.Second, func() error {
			return r.WriteFile(c.p, []byte(data), 0o600)
		})
		if c.err != nil {
			wantErr(t, "WriteFile "+c.p, err, c.err)
			continue
		}
		if err != nil {
			t.Errorf("WriteFile(%q): %v", c.p, err)
			continue
		}
		if got := readHost(t, c.hostPath); got != data {
			t.Errorf("WriteFile(%q): in-root file %s holds %q", c.p, c.hostPath, got)
		}
	}
	done()
	if got := readHost(t, h.g("var/log/hl.log")); !strings.HasPrefix(got, hostSecret) {
		t.Errorf("hard link content changed: %q", got)
	}
	if got := readHost(t, h.g("etc/fstab")); got != "/dev/vda1 / ext4 defaults 0 1\n" {
		t.Errorf("neighbour changed: %q", got)
	}
	// The links themselves are still links.
	if fi, err := os.Lstat(h.g("abs_file")); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Error("abs_file is no longer a symlink")
	}
	// WriteFile keeps the inode, owner and mode of an existing file (in place).
	p := h.g("etc/hostname")
	must(t, os.Chown(p, 1234, 5678))
	must(t, os.Chmod(p, 0o640))
	before := inode(t, p)
	must(t, r.WriteFile("/etc/hostname", []byte("renamed\n"), 0o600))
	if after := inode(t, p); after.Ino != before.Ino || after.Uid != 1234 || after.Gid != 5678 || after.Mode&0o777 != 0o640 {
		t.Errorf("WriteFile did not write in place: %+v -> %+v", before, after)
	}
	if readHost(t, p) != "renamed\n" {
		t.Error("WriteFile content")
	}
}

func TestOpenFileFlags(t *testing.T) {
	h := newHostile(t)
	r := h.open(t, Options{})
	_, err := r.OpenFile("abs_file", os.O_RDONLY|unix.O_NOFOLLOW, 0)
	wantErr(t, "O_NOFOLLOW on symlink", err, syscall.ELOOP)
	_, err = r.OpenFile("dangle", os.O_WRONLY|os.O_CREATE|unix.O_NOFOLLOW, 0o644)
	wantErr(t, "O_CREAT|O_NOFOLLOW on dangling symlink", err, syscall.ELOOP)
	_, err = r.OpenFile("abs_file", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	wantErr(t, "O_EXCL on symlink", err, fs.ErrExist)
	_, err = r.OpenFile("etc", os.O_RDWR, 0)
	wantErr(t, "O_RDWR on dir", err, syscall.EISDIR)
	_, err = r.OpenFile("etc/fstab", os.O_RDONLY|unix.O_DIRECTORY, 0)
	wantErr(t, "O_DIRECTORY on file", err, syscall.ENOTDIR)
	_, err = r.OpenFile("var/log/hl.log", os.O_RDONLY|os.O_TRUNC, 0)
	wantErr(t, "O_TRUNC on hard link", err, ErrHardlink)

	// Reading a hard-linked file is allowed.
	if b, err := r.ReadFile("var/log/hl.log"); err != nil || !strings.HasPrefix(string(b), hostSecret) {
		t.Errorf("ReadFile(hard link) = %q, %v", b, err)
	}
	// Directories open read-only; Readdir (descriptor-relative) works.
	f, err := r.Open("/abs_dir")
	if err != nil {
		t.Fatal(err)
	}
	if f.Name() != "/abs_dir" {
		t.Errorf("Name() = %q", f.Name())
	}
	fis, err := f.Readdir(-1)
	f.Close()
	if err != nil || len(fis) != 1 || fis[0].Name() != "secret.txt" || fis[0].Size() != int64(len(decoyAbs)) {
		t.Errorf("Readdir(abs_dir) = %v, %v", fis, err)
	}
	// O_CREAT|O_EXCL creates in the in-root parent, following intermediate links in-root.
	f, err = r.OpenFile("abs_dir/excl.txt", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("excl")
	f.Close()
	if readHost(t, h.g(filepath.Join(h.host, "excl.txt"))) != "excl" {
		t.Error("O_EXCL create went elsewhere")
	}
	// O_APPEND is kept on re-open.
	f, err = r.OpenFile("etc/hostname", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("more\n")
	f.Close()
	if readHost(t, h.g("etc/hostname")) != "guest\nmore\n" {
		t.Error("O_APPEND")
	}
	// OpenPath with and without following.
	pf, err := r.OpenPath("abs_file", false)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := os.Readlink(ProcFdPath(pf))
	pf.Close()
	if err != nil || !strings.HasSuffix(tg, "/root/abs_file") {
		t.Errorf("OpenPath(nofollow) designates %q, %v", tg, err)
	}
	pf, err = r.OpenPath("abs_file", true)
	if err != nil {
		t.Fatal(err)
	}
	tg, _ = os.Readlink(ProcFdPath(pf))
	pf.Close()
	if tg != h.g(filepath.Join(h.host, "secret.txt")) {
		t.Errorf("OpenPath(follow) designates %q", tg)
	}
}

type stat = syscall.Stat_t

func inode(t *testing.T, p string) stat {
	t.Helper()
	var st stat
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestTruncate(t *testing.T) {
	h := newHostile(t)
	r := h.open(t, Options{})
	p := h.g("var/log/syslog")
	must(t, os.Chown(p, 1234, 5678))
	must(t, os.Chmod(p, 0o640))
	if err := unix.Lsetxattr(p, "user.guestfs", []byte("kept"), 0); err != nil {
		t.Logf("no user xattrs here: %v", err)
	}
	before := inode(t, p)
	must(t, r.Truncate("/var/log/syslog"))
	after := inode(t, p)
	if after.Size != 0 || after.Ino != before.Ino || after.Uid != 1234 || after.Gid != 5678 || after.Mode != before.Mode {
		t.Errorf("Truncate: %+v -> %+v", before, after)
	}
	buf := make([]byte, 16)
	if n, err := unix.Lgetxattr(p, "user.guestfs", buf); err == nil && string(buf[:n]) != "kept" {
		t.Errorf("xattr lost: %q", buf[:n])
	}
	if readHost(t, h.g("var/log/keep.log")) != "neighbour\n" {
		t.Error("neighbour changed")
	}

	cases := []struct {
		p   string
		err error
	}{
		{"abs_file", syscall.ELOOP},
		{"rel_file", syscall.ELOOP},
		{"loop1", syscall.ELOOP},
		{"abs_miss", syscall.ELOOP},
		{"abs_dir/sub/inner.txt", fs.ErrNotExist},
		{"var/log/hl.log", ErrHardlink},
		{"var/log/fifo.log", ErrSpecialFile},
		{"var/log/sock.log", ErrSpecialFile},
		{"var/log/chr.log", ErrSpecialFile},
		{"var/log/blk.log", ErrSpecialFile},
		{"etc", syscall.EISDIR},
		{"/", syscall.EISDIR},
	}
	done := noOpen(t, h.g("var/log"), []string{"fifo.log", "sock.log", "chr.log", "blk.log", "hl.log"})
	for _, c := range cases {
		err := within(t, "Truncate "+c.p, 5*time.Second, func() error { return r.Truncate(c.p) })
		wantErr(t, "Truncate "+c.p, err, c.err)
	}
	done()
	// Intermediate links are followed in-root: the decoy is emptied, not the host file.
	must(t, r.Truncate("abs_dir/secret.txt"))
	if readHost(t, h.g(filepath.Join(h.host, "secret.txt"))) != "" {
		t.Error("decoy not emptied")
	}
	if readHost(t, h.g("host/secret.txt")) != decoyRel {
		t.Error("other decoy changed")
	}
}

func TestHardlinkPolicy(t *testing.T) {
	h := newHostile(t)
	strict := h.open(t, Options{})
	loose := h.open(t, Options{AllowHardlinkWrites: true})
	// An in-root hard-link pair: refused by default, allowed when asked.
	a, b := h.g("var/log/a.log"), h.g("var/log/b.log")
	must(t, os.WriteFile(a, []byte("shared\n"), 0o644))
	must(t, os.Link(a, b))
	wantErr(t, "Truncate(pair)", strict.Truncate("var/log/a.log"), ErrHardlink)
	wantErr(t, "WriteFile(pair)", strict.WriteFile("var/log/b.log", nil, 0), ErrHardlink)
	wantErr(t, "Chmod(pair)", strict.Chmod("var/log/a.log", 0o600), ErrHardlink)
	wantErr(t, "Chown(pair)", strict.Chown("var/log/a.log", 1, 1), ErrHardlink)
	wantErr(t, "Lchown(pair)", strict.Lchown("var/log/a.log", 1, 1), ErrHardlink)
	wantErr(t, "Chtimes(pair)", strict.Chtimes("var/log/a.log", time.Time{}, time.Unix(1, 0)), ErrHardlink)
	if readHost(t, a) != "shared\n" {
		t.Fatal("refused op changed the file")
	}
	must(t, loose.Truncate("var/log/a.log"))
	if readHost(t, b) != "" {
		t.Error("allowed Truncate did not empty the pair")
	}
	must(t, loose.WriteFile("var/log/b.log", []byte("new\n"), 0))
	if readHost(t, a) != "new\n" {
		t.Error("allowed WriteFile")
	}
	// The hard link to the host file: every modification is refused; removal of the guest
	// name is allowed and leaves the host file intact (checked by the canary).
	for name, err := range map[string]error{
		"Truncate":  strict.Truncate("var/log/hl.log"),
		"WriteFile": strict.WriteFile("var/log/hl.log", []byte("x"), 0),
		"Chmod":     strict.Chmod("var/log/hl.log", 0o777),
		"Chown":     strict.Chown("var/log/hl.log", 4321, 4321),
		"Chtimes":   strict.Chtimes("var/log/hl.log", time.Unix(1, 0), time.Unix(1, 0)),
	} {
		wantErr(t, name+"(hard link to host)", err, ErrHardlink)
	}
	must(t, strict.Remove("var/log/hl.log"))
	if exists(h.g("var/log/hl.log")) {
		t.Error("hard link name not removed")
	}
}

func TestTruncateSparse10G(t *testing.T) {
	h := newHostile(t)
	r := h.open(t, Options{})
	p := h.g("var/log/huge.log")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	const size = 10 << 30
	must(t, f.Truncate(size))
	f.WriteAt([]byte("head\n"), 0)
	f.WriteAt([]byte("tail\n"), size-5)
	f.Close()
	before := inode(t, p)
	if before.Size != size {
		t.Fatal("sparse file size")
	}
	start := time.Now()
	must(t, r.Truncate("var/log/huge.log"))
	after := inode(t, p)
	if after.Size != 0 || after.Blocks != 0 || after.Ino != before.Ino {
		t.Errorf("sparse truncate: %+v", after)
	}
	t.Logf("truncated 10 GiB sparse file in %v", time.Since(start))
}

func TestRemove(t *testing.T) {
	h := newHostile(t)
	r := h.open(t, Options{})
	// Final symlinks are removed, never followed.
	for _, p := range []string{"abs_file", "/abs_dir", "rel_dir", "loop1", "procroot", "dangle"} {
		must(t, r.Remove(p))
		if exists(h.g(p)) {
			t.Errorf("Remove(%q) left it", p)
		}
	}
	if readHost(t, h.g(filepath.Join(h.host, "secret.txt"))) != decoyAbs {
		t.Error("decoy behind the removed link changed")
	}
	// Intermediate components resolve in-root: the decoy goes, the host file stays.
	must(t, r.Remove("dotdot"+h.host+"/secret.txt"))
	if exists(h.g(filepath.Join(h.host, "secret.txt"))) {
		t.Error("in-root decoy not removed")
	}
	must(t, r.Remove("../../../../host/secret.txt"))
	if exists(h.g("host/secret.txt")) {
		t.Error("in-root decoy (..) not removed")
	}
	wantErr(t, "Remove(abs_miss via dir)", r.Remove("abs_miss/x"), fs.ErrNotExist)
	// Empty directory, non-empty directory, root, "." and "..".
	must(t, os.Mkdir(h.g("emptydir"), 0o755))
	must(t, r.Remove("emptydir/"))
	if exists(h.g("emptydir")) {
		t.Error("empty dir not removed")
	}
	wantErr(t, "Remove(non-empty dir)", r.Remove("etc"), syscall.ENOTEMPTY)
	wantErr(t, "Remove(/)", r.Remove("/"), ErrRoot)
	wantErr(t, "Remove(etc/..)", r.Remove("etc/.."), syscall.EINVAL)
	wantErr(t, "Remove(.)", r.Remove("."), syscall.EINVAL)
	// Special files are just names.
	for _, p := range []string{"var/log/fifo.log", "var/log/sock.log", "var/log/chr.log", "var/log/blk.log"} {
		must(t, r.Remove(p))
	}
	if !exists(h.g("var/log/keep.log")) || !exists(h.g("etc/fstab")) {
		t.Error("neighbours removed")
	}
}

func TestRemoveAll(t *testing.T) {
	h := newHostile(t)
	r := h.open(t, Options{})
	// Make var hostile all the way down: links to host dirs, a hard link, specials, loops, a
	// deep chain, a directory with no permissions.
	must(t, os.Symlink(h.host, h.g("var/log/hostdir")))
	must(t, os.Symlink("../../../../../..", h.g("var/log/up")))
	must(t, os.Symlink("/", h.g("var/log/slash")))
	deep := h.g("var/deep")
	for i := 0; i < 50; i++ {
		deep = filepath.Join(deep, "d")
	}
	must(t, os.MkdirAll(deep, 0o755))
	must(t, os.Symlink(h.host+"/sub", filepath.Join(deep, "inner")))
	must(t, os.Mkdir(h.g("var/locked"), 0o755))
	must(t, os.WriteFile(h.g("var/locked/f"), nil, 0o644))
	must(t, os.Chmod(h.g("var/locked"), 0))

	must(t, r.RemoveAll("abs_dir")) // a link: removed itself
	if exists(h.g("abs_dir")) || !exists(h.g(filepath.Join(h.host, "secret.txt"))) {
		t.Error("RemoveAll(link) should remove only the link")
	}
	must(t, r.RemoveAll("/var"))
	if exists(h.g("var")) {
		t.Error("var survived")
	}
	if readHost(t, h.g("etc/fstab")) == "" || !exists(h.g("rel_dir")) {
		t.Error("neighbours removed")
	}
	must(t, r.RemoveAll("/var"))         // missing: nil like os.RemoveAll
	must(t, r.RemoveAll("abs_miss/x/y")) // missing parent: nil
	must(t, r.RemoveAll("dotdot/host"))  // in-root ../host
	if exists(h.g("host")) {
		t.Error("in-root host decoy dir survived")
	}
	wantErr(t, "RemoveAll(/)", r.RemoveAll("/"), ErrRoot)
	wantErr(t, "RemoveAll(..)", r.RemoveAll("etc/.."), syscall.EINVAL)
}
