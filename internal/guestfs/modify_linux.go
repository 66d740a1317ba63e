package guestfs

import (
	"io/fs"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// atParent resolves the in-root parent of p and runs fn(parentfd, name).
func (r *Root) atParent(op, p string, fn func(pfd int, name string) error) error {
	rfd, err := r.acquire()
	if err != nil {
		return &fs.PathError{Op: op, Path: p, Err: err}
	}
	defer closeFd(rfd)
	pfd, name, err := r.parent(rfd, p)
	if err != nil {
		return &fs.PathError{Op: op, Path: p, Err: err}
	}
	defer closeFd(pfd)
	if err := retryEINTR(func() error { return fn(pfd, name) }); err != nil {
		return &fs.PathError{Op: op, Path: p, Err: err}
	}
	return nil
}

// Mkdir creates directory p in its in-root parent (a final symlink is never followed:
// an existing name fails with EEXIST).
func (r *Root) Mkdir(p string, perm os.FileMode) error {
	return r.atParent("mkdir", p, func(pfd int, name string) error {
		return unix.Mkdirat(pfd, name, sysMode(perm))
	})
}

// MkdirAll creates p and any missing parents, like os.MkdirAll. Existing components are
// resolved in-root (a symlink to a directory is followed, in-root); an existing component that
// is not a directory, or a dangling symlink, is an error (ENOTDIR).
func (r *Root) MkdirAll(p string, perm os.FileMode) error {
	rfd, err := r.acquire()
	if err != nil {
		return &fs.PathError{Op: "mkdir", Path: p, Err: err}
	}
	defer closeFd(rfd)
	if p == "" || strings.IndexByte(p, 0) >= 0 {
		return &fs.PathError{Op: "mkdir", Path: p, Err: syscall.ENOENT}
	}
	prefix := ""
	if strings.HasPrefix(p, "/") {
		prefix = "/"
	}
	for _, c := range strings.Split(p, "/") {
		if c == "" || c == "." {
			continue
		}
		parent := prefix
		if parent == "" {
			parent = "."
		}
		prefix = joinGuest(prefix, c)
		if err := r.mkdirStep(rfd, parent, prefix, c, perm); err != nil {
			return &fs.PathError{Op: "mkdir", Path: prefix, Err: err}
		}
	}
	return nil
}

// mkdirStep makes sure guest path prefix (= parent + "/" + name) is a directory.
func (r *Root) mkdirStep(rfd int, parent, prefix, name string, perm os.FileMode) error {
	for attempt := 0; attempt < 2; attempt++ {
		fd, err := r.lookup(rfd, prefix, 0)
		if err == nil {
			st, err := fstat(fd)
			closeFd(fd)
			if err != nil {
				return err
			}
			if !isType(&st, unix.S_IFDIR) {
				return syscall.ENOTDIR
			}
			return nil
		}
		if err != unix.ENOENT || name == ".." || attempt > 0 {
			if err == unix.ENOENT && attempt > 0 {
				err = syscall.ENOTDIR // the name exists but does not resolve: dangling symlink
			}
			return err
		}
		pfd, err := r.lookup(rfd, parent, unix.O_DIRECTORY)
		if err != nil {
			return err
		}
		err = retryEINTR(func() error { return unix.Mkdirat(pfd, name, sysMode(perm)) })
		closeFd(pfd)
		if err == nil {
			return nil
		}
		if err != unix.EEXIST {
			return err
		}
	}
	return syscall.ENOTDIR
}

// Remove removes the name p with unlinkat on its in-root parent: a file, a symlink (never
// followed) or an empty directory.
func (r *Root) Remove(p string) error {
	return r.atParent("remove", p, func(pfd int, name string) error {
		err := unix.Unlinkat(pfd, name, 0)
		if err == unix.EISDIR {
			err = unix.Unlinkat(pfd, name, unix.AT_REMOVEDIR)
		}
		return err
	})
}

// Rename renames oldp to newp (names only: neither final component is followed), like
// os.Rename. It returns an *os.LinkError, as os.Rename does.
func (r *Root) Rename(oldp, newp string) error {
	rfd, err := r.acquire()
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldp, New: newp, Err: err}
	}
	defer closeFd(rfd)
	opfd, oname, err := r.parent(rfd, oldp)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldp, New: newp, Err: err}
	}
	defer closeFd(opfd)
	npfd, nname, err := r.parent(rfd, newp)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldp, New: newp, Err: err}
	}
	defer closeFd(npfd)
	err = retryEINTR(func() error { return unix.Renameat(opfd, oname, npfd, nname) })
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldp, New: newp, Err: err}
	}
	return nil
}

