package guestfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestRemoveAllHugeDirectory(t *testing.T) {
	h := newHostile(t)
	r := h.open(t, Options{})
	dir := h.g("var/spool/huge")
	must(t, os.MkdirAll(dir, 0o755))
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	must(t, err)
	const n = 100_000
	start := time.Now()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("entry-with-a-longish-name-%06d", i)
		var err error
		switch i % 100 {
		case 0:
			err = unix.Symlinkat(h.host, dfd, name) // link to the host canary dir
		case 1:
			err = unix.Linkat(unix.AT_FDCWD, filepath.Join(h.host, "secret.txt"), dfd, name, 0)
		case 2:
			err = unix.Mkdirat(dfd, name, 0o755)
		default:
			err = unix.Mknodat(dfd, name, unix.S_IFREG|0o644, 0)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	unix.Close(dfd)
	t.Logf("created %d entries in %v", n, time.Since(start))

	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	start = time.Now()
	must(t, r.RemoveAll("/var/spool/huge"))
	runtime.ReadMemStats(&m1)
	t.Logf("RemoveAll of %d entries: %v, %d mallocs, heap in use %d -> %d", n, time.Since(start),
		m1.Mallocs-m0.Mallocs, m0.HeapInuse, m1.HeapInuse)
	if exists(dir) {
		t.Error("huge dir survived")
	}
	if !exists(h.g("var/spool")) || !exists(h.g("var/log/keep.log")) {
		t.Error("neighbours removed")
	}
}

// TestRemoveAllMountPoints: a tmpfs and a bind mount of the HOST canary directory inside the
// tree. RemoveAll must neither enter nor empty them, must remove everything else it can, and
// fail with ErrMountPoint.
func TestRemoveAllMountPoints(t *testing.T) {
	h := newHostile(t)
	r := h.open(t, Options{})
	data := h.g("data")
	for _, d := range []string{"data/tmpfs", "data/bind", "data/sub/deeper"} {
		must(t, os.MkdirAll(h.g(d), 0o755))
	}
	must(t, os.WriteFile(h.g("data/plain.txt"), []byte("x"), 0o644))
	must(t, os.WriteFile(h.g("data/sub/deeper/f"), []byte("x"), 0o644))
	if err := unix.Mount("tmpfs", h.g("data/tmpfs"), "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(h.g("data/tmpfs"), unix.MNT_DETACH) })
	must(t, os.WriteFile(h.g("data/tmpfs/on-tmpfs"), []byte("keep me"), 0o644))
	// Same filesystem, same st_dev: only the mount check (RESOLVE_NO_XDEV) can see it.
	must(t, unix.Mount(h.host, h.g("data/bind"), "", unix.MS_BIND, ""))
	t.Cleanup(func() { unix.Unmount(h.g("data/bind"), unix.MNT_DETACH) })

	err := r.RemoveAll("/data")
	wantErr(t, "RemoveAll(data)", err, ErrMountPoint)
	if !exists(h.g("data/tmpfs/on-tmpfs")) {
		t.Error("tmpfs was emptied")
	}
	if !exists(h.g("data/bind/secret.txt")) {
		t.Error("bind-mounted host dir was emptied")
	}
	if exists(h.g("data/plain.txt")) || exists(h.g("data/sub")) {
		t.Error("RemoveAll should still remove what is not behind a mount")
	}
	wantErr(t, "RemoveAll(tmpfs itself)", r.RemoveAll("data/tmpfs"), ErrMountPoint)
	wantErr(t, "RemoveAll(bind itself)", r.RemoveAll("data/bind"), ErrMountPoint)
	// Remove of a mount point fails (EBUSY), contents untouched.
	if err := r.Remove("data/bind"); err == nil {
		t.Error("Remove(mount point) succeeded")
	}
	// Removing inside the mount through its own path is allowed (it is in-root).
	must(t, r.RemoveAll("data/tmpfs/on-tmpfs"))
	// NoXDev refuses to cross mounts at all.
	strict := h.open(t, Options{NoXDev: true})
	_, err = strict.ReadFile("data/bind/secret.txt")
	wantErr(t, "NoXDev ReadFile across a mount", err, syscall.EXDEV)
	must(t, unix.Unmount(h.g("data/bind"), 0))
	must(t, unix.Unmount(h.g("data/tmpfs"), 0))
	must(t, r.RemoveAll("/data"))
	if exists(data) {
		t.Error("data survived after unmount")
	}
}

func TestMkdirAll(t *testing.T) {
	h := newHostile(t)
	r := h.open(t, Options{})
	must(t, r.MkdirAll("/a/b/c", 0o750))
	if fi, err := os.Stat(h.g("a/b/c")); err != nil || !fi.IsDir() {
		t.Fatal("MkdirAll")
	}
	must(t, r.MkdirAll("a/b/c", 0o750)) // exists: nil
	// Through links: in-root.
	must(t, r.MkdirAll("abs_dir/newdir/x", 0o755))
	if !exists(h.g(filepath.Join(h.host, "newdir/x"))) {
		t.Error("MkdirAll through abs_dir went elsewhere")
	}
	must(t, r.MkdirAll("rel_dir/y/z", 0o755))
	must(t, r.MkdirAll("../../../../../w", 0o755))
	if !exists(h.g("host/y/z")) || !exists(h.g("w")) {
		t.Error("MkdirAll through .. went elsewhere")
	}
	wantErr(t, "MkdirAll over a file", r.MkdirAll("etc/fstab/x", 0o755), syscall.ENOTDIR)
	wantErr(t, "MkdirAll over dangling link", r.MkdirAll("abs_miss/x", 0o755), syscall.ENOTDIR)
	wantErr(t, "MkdirAll over loop", r.MkdirAll("loop1/x", 0o755), syscall.ELOOP)
	wantErr(t, "Mkdir existing link", r.Mkdir("abs_dir", 0o755), fs.ErrExist)
	must(t, r.Mkdir("/abs_dir/m", 0o700))
	if !exists(h.g(filepath.Join(h.host, "m"))) {
		t.Error("Mkdir through abs_dir")
	}
}

func TestRenameSymlinkChmod(t *testing.T) {
	h := newHostile(t)
	r := h.open(t, Options{})
	// Rename moves names; links are moved, not followed.
	must(t, r.Rename("abs_file", "etc/moved-link"))
	if tg, _ := os.Readlink(h.g("etc/moved-link")); tg != filepath.Join(h.host, "secret.txt") {
		t.Error("Rename did not move the link itself")
	}
	must(t, r.Rename("etc/hostname", "abs_dir/hostname")) // into the in-root decoy dir
	if readHost(t, h.g(filepath.Join(h.host, "hostname"))) != "guest\n" || exists(h.g("etc/hostname")) {
		t.Error("Rename through abs_dir")
	}
	must(t, r.Rename("rel_dir/secret.txt", "/etc/decoy"))
	if readHost(t, h.g("etc/decoy")) != decoyRel {
		t.Error("Rename from rel_dir")
	}
	err := r.Rename("etc/fstab", "/..")
	var le *os.LinkError
	if !errors.As(err, &le) || !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Rename to /.. = %v", err)
	}
	// Symlink stores the target verbatim; reading through it stays in-root.
	must(t, r.Symlink(filepath.Join(h.host, "secret.txt"), "/etc/new-link"))
	if tg, err := r.Readlink("etc/new-link"); err != nil || tg != filepath.Join(h.host, "secret.txt") {
		t.Errorf("Readlink = %q, %v", tg, err)
	}
	if b, _ := r.ReadFile("etc/new-link"); string(b) != decoyAbs {
		t.Errorf("read through new link: %q", b)
	}
	if err := r.Symlink("x", "etc/fstab"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Symlink over existing = %v", err)
	}
	// Chmod/Chown follow in-root; Lchown changes the link.
	must(t, r.Chmod("etc/new-link", 0o600))
	must(t, r.Chown("etc/new-link", 42, 43))
	if st := inode(t, h.g(filepath.Join(h.host, "secret.txt"))); st.Mode&0o777 != 0o600 || st.Uid != 42 || st.Gid != 43 {
		t.Errorf("Chmod/Chown through link: %+v", st)
	}
	must(t, r.Lchown("abs_dir", 44, 45))
	if st := inode(t, h.g("abs_dir")); st.Uid != 44 {
		t.Error("Lchown")
	}
	mt := time.Unix(1_000_000_000, 0)
	must(t, r.Chtimes("/etc/fstab", time.Time{}, mt))
	if fi, _ := r.Stat("etc/fstab"); !fi.ModTime().Equal(mt) {
		t.Error("Chtimes")
	}
	// Chmod of a FIFO does not open it (no blocking).
	must(t, within(t, "Chmod(fifo)", 5*time.Second, func() error { return r.Chmod("var/log/fifo.log", 0o600) }))
	if st := inode(t, h.g("var/log/fifo.log")); st.Mode&0o777 != 0o600 {
		t.Error("Chmod(fifo)")
	}
}

func TestGlobWalkReadDir(t *testing.T) {
	h := newHostile(t)
	r := h.open(t, Options{})
	must(t, os.WriteFile(h.g("var/log/.hidden.log"), nil, 0o644))
	must(t, os.Symlink("/etc", h.g("var/log/etc-link")))
	// Merged-/usr style literal link: /lib -> usr/lib.
	must(t, os.MkdirAll(h.g("usr/lib/udev/rules.d"), 0o755))
	must(t, os.WriteFile(h.g("usr/lib/udev/rules.d/75-net.rules"), nil, 0o644))
	must(t, os.Symlink("usr/lib", h.g("lib")))

	got, err := r.Glob("/var/log/*.log")
	must(t, err)
	want := []string{"/var/log/.hidden.log", "/var/log/blk.log", "/var/log/chr.log", "/var/log/fifo.log",
		"/var/log/hl.log", "/var/log/keep.log", "/var/log/sock.log"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Glob = %q", got)
	}
	got, _ = r.Glob("lib/udev/rules.d/*.rules")
	if !reflect.DeepEqual(got, []string{"lib/udev/rules.d/75-net.rules"}) {
		t.Errorf("Glob through literal link = %q", got)
	}
	// Wildcards never descend into symlinked directories (abs_dir, rel_dir, dotdot...).
	got, _ = r.Glob("/*/secret.txt")
	if !reflect.DeepEqual(got, []string{"/host/secret.txt"}) {
		t.Errorf("Glob(/*/secret.txt) = %q", got)
	}
	got, _ = r.Glob("/abs_*")
	if !reflect.DeepEqual(got, []string{"/abs_dir", "/abs_file", "/abs_miss"}) {
		t.Errorf("Glob(/abs_*) = %q", got)
	}
	if _, err := r.Glob("/var/[x"); !errors.Is(err, path.ErrBadPattern) {
		t.Errorf("bad pattern: %v", err)
	}

	var walked []string
	err = r.Walk("/", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		walked = append(walked, p)
		if p == "/usr" {
			return fs.SkipDir
		}
		if d.Type()&fs.ModeSymlink != 0 {
			if fi, err := d.Info(); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
				t.Errorf("Info(%s) = %v, %v", p, fi, err)
			}
		}
		return nil
	})
	must(t, err)
	for _, p := range walked {
		for _, l := range []string{"/abs_dir/", "/rel_dir/", "/dotdot/", "/lib/", "/var/log/etc-link/", "/procroot/", "/usr/"} {
			if strings.HasPrefix(p, l) {
				t.Errorf("Walk entered symlink or skipped dir: %s", p)
			}
		}
	}
	if walked[0] != "/" || !contains(walked, "/var/log/hl.log") || !contains(walked, h.host+"/secret.txt") {
		t.Errorf("Walk = %q", walked)
	}
	walked = nil
	must(t, r.Walk("abs_dir", func(p string, d fs.DirEntry, err error) error {
		walked = append(walked, p)
		return err
	}))
	if !reflect.DeepEqual(walked, []string{"abs_dir"}) {
		t.Errorf("Walk(link) = %q", walked)
	}
	ents, err := r.ReadDir("abs_dir")
	must(t, err)
	if len(ents) != 1 || ents[0].Name() != "secret.txt" {
		t.Fatalf("ReadDir(abs_dir) = %v", ents)
	}
	if fi, err := ents[0].Info(); err != nil || fi.Size() != int64(len(decoyAbs)) {
		t.Errorf("ReadDir Info = %v, %v", fi, err)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestConcurrentRename hammers ".." lookups while directories are renamed, which makes
// openat2(RESOLVE_IN_ROOT) return EAGAIN; lookups must retry and never escape.
func TestConcurrentRename(t *testing.T) {
	h := newHostile(t)
	r := h.open(t, Options{})
	must(t, os.MkdirAll(h.g("spin/a/b"), 0o755))
	must(t, os.WriteFile(h.g("spin/a/b/f"), []byte("spin"), 0o644))
	before := retries.Load()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			os.Rename(h.g("spin/a"), h.g("spin/c"))
			os.Rename(h.g("spin/c"), h.g("spin/a"))
		}
	}()
	deadline := time.Now().Add(700 * time.Millisecond)
	ok := 0
	for time.Now().Before(deadline) {
		b, err := r.ReadFile("spin/a/b/../../a/b/../../../../../spin/a/b/f")
		if err == nil {
			if string(b) != "spin" {
				t.Fatalf("read %q", b)
			}
			ok++
		} else if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("unexpected error under concurrent renames: %v", err)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d successful reads, %d EAGAIN/EINTR retries", ok, retries.Load()-before)
}
