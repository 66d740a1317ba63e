package guestfs

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Errors wrapped in the *fs.PathError returned by Root methods.
var (
	// ErrUnsupported means openat2(2) is unavailable; nothing is attempted without it.
	ErrUnsupported = errors.New("guestfs: openat2(2) is unavailable (Linux >= 5.6 without a seccomp filter blocking it is required); refusing to access the guest tree without it")
	// ErrHardlink means the target is a non-directory with more than one hard link and
	// Options.AllowHardlinkWrites is not set.
	ErrHardlink = errors.New("guestfs: refusing to modify a file with more than one hard link (it may be a host file)")
	// ErrSpecialFile means the target is a FIFO, socket or device node; it was not opened.
	ErrSpecialFile = errors.New("guestfs: not a regular file (FIFO, socket or device node); refusing to open it")
	// ErrMountPoint means RemoveAll met a mount point or another filesystem and left it intact.
	ErrMountPoint = errors.New("guestfs: mount point or different filesystem; refusing to cross it")
	// ErrRoot means the operation would act on the root directory itself by name.
	ErrRoot = errors.New("guestfs: refusing to act on the root directory itself")
)

const (
	// resolveInRoot is used for every lookup of a guest path from the root descriptor.
	resolveInRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS
	// resolveChild is used for single names looked up from a directory descriptor during
	// RemoveAll and Walk: no symlink at all, never out of the directory.
	resolveChild = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS
	// maxRetries bounds EAGAIN/EINTR retries of one openat2 call. RESOLVE_IN_ROOT returns
	// EAGAIN when a rename or mount happened during a ".." lookup.
	maxRetries = 4096
	// maxDepth bounds the recursion of RemoveAll and Walk (each level holds one descriptor).
	maxDepth = 4096
)

// retries counts EAGAIN/EINTR retries of openat2 (observed by tests).
var retries atomic.Int64

// openat2 wraps openat2(2) with O_CLOEXEC, EAGAIN/EINTR retries and ENOSYS mapping.
func openat2(dirfd int, p string, flags int, mode uint32, resolve uint64) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags) | unix.O_CLOEXEC, Resolve: resolve}
	if flags&unix.O_CREAT != 0 {
		how.Mode = uint64(mode)
	}
	for i := 0; ; i++ {
		fd, err := unix.Openat2(dirfd, p, &how)
		if err == nil {
			return fd, nil
		}
		switch err {
		case unix.EAGAIN, unix.EINTR:
			if i < maxRetries {
				retries.Add(1)
				continue
			}
		case unix.ENOSYS:
			return -1, ErrUnsupported
		}
		return -1, err
	}
}

// retryEINTR runs f until it does not fail with EINTR.
func retryEINTR(f func() error) error {
	for {
		if err := f(); err != unix.EINTR {
			return err
		}
	}
}

func closeFd(fd int) {
	if fd >= 0 {
		_ = unix.Close(fd)
	}
}

func fstat(fd int) (syscall.Stat_t, error) {
	var st syscall.Stat_t
	err := retryEINTR(func() error { return syscall.Fstat(fd, &st) })
	return st, err
}

func fstatat(dirfd int, name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := retryEINTR(func() error { return unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) })
	return st, err
}

// procFd is the magic link naming descriptor fd of this process.
func procFd(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// reopen opens the inode behind the O_PATH descriptor pfd with flags. It goes through the
// /proc/self/fd magic link, which designates exactly that inode, so a check made with
// fstat(pfd) still holds for the new descriptor.
func reopen(pfd int, flags int) (int, error) {
	flags &^= unix.O_CREAT | unix.O_EXCL | unix.O_TRUNC | unix.O_NOFOLLOW | unix.O_PATH
	var fd int
	err := retryEINTR(func() error {
		var err error
		fd, err = unix.Open(procFd(pfd), flags|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
		return err
	})
	return fd, err
}

// dirent is one entry of a getdents64 buffer.
type dirent struct {
	name string
	typ  uint8 // DT_*
}

// parseDirents decodes linux_dirent64 records, skipping "." and "..".
func parseDirents(buf []byte, out []dirent) []dirent {
	for len(buf) >= 19 {
		reclen := int(binary.NativeEndian.Uint16(buf[16:18]))
		if reclen < 19 || reclen > len(buf) {
			break
		}
		ino := binary.NativeEndian.Uint64(buf[0:8])
		typ := buf[18]
		name := buf[19:reclen]
		for i, c := range name {
			if c == 0 {
				name = name[:i]
				break
			}
		}
		buf = buf[reclen:]
		if ino == 0 || len(name) == 0 || string(name) == "." || string(name) == ".." {
			continue
		}
		out = append(out, dirent{name: string(name), typ: typ})
	}
	return out
}

// getdents reads one batch of entries of directory fd into out (reset first).
// It returns an empty slice at the end of the directory.
func getdents(fd int, buf []byte, out []dirent) ([]dirent, error) {
	out = out[:0]
	for len(out) == 0 {
		var n int
		err := retryEINTR(func() error {
			var err error
			n, err = unix.Getdents(fd, buf)
			return err
		})
		if err != nil {
			return out, err
		}
		if n <= 0 {
			return out, nil
		}
		out = parseDirents(buf[:n], out)
	}
	return out, nil
}

// dtype returns the DT_* type of name in dirfd, using fstatat when d_type is unknown.
func dtype(dirfd int, name string, typ uint8) (uint8, error) {
	if typ != unix.DT_UNKNOWN {
		return typ, nil
	}
	st, err := fstatat(dirfd, name)
	if err != nil {
		return 0, err
	}
	return uint8((st.Mode & unix.S_IFMT) >> 12), nil
}

// fileMode converts a st_mode to an fs.FileMode.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// sysMode converts permission and special bits of an fs.FileMode to a st_mode.
func sysMode(m fs.FileMode) uint32 {
	o := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		o |= unix.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		o |= unix.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		o |= unix.S_ISVTX
	}
	return o
}

// fileInfo is an fs.FileInfo built from a stat; Sys returns *syscall.Stat_t like package os.
type fileInfo struct {
	name string
	st   syscall.Stat_t
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.st.Size }
func (fi *fileInfo) Mode() fs.FileMode  { return fileMode(fi.st.Mode) }
func (fi *fileInfo) ModTime() time.Time { return time.Unix(fi.st.Mtim.Sec, fi.st.Mtim.Nsec) }
func (fi *fileInfo) IsDir() bool        { return fi.st.Mode&unix.S_IFMT == unix.S_IFDIR }
func (fi *fileInfo) Sys() any           { return &fi.st }

func isType(st *syscall.Stat_t, t uint32) bool { return st.Mode&unix.S_IFMT == t }
