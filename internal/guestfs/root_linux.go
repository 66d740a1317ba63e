package guestfs

import (
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Options tune a Root. The zero value is the safe default.
type Options struct {
	// AllowHardlinkWrites lets WriteFile, Truncate, OpenFile (for writing or O_TRUNC), Chmod,
	// Chown, Lchown and Chtimes modify a non-directory whose st_nlink is greater than one.
	// Only set it when the guest tree is on a filesystem that holds no host file (a mounted
	// guest filesystem); hard links cannot cross filesystems.
	AllowHardlinkWrites bool
	// NoXDev adds RESOLVE_NO_XDEV to every lookup: a guest path that crosses a mount point
	// below the root fails with EXDEV.
	NoXDev bool
}

// Root is a guest tree opened at a host directory. It holds an O_PATH|O_DIRECTORY descriptor
// of that directory; every guest path is resolved from it. A Root is safe for concurrent use.
type Root struct {
	dir     string
	opts    Options
	resolve uint64

	mu sync.Mutex
	fd int // -1 once closed
}

// OpenRoot opens the host directory dir as the root of a guest tree.
func OpenRoot(dir string) (*Root, error) {
	return OpenRootWithOptions(dir, Options{})
}

// OpenRootWithOptions is OpenRoot with explicit Options.
func OpenRootWithOptions(dir string, opts Options) (*Root, error) {
	// dir is a trusted host path: ordinary resolution is fine here.
	fd, err := openat2(unix.AT_FDCWD, dir, unix.O_PATH|unix.O_DIRECTORY, 0, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "openroot", Path: dir, Err: err}
	}
	r := &Root{dir: dir, opts: opts, fd: fd, resolve: resolveInRoot}
	if opts.NoXDev {
		r.resolve |= unix.RESOLVE_NO_XDEV
	}
	// Probe the exact flags used for every later lookup.
	probe, err := openat2(fd, "/", unix.O_PATH|unix.O_DIRECTORY, 0, r.resolve)
	if err != nil {
		closeFd(fd)
		if err == unix.EINVAL || err == unix.E2BIG {
			err = ErrUnsupported
		}
		return nil, &fs.PathError{Op: "openroot", Path: dir, Err: err}
	}
	closeFd(probe)
	// Re-opens go through /proc/self/fd; make sure that is procfs.
	var sfs unix.Statfs_t
	if err := unix.Statfs("/proc/self/fd", &sfs); err != nil || sfs.Type != unix.PROC_SUPER_MAGIC {
		closeFd(fd)
		if err == nil {
			err = syscall.ENODEV
		}
		return nil, &fs.PathError{Op: "openroot", Path: "/proc/self/fd (procfs required)", Err: err}
	}
	return r, nil
}

// Close closes the root descriptor. Calls in flight keep working on their own duplicate;
// later calls fail with os.ErrClosed.
func (r *Root) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fd < 0 {
		return &fs.PathError{Op: "close", Path: r.dir, Err: os.ErrClosed}
	}
	err := unix.Close(r.fd)
	r.fd = -1
	if err != nil {
		return &fs.PathError{Op: "close", Path: r.dir, Err: err}
	}
	return nil
}

// Dir returns the host path the root was opened from.
func (r *Root) Dir() string { return r.dir }

// acquire returns a private duplicate of the root descriptor, so a concurrent Close can never
// make an operation use a recycled descriptor number. The caller closes it.
func (r *Root) acquire() (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fd < 0 {
		return -1, os.ErrClosed
	}
	return unix.FcntlInt(uintptr(r.fd), unix.F_DUPFD_CLOEXEC, 0)
}

// guestName is the cleaned absolute guest path used to name returned files.
func guestName(p string) string { return path.Clean("/" + p) }

// baseName is the FileInfo name of guest path p.
func baseName(p string) string { return path.Base(guestName(p)) }

// joinGuest appends name to a guest path without lexical cleaning (a ".." after a symlink
// means something else than path.Clean thinks).
func joinGuest(dir, name string) string {
	if dir == "" || dir == "." {
		return name
	}
	if strings.HasSuffix(dir, "/") {
		return dir + name
	}
	return dir + "/" + name
}

// splitParent splits guest path p into its parent (to resolve in-root) and final name.
// The final name is a single component other than "." and "..".
func splitParent(p string) (dir, name string, err error) {
	if p == "" {
		return "", "", syscall.ENOENT
	}
	if strings.IndexByte(p, 0) >= 0 {
		return "", "", syscall.EINVAL
	}
	q := strings.TrimRight(p, "/")
	if q == "" {
		return "", "", ErrRoot
	}
	i := strings.LastIndexByte(q, '/')
	dir, name = q[:i+1], q[i+1:]
	if dir == "" {
		dir = "."
	}
	if name == "." || name == ".." {
		return "", "", syscall.EINVAL
	}
	return dir, name, nil
}

// lookup opens guest path p as O_PATH (plus extra flags such as O_NOFOLLOW or O_DIRECTORY).
func (r *Root) lookup(rfd int, p string, extra int) (int, error) {
	if p == "" {
		return -1, syscall.ENOENT
	}
	return openat2(rfd, p, unix.O_PATH|extra, 0, r.resolve)
}

// parent opens the in-root parent directory of p (O_PATH) and returns it with the final name.
func (r *Root) parent(rfd int, p string) (int, string, error) {
	dir, name, err := splitParent(p)
	if err != nil {
		return -1, "", err
	}
	pfd, err := r.lookup(rfd, dir, unix.O_DIRECTORY)
	if err != nil {
		return -1, "", err
	}
	return pfd, name, nil
}

