//go:build linux

package chroot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/hostfile"
)

// Btrfs subvolume layouts.
//
// A btrfs filesystem holds a tree of subvolumes; which one is the guest's "/" is a choice of
// the guest's boot loader (rootflags=subvol=...) or of the filesystem's default subvolume.
// FindRoot mounts the top level (subvolid=5) read-only, lists the subvolumes with the host's
// btrfs tool (a host program reading a filesystem the guest controls: bounded time and output,
// like Fsck) and picks the root without prompting, by this rule:
//
//  1. the default subvolume (btrfs subvolume get-default), if it holds a Linux root: openSUSE,
//     whose default is snapper's booted snapshot @/.snapshots/N/snapshot, and plain btrfs;
//  2. else the one subvolume holding a Linux root whose own fstab mounts it at / with
//     subvol= or subvolid=: Fedora's "root", Ubuntu's "@" (their default is the top level);
//  3. else the only subvolume holding a Linux root.
//
// Anything else (several candidates, none self-named) is an error listing them. The root is
// then mounted with subvolid=<id> (a number: a hostile subvolume name never reaches the mount
// options). The guest fstab's entries with subvol= or subvolid= on the root's filesystem
// (Fedora's /home, openSUSE's /var, /home, /opt, /srv, /usr/local...) are mounted at their
// mount points, parents first, nosuid,nodev like every guest mount, so that cleaning reaches
// the logs and homes that live there; other btrfs filesystems' subvolume entries only when
// listed in FstabMounts. /.snapshots is never mounted (Guest.Skipped says so): it holds
// snapper's other roots, which nothing here needs and which the user keeps as they are.
// Other fstab options (compress=, space_cache...) are not passed, as for every fstab entry.
//
// Two btrfs filesystems of the same fsid (a working copy and its source) can both be mounted
// only on a kernel with btrfs temp-fsid support (Linux 6.7+, single-device filesystems);
// older kernels refuse the second mount.

// btrfsTopLevel is the ID of a btrfs filesystem's top-level subvolume (BTRFS_FS_TREE_OBJECTID).
const btrfsTopLevel = 5

// btrfsSubvolInode is the inode number of every subvolume's root directory
// (BTRFS_FIRST_FREE_OBJECTID).
const btrfsSubvolInode = 256

var (
	// BtrfsToolTimeout bounds one run of the btrfs tool on a guest filesystem.
	BtrfsToolTimeout = 2 * time.Minute
	// maxBtrfsToolOutput bounds what the btrfs tool may print (a subvolume list line is
	// about 60 bytes plus its path).
	maxBtrfsToolOutput = 4 << 20
	// MaxSubvolumes bounds the subvolumes of a guest filesystem that are considered.
	MaxSubvolumes = 10000
	// MaxSubvolumeMounts bounds the guest fstab's btrfs subvolume entries (a real one has a
	// dozen).
	MaxSubvolumeMounts = 64
)

// Subvolume is one btrfs subvolume: its ID and its path from the top level (no leading /).
type Subvolume struct {
	ID   uint64
	Path string
}

// BtrfsLayout is what FindRoot read of a btrfs filesystem.
type BtrfsLayout struct {
	Subvolumes []Subvolume // every subvolume but the top level, by ID
	Default    uint64      // the default subvolume's ID (5: the top level)
	// Root is the subvolume chosen as the guest root; nil: the top level.
	Root *Subvolume
}

// RootPath is the path of the root subvolume from the top level, "" for the top level: what
// a kernel command line names as rootflags=subvol=<path>.
func (l *BtrfsLayout) RootPath() string {
	if l == nil || l.Root == nil {
		return ""
	}
	return l.Root.Path
}

func (l *BtrfsLayout) byID(id uint64) *Subvolume {
	for i := range l.Subvolumes {
		if l.Subvolumes[i].ID == id {
			return &l.Subvolumes[i]
		}
	}
	return nil
}

func (l *BtrfsLayout) byPath(p string) *Subvolume {
	for i := range l.Subvolumes {
		if l.Subvolumes[i].Path == p {
			return &l.Subvolumes[i]
		}
	}
	return nil
}

// names lists up to n subvolume paths, for error messages.
func (l *BtrfsLayout) names(n int) string {
	var s []string
	for i, sv := range l.Subvolumes {
		if i == n {
			s = append(s, fmt.Sprintf("and %d more", len(l.Subvolumes)-n))
			break
		}
		s = append(s, sv.Path)
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// btrfsTool runs the host's btrfs tool with args, bounded in time and output.
func btrfsTool(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), BtrfsToolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "btrfs", args...)
	out := &headBuffer{max: maxBtrfsToolOutput}
	errOut := &tailBuffer{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = out, errOut
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	what := "btrfs " + strings.Join(args[:len(args)-1], " ")
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%s did not finish in %s", what, BtrfsToolTimeout)
	case out.over:
		return nil, fmt.Errorf("%s printed more than %d bytes: refusing the filesystem", what, maxBtrfsToolOutput)
	case err != nil:
		return nil, fmt.Errorf("%s: %v\n%s", what, err, errOut.summary(fsckSummaryLines))
	}
	return out.buf, nil
}

