package guestfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Open opens p read-only, following symlinks (the final one included) in-root. Only regular
// files and directories are opened; FIFOs, sockets and devices fail with ErrSpecialFile
// without being opened.
func (r *Root) Open(p string) (*os.File, error) {
	return r.OpenFile(p, os.O_RDONLY, 0)
}

// OpenFile is os.OpenFile for a guest path. The final symlink is followed in-root unless flag
// has O_NOFOLLOW (then a final symlink fails with ELOOP). With O_CREAT a missing file is
// created in its in-root parent (through a dangling final symlink, at its in-root target).
// Existing files are checked before they are opened: only regular files and, read-only,
// directories are accepted (ErrSpecialFile otherwise), and opening for writing or with
// O_TRUNC applies the hard-link policy (ErrHardlink). O_TRUNC is applied with ftruncate
// after those checks. O_PATH is refused: use OpenPath.
func (r *Root) OpenFile(p string, flag int, perm os.FileMode) (*os.File, error) {
	rfd, err := r.acquire()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	defer closeFd(rfd)
	fd, err := r.openFile(rfd, p, flag, perm)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), guestName(p)), nil
}

func (r *Root) openFile(rfd int, p string, flag int, perm os.FileMode) (int, error) {
	if p == "" {
		return -1, syscall.ENOENT
	}
	if flag&unix.O_PATH != 0 || flag&unix.O_TMPFILE == unix.O_TMPFILE {
		return -1, syscall.EINVAL
	}
	acc := flag & unix.O_ACCMODE
	write := acc != unix.O_RDONLY || flag&unix.O_TRUNC != 0
	nofollow := flag&unix.O_NOFOLLOW != 0
	creat := flag&unix.O_CREAT != 0
	mode := sysMode(perm)
	// Flags kept when the file is created or re-opened.
	keep := flag &^ (unix.O_CREAT | unix.O_EXCL | unix.O_TRUNC | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_DIRECTORY)
	keep |= unix.O_NOCTTY

	if creat && flag&unix.O_EXCL != 0 {
		// O_CREAT|O_EXCL never follows a final symlink and only creates a regular file.
		return openat2(rfd, p, keep|unix.O_CREAT|unix.O_EXCL, mode, r.resolve)
	}
	for attempt := 0; ; attempt++ {
		if attempt > 64 {
			return -1, syscall.EAGAIN
		}
		extra := 0
		if nofollow {
			extra = unix.O_NOFOLLOW
		}
		pfd, err := r.lookup(rfd, p, extra)
		if err == unix.ENOENT && creat {
			fd, err := openat2(rfd, p, keep|unix.O_CREAT|unix.O_EXCL, mode, r.resolve)
			if err != unix.EEXIST {
				return fd, err
			}
			if nofollow {
				continue // a symlink appeared: the next lookup reports ELOOP
			}
			lfd, lerr := r.lookup(rfd, p, unix.O_NOFOLLOW)
			if lerr != nil {
				continue
			}
			lst, lerr := fstat(lfd)
			closeFd(lfd)
			if lerr != nil || !isType(&lst, unix.S_IFLNK) {
				continue // raced with a creation: look again
			}
			// A dangling final symlink: create at its target, in-root. O_NONBLOCK so that a
			// FIFO raced into place cannot block us; the result is checked before use.
			fd, err = openat2(rfd, p, keep|unix.O_CREAT|unix.O_NONBLOCK, mode, r.resolve)
			if err != nil {
				return -1, err
			}
			if err := r.checkOpened(fd, write); err != nil {
				closeFd(fd)
				return -1, err
			}
			if err := clearNonblock(fd); err != nil {
				closeFd(fd)
				return -1, err
			}
			if flag&unix.O_TRUNC != 0 {
				if err := retryEINTR(func() error { return unix.Ftruncate(fd, 0) }); err != nil {
					closeFd(fd)
					return -1, err
				}
			}
			return fd, nil
		}
		if err != nil {
			return -1, err
		}
		fd, err := r.openChecked(pfd, keep, flag, write)
		closeFd(pfd)
		return fd, err
	}
}

// openChecked checks the O_PATH descriptor pfd and re-opens it with flags keep.
func (r *Root) openChecked(pfd, keep, flag int, write bool) (int, error) {
	st, err := fstat(pfd)
	if err != nil {
		return -1, err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		if flag&unix.O_DIRECTORY != 0 {
			return -1, syscall.ENOTDIR
		}
		if write {
			if err := r.checkModify(&st); err != nil {
				return -1, err
			}
		}
	case unix.S_IFDIR:
		if write {
			return -1, syscall.EISDIR
		}
		keep |= unix.O_DIRECTORY
	case unix.S_IFLNK:
		return -1, syscall.ELOOP // O_NOFOLLOW on a symlink
	default:
		return -1, ErrSpecialFile
	}
	fd, err := reopen(pfd, keep)
	if err != nil {
		return -1, err
	}
	if flag&unix.O_TRUNC != 0 && st.Mode&unix.S_IFMT == unix.S_IFREG {
		if err := retryEINTR(func() error { return unix.Ftruncate(fd, 0) }); err != nil {
			closeFd(fd)
			return -1, err
		}
	}
	return fd, nil
}