// checkModify applies the hard-link policy to an inode about to be modified.
func (r *Root) checkModify(st *syscall.Stat_t) error {
	if !isType(st, unix.S_IFDIR) && st.Nlink > 1 && !r.opts.AllowHardlinkWrites {
		return ErrHardlink
	}
	return nil
}

// stat implements Stat and Lstat.
func (r *Root) stat(op, p string, extra int) (fs.FileInfo, error) {
	rfd, err := r.acquire()
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: p, Err: err}
	}
	defer closeFd(rfd)
	fd, err := r.lookup(rfd, p, extra)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: p, Err: err}
	}
	defer closeFd(fd)
	st, err := fstat(fd)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: p, Err: err}
	}
	return &fileInfo{name: baseName(p), st: st}, nil
}

// Stat returns the FileInfo of p, following symlinks in-root. Sys() is *syscall.Stat_t.
func (r *Root) Stat(p string) (fs.FileInfo, error) { return r.stat("stat", p, 0) }

// Lstat returns the FileInfo of p without following the final component.
func (r *Root) Lstat(p string) (fs.FileInfo, error) { return r.stat("lstat", p, unix.O_NOFOLLOW) }

// Readlink returns the target of symlink p (not followed). The target is guest data: resolve
// it only through this Root.
func (r *Root) Readlink(p string) (string, error) {
	rfd, err := r.acquire()
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: p, Err: err}
	}
	defer closeFd(rfd)
	fd, err := r.lookup(rfd, p, unix.O_NOFOLLOW)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: p, Err: err}
	}
	defer closeFd(fd)
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		var n int
		err := retryEINTR(func() error {
			var err error
			n, err = unix.Readlinkat(fd, "", buf)
			return err
		})
		if err == unix.ENOENT {
			err = unix.EINVAL // readlinkat(fd, "") on a non-symlink
		}
		if err != nil {
			return "", &fs.PathError{Op: "readlink", Path: p, Err: err}
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// OpenPath returns an O_PATH descriptor of p. With follow=false a final symlink is not
// followed (the descriptor designates the link). The file is named by the guest path; use
// ProcFdPath to hand it to mount(2) or other path-taking host tools.
func (r *Root) OpenPath(p string, follow bool) (*os.File, error) {
	rfd, err := r.acquire()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	defer closeFd(rfd)
	extra := 0
	if !follow {
		extra = unix.O_NOFOLLOW
	}
	fd, err := r.lookup(rfd, p, extra)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), guestName(p)), nil
}

// ProcFdPath returns "/proc/self/fd/N" for f, a host path designating exactly f's inode (for
// example a mount target obtained with OpenPath). It is valid while f is open.
func ProcFdPath(f *os.File) string { return procFd(int(f.Fd())) }

// withInode resolves p (following the final symlink unless nofollow), applies the hard-link
// policy and runs fn on the O_PATH descriptor and its stat.
func (r *Root) withInode(op, p string, nofollow bool, fn func(fd int, st *syscall.Stat_t) error) error {
	rfd, err := r.acquire()
	if err != nil {
		return &fs.PathError{Op: op, Path: p, Err: err}
	}
	defer closeFd(rfd)
	extra := 0
	if nofollow {
		extra = unix.O_NOFOLLOW
	}
	fd, err := r.lookup(rfd, p, extra)
	if err != nil {
		return &fs.PathError{Op: op, Path: p, Err: err}
	}
	defer closeFd(fd)
	st, err := fstat(fd)
	if err == nil {
		err = r.checkModify(&st)
	}
	if err == nil {
		err = retryEINTR(func() error { return fn(fd, &st) })
	}
	if err != nil {
		return &fs.PathError{Op: op, Path: p, Err: err}
	}
	return nil
}

// Chmod changes the mode of p, following symlinks in-root (symlinks have no mode on Linux).
func (r *Root) Chmod(p string, mode fs.FileMode) error {
	return r.withInode("chmod", p, false, func(fd int, _ *syscall.Stat_t) error {
		// fchmod does not work on O_PATH descriptors; the magic link designates the checked
		// inode, which is not a symlink since we followed it.
		return unix.Fchmodat(unix.AT_FDCWD, procFd(fd), sysMode(mode), 0)
	})
}

// Chown changes the owner of p, following symlinks in-root. -1 keeps a value.
func (r *Root) Chown(p string, uid, gid int) error {
	return r.withInode("chown", p, false, func(fd int, _ *syscall.Stat_t) error {
		return unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH)
	})
}

// Lchown changes the owner of p without following a final symlink.
func (r *Root) Lchown(p string, uid, gid int) error {
	return r.withInode("lchown", p, true, func(fd int, _ *syscall.Stat_t) error {
		return unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW)
	})
}

// Chtimes changes the access and modification times of p, following symlinks in-root.
// A zero time.Time leaves that time unchanged.
func (r *Root) Chtimes(p string, atime, mtime time.Time) error {
	ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
	if !atime.IsZero() {
		ts[0] = unix.NsecToTimespec(atime.UnixNano())
	}
	if !mtime.IsZero() {
		ts[1] = unix.NsecToTimespec(mtime.UnixNano())
	}
	return r.withInode("chtimes", p, false, func(fd int, _ *syscall.Stat_t) error {
		return unix.UtimesNanoAt(unix.AT_FDCWD, procFd(fd), ts, 0)
	})
}
