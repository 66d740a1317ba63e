//go:build linux

package common

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/hostfile"
)

// DownloadDir copies the guest directory src to the host directory dst. Guest symlinks are
// recreated as symlinks, never followed. Everything is created relative to an open
// descriptor of its host parent directory (openat, mkdirat, symlinkat), never through a host
// path: a host symlink already in dst (planted, or left by an earlier download) is replaced
// or refused, never followed, so guest data cannot be written outside dst. Files are created
// O_EXCL|O_NOFOLLOW (an existing non-directory entry of the same name is unlinked first),
// 0600; directories 0700; an existing directory is only entered when it is a real directory.
func (c *Communicator) DownloadDir(src string, dst string, exclude []string) error {
	if _, err := hostfile.MkdirAll(dst, 0o700); err != nil {
		return fmt.Errorf("download to %s: %w", dst, err)
	}
	// dst itself is the template's choice and may be a symlink; nothing below it may be.
	top, err := unix.Open(dst, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("download to %s: %w", dst, &os.PathError{Op: "open", Path: dst, Err: err})
	}
	// The open directories from dst down to the current one (depth-first walk).
	type open struct {
		rel string
		fd  int
	}
	stack := []open{{"", top}}
	defer func() {
		for _, o := range stack {
			unix.Close(o.fd)
		}
	}()
	base := path.Clean("/" + src)
	return c.guest.Walk(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, base), "/")
		if rel == "" {
			return nil // src itself is dst
		}
		if excluded(rel, exclude) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		parent, name := path.Dir(rel), path.Base(rel)
		if parent == "." {
			parent = ""
		}
		for len(stack) > 1 && stack[len(stack)-1].rel != parent {
			unix.Close(stack[len(stack)-1].fd)
			stack = stack[:len(stack)-1]
		}
		if stack[len(stack)-1].rel != parent {
			return fmt.Errorf("download %s: parent directory %s not open", p, parent)
		}
		pfd := stack[len(stack)-1].fd
		hostPath := dst + "/" + rel
		switch {
		case d.IsDir():
			fd, err := mkdirOpenAt(pfd, name)
			if err != nil {
				return &os.PathError{Op: "mkdir", Path: hostPath, Err: err}
			}
			stack = append(stack, open{rel, fd})
		case d.Type()&fs.ModeSymlink != 0:
			link, err := c.guest.Readlink(p)
			if err != nil {
				return err
			}
			if err := unlinkNonDir(pfd, name); err != nil {
				return &os.PathError{Op: "replace", Path: hostPath, Err: err}
			}
			if err := unix.Symlinkat(link, pfd, name); err != nil {
				return &os.PathError{Op: "symlink", Path: hostPath, Err: err}
			}
		case d.Type().IsRegular():
			if err := unlinkNonDir(pfd, name); err != nil {
				return &os.PathError{Op: "replace", Path: hostPath, Err: err}
			}
			fd, err := unix.Openat(pfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
			if err != nil {
				return &os.PathError{Op: "create", Path: hostPath, Err: err}
			}
			out := os.NewFile(uintptr(fd), hostPath)
			if err := c.Download(p, out); err != nil {
				out.Close()
				return err
			}
			return out.Close()
		}
		return nil
	})
}

// mkdirOpenAt creates the directory name in dirfd (0700) or opens the existing one, which must
// be a real directory: O_NOFOLLOW refuses a symlink in its place.
func mkdirOpenAt(dirfd int, name string) (int, error) {
	if err := unix.Mkdirat(dirfd, name, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, err
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return -1, fmt.Errorf("exists and is not a directory (a symlink?): refusing to download into it")
	}
	return fd, err
}

// unlinkNonDir removes name from dirfd unless it is missing; a directory is refused, a
// symlink is removed itself (unlinkat never follows it).
func unlinkNonDir(dirfd int, name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fmt.Errorf("a directory is in the way")
	}
	return unix.Unlinkat(dirfd, name, 0)
}