// checkOpened verifies a descriptor opened directly (not through O_PATH) is a regular file and,
// for writing, satisfies the hard-link policy.
func (r *Root) checkOpened(fd int, write bool) error {
	st, err := fstat(fd)
	if err != nil {
		return err
	}
	if !isType(&st, unix.S_IFREG) {
		return ErrSpecialFile
	}
	if write {
		return r.checkModify(&st)
	}
	return nil
}

func clearNonblock(fd int) error {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK)
	return err
}

// DefaultReadLimit is what ReadFile reads of a guest file at most: far more than any
// configuration file the plugin reads (fstab, os-release, grub.cfg...), far less than
// memory.
const DefaultReadLimit = 16 << 20

// ErrTooLarge is returned (wrapped in an *fs.PathError naming the guest path and the size)
// by ReadFile and ReadFileLimit for a file larger than the limit.
var ErrTooLarge = errors.New("file too large")

// ReadFile reads the regular file p (symlinks followed in-root), like os.ReadFile, up to
// DefaultReadLimit bytes; a larger file is an error (ErrTooLarge). See ReadFileLimit.
func (r *Root) ReadFile(p string) ([]byte, error) {
	return r.ReadFileLimit(p, DefaultReadLimit)
}

// ReadFileLimit reads the regular file p (symlinks followed in-root) if it holds at most
// max bytes. A larger file (by its size, or by what it yields: a guest file may grow while
// read) is refused with an *fs.PathError naming p and the size, wrapping ErrTooLarge. It
// never allocates more than max+1 bytes, whatever size the file claims (a sparse 16 TiB
// /etc/fstab is a few blocks on disk).
func (r *Root) ReadFileLimit(p string, max int64) ([]byte, error) {
	f, err := r.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, &fs.PathError{Op: "read", Path: guestName(p), Err: syscall.EISDIR}
	}
	if fi.Size() > max {
		return nil, &fs.PathError{Op: "read", Path: guestName(p), Err: fmt.Errorf("%w: %d bytes, more than the %d read", ErrTooLarge, fi.Size(), max)}
	}
	var buf bytes.Buffer
	buf.Grow(int(fi.Size()) + 512)
	if _, err := buf.ReadFrom(io.LimitReader(f, max+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > max {
		return nil, &fs.PathError{Op: "read", Path: guestName(p), Err: fmt.Errorf("%w: more than the %d bytes read", ErrTooLarge, max)}
	}
	return buf.Bytes(), nil
}

// WriteFile writes data to p in place, like os.WriteFile: the final symlink is followed
// in-root, an existing file is truncated (same inode, owner and mode), a missing one is created
// with perm (before umask). Subject to the special-file and hard-link policies.
func (r *Root) WriteFile(p string, data []byte, perm os.FileMode) error {
	f, err := r.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err1 := f.Close(); err1 != nil && err == nil {
		err = err1
	}
	return err
}

// Truncate empties the regular file p in place: same inode, owner, mode and xattrs (the kernel
// still drops setuid/setgid bits and security.capability on truncation). The final component
// is not followed: a symlink fails with ELOOP. A directory fails with EISDIR; a FIFO, socket or
// device fails with ErrSpecialFile without being opened; a file with several hard links fails
// with ErrHardlink unless Options.AllowHardlinkWrites.
func (r *Root) Truncate(p string) error {
	rfd, err := r.acquire()
	if err != nil {
		return &fs.PathError{Op: "truncate", Path: p, Err: err}
	}
	defer closeFd(rfd)
	err = func() error {
		pfd, err := r.lookup(rfd, p, unix.O_NOFOLLOW)
		if err != nil {
			return err
		}
		defer closeFd(pfd)
		st, err := fstat(pfd)
		if err != nil {
			return err
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
		case unix.S_IFLNK:
			return syscall.ELOOP
		case unix.S_IFDIR:
			return syscall.EISDIR
		default:
			return ErrSpecialFile
		}
		if err := r.checkModify(&st); err != nil {
			return err
		}
		fd, err := reopen(pfd, unix.O_WRONLY|unix.O_NONBLOCK)
		if err != nil {
			return err
		}
		defer closeFd(fd)
		return retryEINTR(func() error { return unix.Ftruncate(fd, 0) })
	}()
	if err != nil {
		return &fs.PathError{Op: "truncate", Path: p, Err: err}
	}
	return nil
}
