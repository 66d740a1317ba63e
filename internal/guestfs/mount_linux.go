package guestfs

import (
	"io/fs"

	"golang.org/x/sys/unix"
)

// IsMountPoint reports whether guest path p (its final component not followed) is a mount
// point inside the tree, for example a /proc, /dev or /etc/resolv.conf bind-mounted by a
// chroot builder: its lookup from its in-root parent crosses a mount (RESOLVE_NO_XDEV), or its
// st_dev differs from its parent's. The guest root itself is not reported.
func (r *Root) IsMountPoint(p string) (bool, error) {
	rfd, err := r.acquire()
	if err != nil {
		return false, &fs.PathError{Op: "ismountpoint", Path: p, Err: err}
	}
	defer closeFd(rfd)
	pfd, name, err := r.parent(rfd, p)
	if err == ErrRoot {
		return false, nil
	}
	if err != nil {
		return false, &fs.PathError{Op: "ismountpoint", Path: p, Err: err}
	}
	defer closeFd(pfd)
	fd, err := openat2(pfd, name, unix.O_PATH|unix.O_NOFOLLOW, 0, resolveChild|unix.RESOLVE_NO_XDEV)
	if err == unix.EXDEV {
		return true, nil
	}
	if err != nil {
		return false, &fs.PathError{Op: "ismountpoint", Path: p, Err: err}
	}
	defer closeFd(fd)
	st, err := fstat(fd)
	if err != nil {
		return false, &fs.PathError{Op: "ismountpoint", Path: p, Err: err}
	}
	pst, err := fstat(pfd)
	if err != nil {
		return false, &fs.PathError{Op: "ismountpoint", Path: p, Err: err}
	}
	return st.Dev != pst.Dev, nil
}
