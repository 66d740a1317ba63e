package guestfs

import (
	"io/fs"
	"path"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// dirEntry is an fs.DirEntry of a guest directory. Info is resolved through the Root by guest
// path (never by host path).
type dirEntry struct {
	r     *Root
	name  string
	gpath string
	typ   fs.FileMode
}

func (d *dirEntry) Name() string               { return d.name }
func (d *dirEntry) IsDir() bool                { return d.typ.IsDir() }
func (d *dirEntry) Type() fs.FileMode          { return d.typ }
func (d *dirEntry) Info() (fs.FileInfo, error) { return d.r.Lstat(d.gpath) }
func (d *dirEntry) String() string             { return fs.FormatDirEntry(d) }

// readDirFd reads all entries of directory fd, sorted by name, with their types resolved
// (fstatat without following when d_type is unknown).
func (r *Root) readDirFd(fd int, gpath string) ([]fs.DirEntry, error) {
	buf := make([]byte, 32<<10)
	var batch []dirent
	var out []fs.DirEntry
	for {
		var err error
		batch, err = getdents(fd, buf, batch)
		if err != nil {
			return out, err
		}
		if len(batch) == 0 {
			break
		}
		for _, e := range batch {
			t, err := dtype(fd, e.name, e.typ)
			if err == unix.ENOENT {
				continue
			}
			if err != nil {
				return out, err
			}
			out = append(out, &dirEntry{r: r, name: e.name, gpath: joinGuest(gpath, e.name), typ: fileMode(uint32(t) << 12).Type()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// ReadDir reads directory p (symlinks followed in-root) and returns its entries sorted by name,
// like os.ReadDir. Entry Info is an in-root Lstat.
func (r *Root) ReadDir(p string) ([]fs.DirEntry, error) {
	rfd, err := r.acquire()
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: p, Err: err}
	}
	defer closeFd(rfd)
	fd, err := openat2(rfd, p, unix.O_RDONLY|unix.O_DIRECTORY, 0, r.resolve)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: p, Err: err}
	}
	defer closeFd(fd)
	ents, err := r.readDirFd(fd, p)
	if err != nil {
		return ents, &fs.PathError{Op: "readdir", Path: p, Err: err}
	}
	return ents, nil
}

// Walk is filepath.WalkDir for a guest tree: lexical order, fs.SkipDir and fs.SkipAll honoured,
// symlinks never followed (they are reported as entries). p itself is resolved in-root without
// following its final component; below it every directory is opened relative to its parent
// descriptor with O_NOFOLLOW|RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, so a directory swapped for a
// symlink during the walk is not entered. Mount points are entered unless Options.NoXDev (then
// fn gets an EXDEV error for them). Paths passed to fn are p joined with entry names, without
// lexical cleaning. Each directory's names are read and sorted before descending, as in
// filepath.WalkDir; one descriptor is held per level.
func (r *Root) Walk(p string, fn fs.WalkDirFunc) error {
	rfd, err := r.acquire()
	if err != nil {
		return fn(p, nil, &fs.PathError{Op: "lstat", Path: p, Err: err})
	}
	defer closeFd(rfd)
	fi, err := r.Lstat(p)
	if err != nil {
		err = fn(p, nil, err)
	} else {
		open := func() (int, error) {
			return openat2(rfd, p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0, r.resolve)
		}
		err = r.walkDir(open, p, fs.FileInfoToDirEntry(fi), fn, 0)
	}
	if err == fs.SkipDir || err == fs.SkipAll {
		return nil
	}
	return err
}

func (r *Root) walkDir(open func() (int, error), gpath string, d fs.DirEntry, fn fs.WalkDirFunc, depth int) error {
	if err := fn(gpath, d, nil); err != nil || !d.IsDir() {
		if err == fs.SkipDir && d.IsDir() {
			err = nil
		}
		return err
	}
	var ents []fs.DirEntry
	fd, err := open()
	if err == nil && depth >= maxDepth {
		closeFd(fd)
		fd, err = -1, syscall.ELOOP
	}
	if err == nil {
		defer closeFd(fd)
		ents, err = r.readDirFd(fd, gpath)
	}
	if err != nil {
		err = fn(gpath, d, &fs.PathError{Op: "readdir", Path: gpath, Err: err})
		if err != nil {
			if err == fs.SkipDir && d.IsDir() {
				err = nil
			}
			return err
		}
	}
	for _, e := range ents {
		name := e.Name()
		child := func() (int, error) {
			return openat2(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0, resolveChild|r.resolve&unix.RESOLVE_NO_XDEV)
		}
		if err := r.walkDir(child, joinGuest(gpath, name), e, fn, depth+1); err != nil {
			if err == fs.SkipDir {
				break
			}
			return err
		}
	}
	return nil
}

// Glob returns the guest paths matching pattern (path.Match syntax per component; '*' also
// matches names starting with '.'), sorted per directory like filepath.Glob, in the same form
// as the pattern (absolute or relative). I/O errors are ignored as in filepath.Glob, except
// ErrUnsupported and os.ErrClosed; the only other error is path.ErrBadPattern.
//
// Literal components are resolved in-root like any guest path (so "/lib/udev/rules.d/*" works
// when /lib is a symlink to usr/lib); a name matched by a wildcard is returned even if it is a
// symlink, but a symlink matched by a wildcard in a non-final component is never descended
// into.
func (r *Root) Glob(pattern string) ([]string, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, err
	}
	rfd, err := r.acquire()
	if err != nil {
		return nil, &fs.PathError{Op: "glob", Path: pattern, Err: err}
	}
	defer closeFd(rfd)
	var comps []string
	for _, c := range strings.Split(pattern, "/") {
		if c != "" && c != "." {
			comps = append(comps, c)
		}
	}
	start := ""
	if strings.HasPrefix(pattern, "/") {
		start = "/"
	}
	if len(comps) == 0 {
		if start == "" {
			return nil, nil
		}
		return []string{"/"}, nil
	}
	var out []string
	err = r.glob(rfd, start, comps, &out)
	return out, err
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

func (r *Root) glob(rfd int, dir string, comps []string, out *[]string) error {
	c, last := comps[0], len(comps) == 1
	if !hasMeta(c) {
		p := joinGuest(dir, c)
		if last {
			if _, err := r.lstatFd(rfd, p); err == nil {
				*out = append(*out, p)
			} else if fatal(err) {
				return err
			}
			return nil
		}
		return r.glob(rfd, p, comps[1:], out)
	}
	d := dir
	if d == "" {
		d = "."
	}
	fd, err := openat2(rfd, d, unix.O_RDONLY|unix.O_DIRECTORY, 0, r.resolve)
	if err != nil {
		if fatal(err) {
			return &fs.PathError{Op: "glob", Path: d, Err: err}
		}
		return nil
	}
	defer closeFd(fd)
	ents, err := r.readDirFd(fd, dir)
	if err != nil {
		return nil // like filepath.Glob: ignore I/O errors
	}
	for _, e := range ents {
		ok, err := path.Match(c, e.Name())
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		p := joinGuest(dir, e.Name())
		if last {
			*out = append(*out, p)
		} else if e.IsDir() { // a real directory: symlinks are never descended into
			if err := r.glob(rfd, p, comps[1:], out); err != nil {
				return err
			}
		}
	}
	return nil
}

// lstatFd is Lstat using an already acquired root descriptor.
func (r *Root) lstatFd(rfd int, p string) (syscall.Stat_t, error) {
	fd, err := r.lookup(rfd, p, unix.O_NOFOLLOW)
	if err != nil {
		return syscall.Stat_t{}, err
	}
	defer closeFd(fd)
	return fstat(fd)
}

// fatal reports errors Glob must not swallow.
func fatal(err error) bool { return err == ErrUnsupported }
