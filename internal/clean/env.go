//go:build linux

package clean

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"syscall"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
)

// state is shared by the ops of one run. In a dry run it remembers what earlier ops would
// have removed, emptied or edited, so later ops see the tree as it would be.
type state struct {
	dry       bool
	removed   map[string]bool
	removedID map[[2]uint64]bool // dry run: identities of removed names (other paths to them)
	truncated map[string]bool
	overlay   map[string][]byte // dry run: edited or created file contents
	maxEdit   int64
	rootID    [2]uint64 // dev, ino of the guest "/"
	// foreign maps the (dev, ino) of mounts the guest does not own (a builder's /proc, /sys,
	// /dev, /run) to their guest path; nothing at or below them is touched.
	foreign map[[2]uint64]string
	dirOK   map[string]string // guard cache: parent directory -> refusal reason ("" = fine)
	live    *liveState        // live-system rules (Options.Live), nil otherwise
}

// foreignMounts are the directories a chroot builder mounts from the host.
var foreignMounts = []string{"/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/run"}

func (st *state) findForeign(r *guestfs.Root) {
	st.foreign = map[[2]uint64]string{}
	st.dirOK = map[string]string{}
	for _, m := range foreignMounts {
		if mp, err := r.IsMountPoint(m); err != nil || !mp {
			continue
		}
		if fi, err := r.Stat(m); err == nil {
			if s, ok := fi.Sys().(*syscall.Stat_t); ok {
				st.foreign[[2]uint64{uint64(s.Dev), s.Ino}] = m
			}
		}
	}
}

// guard returns why p must not be touched ("" when it may): p itself is a mount point (a
// bind-mounted file or directory), or one of its in-root ancestors is a mount the guest does
// not own.
func (e *Env) guard(p string) string {
	if r := e.liveGuard(p); r != "" {
		return r
	}
	if mp, err := e.Root.IsMountPoint(p); err == nil && mp {
		return "mount point: not touched"
	}
	if len(e.st.foreign) == 0 {
		return ""
	}
	// Where p leads when followed (EditLines follows a final symlink): a file on a foreign
	// mount's filesystem is refused.
	if fi, err := e.Root.Stat(p); err == nil {
		if s, ok := fi.Sys().(*syscall.Stat_t); ok && uint64(s.Dev) != e.st.rootID[0] {
			for id, m := range e.st.foreign {
				if id[0] == uint64(s.Dev) {
					return "on the filesystem of " + m + ", a mount not owned by the guest: not touched"
				}
			}
		}
	}
	return e.ancestors(path.Dir(clean(p)))
}

// guardDir is guard for acting inside directory dir (dir itself included).
func (e *Env) guardDir(dir string) string {
	if mp, err := e.Root.IsMountPoint(dir); err == nil && mp {
		return "mount point: not entered"
	}
	if len(e.st.foreign) == 0 {
		return ""
	}
	return e.ancestors(clean(dir))
}

// ancestors returns why nothing in directory dir may be touched: dir or one of its in-root
// ancestors (found with "..", so symlinked paths are judged where they lead) is a foreign mount.
func (e *Env) ancestors(dir string) string {
	if r, ok := e.st.dirOK[dir]; ok {
		return r
	}
	reason := ""
	q := dir
	for i := 0; i < 128; i++ {
		fi, err := e.Root.Stat(q)
		if err != nil {
			break
		}
		s, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			break
		}
		id := [2]uint64{uint64(s.Dev), s.Ino}
		if m, bad := e.st.foreign[id]; bad {
			reason = "inside " + m + ", a mount not owned by the guest: not touched"
			break
		}
		if id == e.st.rootID {
			break
		}
		q += "/.."
	}
	e.st.dirOK[dir] = reason
	return reason
}

// Env is what an op works with: the guest root, the inspection result, the options and the
// recording, dry-run-aware file actions. Ops never touch the guest any other way.
type Env struct {
	Root *guestfs.Root
	OS   *guestfs.OSInfo
	Opts *Options

	ctx context.Context
	st  *state
	rep *OpReport
}

// DryRun reports whether nothing may be changed.
func (e *Env) DryRun() bool { return e.st.dry }