// Symlink creates symlink p with the given target (stored verbatim; it is guest data and will
// be resolved in-root by this package). It returns an *os.LinkError, as os.Symlink does.
func (r *Root) Symlink(target, p string) error {
	err := r.atParent("symlink", p, func(pfd int, name string) error {
		return unix.Symlinkat(target, pfd, name)
	})
	if pe, ok := err.(*fs.PathError); ok {
		return &os.LinkError{Op: "symlink", Old: target, New: p, Err: pe.Err}
	}
	return err
}

// RemoveAll removes p and everything below it, like os.RemoveAll (a missing p is not an
// error). Intermediate components of p are resolved in-root; nothing below is ever followed:
// every name is opened relative to its parent descriptor with RESOLVE_BENEATH|
// RESOLVE_NO_SYMLINKS|RESOLVE_NO_XDEV and O_NOFOLLOW. A directory that is a mount point or on
// another filesystem (st_dev differs from p's parent) is not entered nor emptied: RemoveAll
// removes what else it can and fails with ErrMountPoint. Directories are read in batches with
// getdents64, so huge directories are not loaded in memory at once. The root itself ("/")
// cannot be removed (ErrRoot).
func (r *Root) RemoveAll(p string) error {
	if p == "" {
		return nil
	}
	rfd, err := r.acquire()
	if err != nil {
		return &fs.PathError{Op: "removeall", Path: p, Err: err}
	}
	defer closeFd(rfd)
	pfd, name, err := r.parent(rfd, p)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return &fs.PathError{Op: "removeall", Path: p, Err: err}
	}
	defer closeFd(pfd)
	pst, err := fstat(pfd)
	if err != nil {
		return &fs.PathError{Op: "removeall", Path: p, Err: err}
	}
	return r.removeEntry(pfd, uint64(pst.Dev), name, unix.DT_UNKNOWN, p, 0)
}

// removeEntry removes name in directory dfd (which is on device dev); gpath names it for errors.
func (r *Root) removeEntry(dfd int, dev uint64, name string, typ uint8, gpath string, depth int) error {
	fail := func(op string, err error) error { return &fs.PathError{Op: op, Path: gpath, Err: err} }
	typ, err := dtype(dfd, name, typ)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return fail("lstat", err)
	}
	if typ != unix.DT_DIR {
		err := retryEINTR(func() error { return unix.Unlinkat(dfd, name, 0) })
		if err == nil || err == unix.ENOENT {
			return nil
		}
		if err != unix.EISDIR {
			return fail("unlinkat", err)
		}
		// Replaced by a directory meanwhile: handle it as one.
	}
	if depth >= maxDepth {
		return fail("removeall", syscall.ELOOP)
	}
	cfd, err := openat2(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0, resolveChild|unix.RESOLVE_NO_XDEV)
	switch err {
	case nil:
	case unix.ENOENT:
		return nil
	case unix.EXDEV:
		return fail("removeall", ErrMountPoint)
	case unix.ENOTDIR, unix.ELOOP:
		// Replaced by a non-directory meanwhile: remove the name itself.
		if err := retryEINTR(func() error { return unix.Unlinkat(dfd, name, 0) }); err != nil && err != unix.ENOENT {
			return fail("unlinkat", err)
		}
		return nil
	default:
		return fail("openat2", err)
	}
	st, err := fstat(cfd)
	if err != nil {
		closeFd(cfd)
		return fail("fstat", err)
	}
	if uint64(st.Dev) != dev {
		closeFd(cfd)
		return fail("removeall", ErrMountPoint)
	}
	err = r.removeContents(cfd, dev, gpath, depth+1)
	closeFd(cfd)
	if err != nil {
		return err
	}
	err = retryEINTR(func() error { return unix.Unlinkat(dfd, name, unix.AT_REMOVEDIR) })
	if err != nil && err != unix.ENOENT {
		return fail("unlinkat", err)
	}
	return nil
}

// removeContents empties directory fd. It streams getdents64 batches, removing each batch
// before reading the next; since removals may make the directory skip entries, it rewinds and
// makes further passes until a pass sees nothing (done) or removes nothing (stuck: the first
// error is returned).
func (r *Root) removeContents(fd int, dev uint64, gpath string, depth int) error {
	buf := make([]byte, 16<<10)
	var ents []dirent
	var firstErr error
	for {
		if _, err := unix.Seek(fd, 0, 0); err != nil {
			return &fs.PathError{Op: "seek", Path: gpath, Err: err}
		}
		seen, removed := 0, 0
		for {
			var err error
			ents, err = getdents(fd, buf, ents)
			if err != nil {
				return &fs.PathError{Op: "getdents", Path: gpath, Err: err}
			}
			if len(ents) == 0 {
				break
			}
			for _, e := range ents {
				seen++
				if err := r.removeEntry(fd, dev, e.name, e.typ, joinGuest(gpath, e.name), depth); err != nil {
					if firstErr == nil {
						firstErr = err
					}
				} else {
					removed++
				}
			}
		}
		if seen == 0 || removed == 0 {
			return firstErr
		}
	}
}
