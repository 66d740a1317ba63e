//go:build unix

package diskimage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// extentDir looks up the extent files of one descriptor in the descriptor's directory,
// through a directory descriptor (openat), never following a symlink.
type extentDir struct {
	fd   int
	path string
	self fileID // the descriptor's file
	seen map[fileID]string
}

type fileID struct{ dev, ino uint64 }

func statID(st *unix.Stat_t) fileID { return fileID{uint64(st.Dev), uint64(st.Ino)} }

// openExtentDir opens the directory of the descriptor file desc.
func openExtentDir(desc *os.File) (*extentDir, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(desc.Fd()), &st); err != nil {
		return nil, err
	}
	dir := filepath.Dir(desc.Name())
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("the descriptor's directory %s: %w", dir, err)
	}
	return &extentDir{fd: fd, path: dir, self: statID(&st), seen: map[fileID]string{}}, nil
}

func (d *extentDir) close() { unix.Close(d.fd) }

// check refuses name unless it is a regular file of the directory (not a symlink, device,
// FIFO, socket or directory), not the descriptor itself, and not named before: lstat only,
// nothing is opened.
func (d *extentDir) check(name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("%w: extent file: %v", ErrCorrupt, err)
	}
	if err := d.checkStat(name, &st); err != nil {
		return err
	}
	d.seen[statID(&st)] = name
	return nil
}

func (d *extentDir) checkStat(name string, st *unix.Stat_t) error {
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return fmt.Errorf("%w: extent file is a symbolic link; extents are read only from regular files next to the descriptor", ErrUnsupported)
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return fmt.Errorf("%w: extent file is not a regular file (mode %#o)", ErrUnsupported, st.Mode&unix.S_IFMT)
	case statID(st) == d.self:
		return fmt.Errorf("%w: extent file is the descriptor itself", ErrCorrupt)
	}
	if prev, dup := d.seen[statID(st)]; dup {
		return fmt.Errorf("%w: extent file is the same file as extent %q, named twice", ErrCorrupt, prev)
	}
	return nil
}

// open opens name, checked before, read-only: O_NOFOLLOW, O_NONBLOCK (a FIFO swapped in
// does not block the open), and the opened file must be the one check saw.
func (d *extentDir) open(name string) (*os.File, error) {
	var want unix.Stat_t
	if err := unix.Fstatat(d.fd, name, &want, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, fmt.Errorf("%w: extent file: %v", ErrCorrupt, err)
	}
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("extent file: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || statID(&st) != statID(&want) || d.seen[statID(&st)] != name {
		unix.Close(fd)
		return nil, errors.Join(ErrCorrupt, fmt.Errorf("extent file changed while it was opened"))
	}
	// Back to blocking reads (O_NONBLOCK means nothing for a regular file, but say so).
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), filepath.Join(d.path, name)), nil
}