// Context returns the run's context (ops with long loops check it).
func (e *Env) Context() context.Context { return e.ctx }

// Errorf records an op error (the op goes on with its other targets).
func (e *Env) Errorf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	e.rep.Errors = append(e.rep.Errors, msg)
	if e.Opts.Logf != nil {
		e.Opts.Logf("%s: error: %s", e.rep.Name, Printable(msg))
	}
}

func (e *Env) record(c Change) { e.rep.Changes = append(e.rep.Changes, c) }

// Skip records a target left alone on purpose.
func (e *Env) Skip(p, typ, reason string) {
	e.record(Change{Action: Skipped, Path: p, Type: typ, Reason: reason})
}

func clean(p string) string { return path.Clean("/" + p) }

// gone reports whether p (or an ancestor) was removed earlier in this dry run.
func (e *Env) gone(p string) bool {
	if !e.st.dry || len(e.st.removed) == 0 {
		return false
	}
	for q := clean(p); ; q = path.Dir(q) {
		if e.st.removed[q] {
			return true
		}
		if q == "/" {
			break
		}
	}
	// The same name reached through a symlinked directory (/var/spool/mail -> ../mail).
	if fi, err := e.Root.Lstat(p); err == nil {
		if id, ok := fileID(fi); ok && e.st.removedID[id] {
			return true
		}
	}
	return false
}

func fileID(fi fs.FileInfo) ([2]uint64, bool) {
	s, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return [2]uint64{}, false
	}
	return [2]uint64{uint64(s.Dev), s.Ino}, true
}

// Lstat is Root.Lstat, dry-run aware.
func (e *Env) Lstat(p string) (fs.FileInfo, error) {
	if e.gone(p) {
		return nil, &fs.PathError{Op: "lstat", Path: p, Err: fs.ErrNotExist}
	}
	return e.Root.Lstat(p)
}

// Stat is Root.Stat (symlinks followed in-root), dry-run aware.
func (e *Env) Stat(p string) (fs.FileInfo, error) {
	if e.gone(p) {
		return nil, &fs.PathError{Op: "stat", Path: p, Err: fs.ErrNotExist}
	}
	return e.Root.Stat(p)
}

// Exists reports whether the name p exists (a dangling symlink exists).
func (e *Env) Exists(p string) bool {
	_, err := e.Lstat(p)
	return err == nil
}

// IsDir reports whether p resolves (in-root) to a directory.
func (e *Env) IsDir(p string) bool {
	fi, err := e.Stat(p)
	return err == nil && fi.IsDir()
}