// headBuffer keeps the first max bytes written to it and notes whether more came.
type headBuffer struct {
	buf  []byte
	max  int
	over bool
}

func (b *headBuffer) Write(p []byte) (int, error) {
	if room := b.max - len(b.buf); len(p) > room {
		b.over = true
		b.buf = append(b.buf, p[:room]...)
		return len(p), nil
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

var (
	subvolListLine = regexp.MustCompile(`^ID (\d+) gen \d+ (?:cgen \d+ )?top level \d+ (?:otime .* )?path (.*)$`)
	subvolDefault  = regexp.MustCompile(`^ID (\d+)\b`)
)

// readBtrfsLayout lists the subvolumes of the btrfs top level mounted on dir.
func readBtrfsLayout(dir string) (*BtrfsLayout, error) {
	out, err := btrfsTool("subvolume", "list", dir)
	if err != nil {
		return nil, err
	}
	l := &BtrfsLayout{}
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" {
			continue
		}
		m := subvolListLine.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("btrfs subvolume list: unexpected line %q", truncate(line, 200))
		}
		id, err := strconv.ParseUint(m[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("btrfs subvolume list: bad ID in %q", truncate(line, 200))
		}
		p, err := CleanSubvolPath(m[2])
		if err != nil || p == "" {
			continue // a name this package will not handle is no candidate
		}
		if len(l.Subvolumes) == MaxSubvolumes {
			return nil, fmt.Errorf("more than %d btrfs subvolumes: refusing the filesystem", MaxSubvolumes)
		}
		l.Subvolumes = append(l.Subvolumes, Subvolume{ID: id, Path: p})
	}
	sort.Slice(l.Subvolumes, func(i, j int) bool { return l.Subvolumes[i].ID < l.Subvolumes[j].ID })
	out, err = btrfsTool("subvolume", "get-default", dir)
	if err != nil {
		return nil, err
	}
	m := subvolDefault.FindStringSubmatch(strings.TrimSpace(string(out)))
	if m == nil {
		return nil, fmt.Errorf("btrfs subvolume get-default: unexpected output %q", truncate(string(out), 200))
	}
	if l.Default, err = strconv.ParseUint(m[1], 10, 64); err != nil {
		return nil, fmt.Errorf("btrfs subvolume get-default: bad ID %q", m[1])
	}
	return l, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// inspectBtrfs mounts the top level of the btrfs filesystem on p read-only on probeDir, reads
// its subvolumes into p.Btrfs and picks the root subvolume (see the rule above). It reports
// whether a Linux root was found, with its fstab text. subvol, when set (root_subvolume),
// is the subvolume to take instead of the rule ("/" the top level): false when it is not one
// or holds no Linux root.
func inspectBtrfs(p *Partition, probeDir, subvol string) (bool, string, error) {
	if _, err := hostfile.MkdirAll(probeDir, 0o700); err != nil {
		return false, "", err
	}
	flags := uintptr(unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	if err := mountRetry(p.Device, probeDir, "btrfs", flags, "subvolid=5"); err != nil {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EUCLEAN) {
			return false, "", nil // damaged or not really btrfs
		}
		return false, "", fmt.Errorf("probe-mount %s: %w", p, err)
	}
	defer unmount(probeDir, probeDir)
	l, err := readBtrfsLayout(probeDir)
	if err != nil {
		return false, "", fmt.Errorf("btrfs on %s: %w", p, err)
	}
	p.Btrfs = l
	top, err := guestfs.OpenRoot(probeDir)
	if err != nil {
		return false, "", err
	}
	defer top.Close()

	if subvol != "" {
		path, err := CleanSubvolPath(subvol)
		if err != nil {
			return false, "", fmt.Errorf("root_subvolume: %w", err)
		}
		sv := l.byPath(path)
		if sv == nil && path != "" {
			return false, "", nil
		}
		ok, fstab := subvolIsRoot(top, sv)
		if ok {
			l.Root = sv
		}
		return ok, fstab, nil
	}

	// Rule 1: the default subvolume.
	if def := l.byID(l.Default); l.Default == btrfsTopLevel || def != nil {
		if ok, fstab := subvolIsRoot(top, def); ok {
			l.Root = def
			return true, fstab, nil
		}
	}
	// Rules 2 and 3: the subvolumes holding a Linux root.
	var cands, named []*Subvolume
	fstabs := map[*Subvolume]string{}
	for i := range l.Subvolumes {
		sv := &l.Subvolumes[i]
		if sv.ID == l.Default {
			continue // rule 1 looked at it
		}
		ok, fstab := subvolIsRoot(top, sv)
		if !ok {
			continue
		}
		cands, fstabs[sv] = append(cands, sv), fstab
		if e, found := FindFstab(ParseFstab(fstab), "/"); found {
			if path, id, has, err := subvolOption(e); err == nil && has && (id == sv.ID || (id == 0 && path == sv.Path)) {
				named = append(named, sv)
			}
		}
	}
	if l.Default != btrfsTopLevel {
		if ok, fstab := subvolIsRoot(top, nil); ok { // the top level, when the default is not it
			cands = append(cands, nil)
			fstabs[nil] = fstab
		}
	}
	pick := func(sv *Subvolume) (bool, string, error) { l.Root = sv; return true, fstabs[sv], nil }
	switch {
	case len(named) == 1:
		return pick(named[0])
	case len(cands) == 1:
		return pick(cands[0])
	case len(cands) == 0:
		return false, "", nil
	}
	var list []string
	for _, sv := range cands {
		if sv == nil {
			list = append(list, "the top level (subvolid=5)")
		} else {
			list = append(list, fmt.Sprintf("%s (subvolid=%d)", sv.Path, sv.ID))
		}
	}
	return false, "", fmt.Errorf("btrfs on %s: %d subvolumes hold a Linux root (%s), and neither the default subvolume "+
		"(ID %d) nor their own fstab picks one: set the default subvolume to the guest's root in the image "+
		"(btrfs subvolume set-default)", p, len(cands), strings.Join(list, ", "), l.Default)
}

// subvolIsRoot reports whether subvolume sv (nil: the top level), reached in-root through the
// top level top, holds a Linux root, with its fstab text.
func subvolIsRoot(top *guestfs.Root, sv *Subvolume) (bool, string) {
	dir := top.Dir()
	if sv != nil {
		f, err := top.OpenPath(sv.Path, false)
		if err != nil {
			return false, ""
		}
		defer f.Close()
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Ino != btrfsSubvolInode {
			return false, "" // not the subvolume's own root directory
		}
		dir = "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	}
	if !isLinuxRoot(dir) {
		return false, ""
	}
	r, err := guestfs.OpenRoot(dir)
	if err != nil {
		return false, ""
	}
	defer r.Close()
	fstab, _ := r.ReadFileLimit("/etc/fstab", MaxFstabSize)
	return true, string(fstab)
}

// subvolOption returns an fstab entry's subvol= path (cleaned) and subvolid= ID; has says
// whether it names either.
func subvolOption(e FstabEntry) (p string, id uint64, has bool, err error) {
	for _, o := range e.Options {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "subvol":
			has = true
			if p, err = CleanSubvolPath(v); err != nil {
				return "", 0, true, err
			}
		case "subvolid":
			has = true
			if id, err = strconv.ParseUint(v, 10, 64); err != nil || id == 0 {
				return "", 0, true, fmt.Errorf("subvolid %q is no subvolume ID", truncate(v, 40))
			}
		}
	}
	return p, id, has, nil
}

func hasSubvolPath(e FstabEntry) bool {
	for _, o := range e.Options {
		if strings.HasPrefix(o, "subvol=") {
			return true
		}
	}
	return false
}

// btrfsRootOptions returns options plus the subvolid= that mounts the chosen root subvolume of
// a btrfs root (options unchanged for another filesystem, or a btrfs FindRoot did not read).
func btrfsRootOptions(root *Partition, options []string) []string {
	if root.FSType != "btrfs" || root.Btrfs == nil {
		return options
	}
	id := uint64(btrfsTopLevel)
	if root.Btrfs.Root != nil {
		id = root.Btrfs.Root.ID
	}
	return append(append([]string(nil), options...), "subvolid="+strconv.FormatUint(id, 10))
}

// isBtrfsSubvolEntry reports whether fstab entry e mounts a subvolume of the btrfs filesystem
// on p: mountBtrfsSubvolumes mounts those.
func isBtrfsSubvolEntry(e FstabEntry, p *Partition) bool {
	_, _, has, _ := subvolOption(e)
	return has && p != nil && p.FSType == "btrfs"
}

// mountBtrfsSubvolumes mounts the guest fstab's btrfs subvolume entries: every one on the
// root's filesystem but / and /.snapshots, and those of other btrfs filesystems listed in
// opts.FstabMounts; parents first, each with mopts and its subvolid=. Entries are all checked
// before anything is mounted.
func (g *Guest) mountBtrfsSubvolumes(opts GuestOptions, mopts []string) error {
	wanted := map[string]bool{}
	for _, mp := range opts.FstabMounts {
		wanted[path.Clean(mp)] = true
	}
	type todo struct {
		e    FstabEntry
		p    *Partition
		file string
		opt  string
	}
	var mounts []todo
	seen := map[string]bool{}
	n := 0
	for _, e := range g.Fstab {
		if _, _, has, _ := subvolOption(e); !has || (e.FSType != "btrfs" && e.FSType != "auto" && e.FSType != "") {
			continue
		}
		line := fmt.Sprintf("%q", truncate(strings.Join([]string{e.Spec, e.File, e.FSType, strings.Join(e.Options, ",")}, " "), 200))
		if n++; n > MaxSubvolumeMounts {
			return fmt.Errorf("guest fstab has more than %d btrfs subvolume entries: refusing it", MaxSubvolumeMounts)
		}
		sub, id, _, err := subvolOption(e)
		if err != nil {
			return fmt.Errorf("guest fstab line %s: %w", line, err)
		}
		if !strings.HasPrefix(e.File, "/") {
			continue // swap, none
		}
		file := path.Clean(e.File)
		if file == "/" || seen[file] || e.HasOption("noauto") {
			continue
		}
		p, err := g.Disk.ResolveSpec(e.Spec)
		if err != nil {
			return fmt.Errorf("guest fstab line %s: %w", line, err)
		}
		if p == nil {
			if !wanted[file] || e.HasOption("nofail") {
				continue
			}
			return fmt.Errorf("guest fstab mounts %s from %s, which is on no partition of this disk (%s)", file, e.Spec, g.Disk.describe())
		}
		if p.FSType != "btrfs" {
			if !wanted[file] {
				continue
			}
			return fmt.Errorf("guest fstab line %s: subvolume of %s, which holds %q (blkid), not btrfs", line, p, p.FSType)
		}
		if p != g.Root && !wanted[file] {
			continue
		}
		if file == "/.snapshots" {
			g.Skipped = append(g.Skipped, "/.snapshots: snapper's snapshots subvolume, not mounted (old roots: nothing to clean, kept as they are)")
			continue
		}
		if l := p.Btrfs; l != nil {
			sv := l.byPath(sub)
			if id != 0 {
				sv = l.byID(id)
			}
			switch {
			case id == btrfsTopLevel || (id == 0 && sub == ""):
				id = btrfsTopLevel
			case sv == nil:
				return fmt.Errorf("guest fstab line %s: %s has no such subvolume (it has %s)", line, p, l.names(10))
			case id != 0 && hasSubvolPath(e) && sv.Path != sub:
				return fmt.Errorf("guest fstab line %s: subvol and subvolid name different subvolumes", line)
			default:
				id = sv.ID
			}
		}
		opt := "subvolid=" + strconv.FormatUint(id, 10)
		if id == 0 {
			opt = "subvol=/" + sub // no layout read: the kernel resolves it inside the filesystem
		}
		seen[file] = true
		mounts = append(mounts, todo{e, p, file, opt})
	}
	sort.SliceStable(mounts, func(i, j int) bool {
		return strings.Count(mounts[i].file, "/") < strings.Count(mounts[j].file, "/")
	})
	checked := map[*Partition]bool{g.Root: true}
	for _, t := range mounts {
		first := !checked[t.p]
		if first && opts.BeforeMount != nil {
			if err := opts.BeforeMount(t.p); err != nil {
				return err
			}
		}
		checked[t.p] = true
		if err := g.Mount(t.p.Device, t.file, "btrfs", append(append([]string(nil), mopts...), t.opt)); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("guest fstab mounts %s from subvolume %s of %s, which does not exist: %w", t.file, t.opt, t.p, err)
			}
			return err
		}
		if first {
			g.Filesystems = append(g.Filesystems, g.paths[len(g.paths)-1]) // trimmed once per filesystem
		}
	}
	return nil
}

// btrfsSubvolumeMount reports whether the mountinfo line f (with dir's statx stx) mounts the
// root directory of a btrfs subvolume: hard links never cross btrfs subvolumes (link(2) gives
// EXDEV), so, like a whole filesystem, such a tree cannot hold another name of a file outside
// it (OwnFilesystemMount).
func btrfsSubvolumeMount(f []string, stx unix.Statx_t) bool {
	for i := 6; i+1 < len(f); i++ {
		if f[i] == "-" {
			return f[i+1] == "btrfs" && stx.Ino == btrfsSubvolInode
		}
	}
	return false
}