// IsFile reports whether p resolves (in-root) to a regular file.
func (e *Env) IsFile(p string) bool {
	fi, err := e.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// Glob returns the existing matches of the patterns (see guestfs.Root.Glob), without those
// removed earlier in a dry run.
func (e *Env) Glob(patterns ...string) []string {
	var out []string
	seen := map[string]bool{}
	for _, pat := range patterns {
		m, err := e.Root.Glob(pat)
		if err != nil {
			e.Errorf("glob %s: %v", pat, err)
			continue
		}
		for _, p := range m {
			if !seen[p] && !e.gone(p) {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// policyReason turns a guestfs policy refusal into a skip reason ("" for a real error).
func policyReason(err error) string {
	switch {
	case errors.Is(err, guestfs.ErrHardlink):
		return "has several hard links (may be a host file): not modified"
	case errors.Is(err, guestfs.ErrSpecialFile):
		return "not a regular file: not opened"
	case errors.Is(err, guestfs.ErrMountPoint):
		return "mount point or other filesystem: not crossed"
	case errors.Is(err, syscall.ELOOP):
		return "symlink: not followed"
	case errors.Is(err, syscall.EXDEV):
		return "crosses a mount: not followed"
	}
	return ""
}

// isRootDir reports whether p resolves (in-root) to the guest root directory itself.
func (e *Env) isRootDir(p string) bool {
	fi, err := e.Root.Stat(p)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && [2]uint64{uint64(st.Dev), st.Ino} == e.st.rootID
}

// Remove removes the name p (a directory with everything below it; a symlink itself, never
// its target). A missing p is not an error.
func (e *Env) Remove(p string) {
	fi, err := e.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return
	}
	if err != nil {
		e.FailOrSkip(p, "", "lstat", err)
		return
	}
	if clean(p) == "/" {
		e.Skip(p, "dir", "the root directory is never removed")
		return
	}
	if q, held := e.liveHolds(p); held {
		e.Skip(p, "dir", "holds "+q+", protected on the live system: only its other contents removed")
		e.RemoveContents(p)
		return
	}
	if r := e.guard(p); r != "" {
		e.Skip(p, guestfs.TypeName(fi.Mode()), r)
		return
	}
	c := Change{Action: Removed, Path: p, Type: guestfs.TypeName(fi.Mode())}
	if fi.Mode().IsRegular() {
		c.Size = fi.Size()
	}
	if fi.IsDir() {
		n, size := e.dirUsage(p)
		c.Size = size
		c.Reason = fmt.Sprintf("%d entries below", n)
	}
	if e.st.dry {
		e.st.removed[clean(p)] = true
		if id, ok := fileID(fi); ok && (fi.IsDir() || fi.Mode().IsRegular() && fi.Sys().(*syscall.Stat_t).Nlink == 1) {
			e.st.removedID[id] = true
		}
		e.record(c)
		return
	}
	var rerr error
	if fi.IsDir() {
		rerr = e.Root.RemoveAll(p)
	} else {
		rerr = e.Root.Remove(p)
	}
	if rerr != nil {
		if errors.Is(rerr, guestfs.ErrMountPoint) {
			c.Reason += "; a mount point below was left intact"
			e.record(c)
			e.Skip(p, c.Type, policyReason(rerr)+" (partially removed)")
			return
		}
		e.FailOrSkip(p, c.Type, "remove", rerr)
		return
	}
	e.record(c)
}

// dirUsage counts the entries below directory p and the bytes of its regular files (not
// following symlinks; mount points are counted too).
func (e *Env) dirUsage(p string) (n int, size int64) {
	_ = e.Root.Walk(p, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if q == p {
			return nil
		}
		n++
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
			}
		}
		return nil
	})
	return n, size
}

// RemoveGlob removes every match of the patterns.
func (e *Env) RemoveGlob(patterns ...string) {
	for _, p := range e.Glob(patterns...) {
		e.Remove(p)
	}
}

// RemoveContents removes everything in directory dir (resolved in-root) but keeps dir itself
// with its owner, mode and label. except names are kept. A dir that resolves to the guest
// root is refused.
func (e *Env) RemoveContents(dir string, except ...string) {
	if !e.IsDir(dir) {
		return
	}
	if e.isRootDir(dir) {
		e.Skip(dir, "dir", "resolves to the guest root directory: contents not removed")
		return
	}
	if r := e.guardDir(dir); r != "" {
		e.Skip(dir, "dir", r)
		return
	}
	ents, err := e.Root.ReadDir(dir)
	if err != nil {
		e.FailOrSkip(dir, "dir", "readdir", err)
		return
	}
	for _, d := range ents {
		if contains(except, d.Name()) {
			continue
		}
		if err := e.ctx.Err(); err != nil {
			e.Errorf("%v", err)
			return
		}
		e.Remove(path.Join(dir, d.Name()))
	}
}

// Truncate empties regular file p in place (same inode, owner, mode, xattrs and SELinux
// label). Symlinks are not followed and special files are not opened: both are skipped and
// reported. An already empty file is not reported.
func (e *Env) Truncate(p string) {
	fi, err := e.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return
	}
	if err != nil {
		e.FailOrSkip(p, "", "lstat", err)
		return
	}
	typ := guestfs.TypeName(fi.Mode())
	switch {
	case fi.IsDir():
		return
	case fi.Mode()&fs.ModeSymlink != 0:
		e.Skip(p, typ, "symlink: not followed")
		return
	case !fi.Mode().IsRegular():
		e.Skip(p, typ, "not a regular file: not opened")
		return
	}
	if fi.Size() == 0 || e.st.truncated[clean(p)] {
		return
	}
	if r := e.guard(p); r != "" {
		e.Skip(p, typ, r)
		return
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	if e.st.dry {
		if st != nil && st.Nlink > 1 && !e.Root.Options().AllowHardlinkWrites {
			e.Skip(p, typ, policyReason(guestfs.ErrHardlink))
			return
		}
		e.st.truncated[clean(p)] = true
		e.record(Change{Action: Truncated, Path: p, Type: typ, Size: fi.Size()})
		return
	}
	if err := e.Root.Truncate(p); err != nil {
		e.FailOrSkip(p, typ, "truncate", err)
		return
	}
	e.record(Change{Action: Truncated, Path: p, Type: typ, Size: fi.Size()})
}

// TruncateGlob truncates every match of the patterns.
func (e *Env) TruncateGlob(patterns ...string) {
	for _, p := range e.Glob(patterns...) {
		e.Truncate(p)
	}
}

// FailOrSkip records err on p as a skip when it is a safety policy refusal, else as an error.
func (e *Env) FailOrSkip(p, typ, op string, err error) {
	if r := policyReason(err); r != "" {
		e.Skip(p, typ, r)
		return
	}
	e.Errorf("%s %s: %v", op, p, err)
}

// ReadFile reads regular file p (symlinks followed in-root), dry-run aware. Files larger than
// the edit limit are refused.
func (e *Env) ReadFile(p string) ([]byte, error) {
	if e.gone(p) {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	if b, ok := e.st.overlay[clean(p)]; ok {
		return append([]byte(nil), b...), nil
	}
	f, err := e.Root.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, &fs.PathError{Op: "read", Path: p, Err: syscall.EISDIR}
	}
	if fi.Size() > e.st.maxEdit {
		return nil, &fs.PathError{Op: "read", Path: p, Err: errTooBig}
	}
	b, err := io.ReadAll(io.LimitReader(f, e.st.maxEdit+1))
	if err == nil && int64(len(b)) > e.st.maxEdit {
		err = &fs.PathError{Op: "read", Path: p, Err: errTooBig}
	}
	return b, err
}

var errTooBig = errors.New("file larger than the edit limit")

// Lines is a file being edited line by line. Ops change it only through its methods, which
// also build the diff of the report.
type Lines struct {
	L    []string // lines without their "\n"
	diff []string
}

// Delete removes line i.
func (x *Lines) Delete(i int) {
	x.diff = append(x.diff, "-"+x.L[i])
	x.L = append(x.L[:i], x.L[i+1:]...)
}

// DeleteFunc removes the lines for which del returns true and returns how many.
func (x *Lines) DeleteFunc(del func(line string) bool) int {
	out := x.L[:0]
	n := 0
	for _, l := range x.L {
		if del(l) {
			x.diff = append(x.diff, "-"+l)
			n++
			continue
		}
		out = append(out, l)
	}
	x.L = out
	return n
}

// Set replaces line i with s (nothing if equal).
func (x *Lines) Set(i int, s string) {
	if x.L[i] == s {
		return
	}
	x.diff = append(x.diff, "-"+x.L[i], "+"+s)
	x.L[i] = s
}

// Append adds line s at the end.
func (x *Lines) Append(s string) {
	x.diff = append(x.diff, "+"+s)
	x.L = append(x.L, s)
}

// Changed reports whether anything was edited.
func (x *Lines) Changed() bool { return len(x.diff) > 0 }

func splitLines(b []byte) []string {
	s := string(b)
	if s == "" {
		return nil
	}
	s = strings.TrimSuffix(s, "\n")
	return strings.Split(s, "\n")
}

func joinLines(lines []string) []byte {
	if len(lines) == 0 {
		return nil
	}
	return []byte(strings.Join(lines, "\n") + "\n")
}

// EditOptions tune EditLines.
type EditOptions struct {
	// Redact hides everything after the first ':' of diff lines (shadow files; always for a
	// file named shadow or gshadow). Other diffs are redacted where they show a secret
	// (redact.go).
	Redact bool
	// Create edits a missing file as empty and creates it (mode Perm) if lines were added.
	Create bool
	Perm   fs.FileMode
}

// EditLines edits file p in place (symlinks followed in-root; same inode, owner, mode and
// label): fn changes the lines through x. Only whole lines are deleted, replaced or added, so
// lines are never joined; a file without a final newline gets one only if it is edited. A
// missing file is ignored unless o.Create. Nothing is written when fn changes nothing.
// It returns whether the file was (or, dry, would be) changed.
func (e *Env) EditLines(p string, o EditOptions, fn func(x *Lines)) bool {
	b, err := e.ReadFile(p)
	missing := errors.Is(err, fs.ErrNotExist)
	switch {
	case missing && o.Create:
		b = nil
	case missing || errors.Is(err, syscall.ENOTDIR):
		return false
	case errors.Is(err, errTooBig):
		e.Skip(p, "file", fmt.Sprintf("larger than %d bytes: not edited", e.st.maxEdit))
		return false
	case errors.Is(err, syscall.EISDIR):
		return false
	case err != nil:
		e.FailOrSkip(p, "file", "read", err)
		return false
	}
	x := &Lines{L: splitLines(b)}
	fn(x)
	if !x.Changed() {
		return false
	}
	diff := redactDiff(x.diff, splitLines(b), x.L, o.Redact || shadowFile(p))
	if r := e.guard(p); r != "" {
		e.Skip(p, "file", r)
		return false
	}
	out := joinLines(x.L)
	action := Edited
	if missing {
		action = Created
	}
	c := Change{Action: action, Path: p, Type: "file", Size: int64(len(b)), Diff: diff}
	if e.st.dry {
		if !missing {
			if err := e.wouldWrite(p); err != nil {
				e.FailOrSkip(p, "file", "write", err)
				return false
			}
		}
		e.st.overlay[clean(p)] = out
		e.record(c)
		return true
	}
	perm := o.Perm
	if perm == 0 {
		perm = 0o644
	}
	if err := e.writeInPlace(p, out, perm, missing); err != nil {
		e.FailOrSkip(p, "file", "write", err)
		return false
	}
	e.record(c)
	return true
}

// wouldWrite predicts the guestfs policy for writing existing file p (dry run).
func (e *Env) wouldWrite(p string) error {
	fi, err := e.Root.Stat(p)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return guestfs.ErrSpecialFile
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 && !e.Root.Options().AllowHardlinkWrites {
		return guestfs.ErrHardlink
	}
	return nil
}

// writeInPlace rewrites p with data keeping its inode (so owner, mode, xattrs and SELinux
// label stay), or creates it when create.
func (e *Env) writeInPlace(p string, data []byte, perm fs.FileMode, create bool) error {
	flag := syscall.O_WRONLY | syscall.O_TRUNC
	if create {
		flag |= syscall.O_CREAT
	}
	f, err := e.Root.OpenFile(p, flag, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err1 := f.Sync(); err == nil {
		err = err1
	}
	if err1 := f.Close(); err == nil {
		err = err1
	}
	return err
}

// CreateFile creates p with data unless the name exists (then nothing happens). Parent
// directories are created as needed (mode 0755).
func (e *Env) CreateFile(p string, data []byte, perm fs.FileMode) {
	if e.Exists(p) {
		return
	}
	if _, ok := e.st.overlay[clean(p)]; ok {
		return
	}
	if r := e.guard(p); r != "" {
		e.Skip(p, "file", r)
		return
	}
	c := Change{Action: Created, Path: p, Type: "file", Size: int64(len(data))}
	if e.st.dry {
		e.st.overlay[clean(p)] = data
		e.record(c)
		return
	}
	if err := e.Root.MkdirAll(path.Dir(clean(p)), 0o755); err != nil {
		e.Errorf("mkdir %s: %v", path.Dir(p), err)
		return
	}
	f, err := e.Root.OpenFile(p, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL, perm)
	if err != nil {
		e.FailOrSkip(p, "file", "create", err)
		return
	}
	_, err = f.Write(data)
	if err1 := f.Close(); err == nil {
		err = err1
	}
	if err == nil {
		err = e.Root.Chmod(p, perm) // exact mode, whatever the umask
	}
	if err != nil {
		e.Errorf("create %s: %v", p, err)
		return
	}
	e.record(c)
}

// Homes returns the home directories to clean: /root, the entries of /home and the homes of
// ordinary accounts in /etc/passwd, each resolving (in-root) to a distinct directory other
// than the guest root.
func (e *Env) Homes() []string {
	cands := []string{"/root"}
	if ents, err := e.Root.ReadDir("/home"); err == nil {
		for _, d := range ents {
			cands = append(cands, "/home/"+d.Name())
		}
	}
	if b, err := e.ReadFile("/etc/passwd"); err == nil {
		for _, u := range parsePasswd(b) {
			if u.valid && (u.UID == 0 || u.UID >= e.OS.Accounts.UIDMin) && u.Home != "" && !protectedDir(clean(u.Home)) {
				cands = append(cands, clean(u.Home))
			}
		}
	}
	var out []string
	seen := map[[2]uint64]bool{}
	for _, h := range cands {
		if e.gone(h) {
			continue
		}
		fi, err := e.Root.Stat(h)
		if err != nil || !fi.IsDir() {
			continue
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			continue
		}
		id := [2]uint64{uint64(st.Dev), st.Ino}
		if seen[id] || id == e.st.rootID {
			continue
		}
		seen[id] = true
		out = append(out, h)
	}
	return out
}

// protectedDir reports guest directories never treated as (removable) home directories.
func protectedDir(p string) bool {
	switch p {
	case "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32",
		"/media", "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp",
		"/usr", "/var", "/nonexistent", "/var/tmp", "/var/lib", "/var/run", "/var/spool",
		"/var/log", "/var/cache", "/var/mail", "/usr/local", "/usr/bin", "/usr/sbin", "/usr/lib":
		return true
	}
	return false
}

func baseName(p string) string { return path.Base(p) }

// Record adds c to the report of the running op or step (for actions the Env methods do not
// record themselves, such as internal/retarget's guest programs run).
func (e *Env) Record(c Change) { e.record(c) }

// MarkNotApplicable marks the running op or step not applicable, with why (errors it records
// still make it failed).
func (e *Env) MarkNotApplicable(why string) {
	e.rep.Status, e.rep.Reason = StatusNotApplicable, why
}

// Symlink creates the symlink p -> target unless the name p exists (parent directories are
// created as needed, mode 0755).
func (e *Env) Symlink(p, target string) {
	if e.Exists(p) {
		return
	}
	if r := e.guard(p); r != "" {
		e.Skip(p, "symlink", r)
		return
	}
	ch := Change{Action: Created, Path: p, Type: "symlink", Reason: "-> " + target}
	if e.DryRun() {
		e.record(ch)
		return
	}
	if err := e.Root.MkdirAll(path.Dir(p), 0o755); err != nil {
		e.Errorf("mkdir %s: %v", path.Dir(p), err)
		return
	}
	if err := e.Root.Symlink(target, p); err != nil {
		e.FailOrSkip(p, "symlink", "symlink", err)
		return
	}
	e.record(ch)
}

// CopyFile copies regular guest file src (not followed if a symlink) to the new name dst, same
// mode, and reports whether it did (or, dry, would).
func (e *Env) CopyFile(src, dst string) bool {
	fi, err := e.Lstat(src)
	if err != nil {
		e.FailOrSkip(src, "", "lstat", err)
		return false
	}
	if !fi.Mode().IsRegular() {
		e.Skip(src, guestfs.TypeName(fi.Mode()), "not a regular file: not copied")
		return false
	}
	if r := e.guard(dst); r != "" {
		e.Skip(dst, "file", r)
		return false
	}
	ch := Change{Action: Copied, Path: dst, Type: "file", Size: fi.Size(), Reason: "copy of " + src}
	if e.DryRun() {
		e.record(ch)
		return true
	}
	in, err := e.Root.OpenFile(src, syscall.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		e.FailOrSkip(src, "file", "open", err)
		return false
	}
	defer in.Close()
	out, err := e.Root.OpenFile(dst, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_NOFOLLOW, fi.Mode().Perm())
	if err != nil {
		e.FailOrSkip(dst, "file", "create", err)
		return false
	}
	_, err = io.Copy(out, in)
	if err1 := out.Sync(); err == nil {
		err = err1
	}
	if err1 := out.Close(); err == nil {
		err = err1
	}
	if err != nil {
		_ = e.Root.Remove(dst)
		e.Errorf("copy %s to %s: %v", src, dst, err)
		return false
	}
	e.record(ch)
	return true
}
