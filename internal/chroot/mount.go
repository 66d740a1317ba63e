//go:build linux

package chroot

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/hostfile"
)

// Mounts is a stack of mounts under one guest root directory, released in reverse order.
type Mounts struct {
	Root  string   // host directory the guest root is mounted on
	paths []string // host paths mounted, in mount order
	guest *guestfs.Root
	lease bool // a lease file records this mount (see RecoverStale)
}

// DefaultMountBase is the directory of the default mount paths (/mnt/chromogenic/<device>).
const DefaultMountBase = "/mnt/chromogenic"

// NewMounts prepares mounting a guest tree on dir, creating dir and its missing parents with
// mode 0700: a mounted guest holds its secrets and setuid programs, and only root may reach
// them. The guest root mounted on dir shows its own mode there, so it is the parent that keeps
// other users out: DefaultMountBase is set to 0700 even when it existed; a parent the user
// made for a custom mount_path is left as it is.
func NewMounts(dir string) (*Mounts, error) {
	if _, err := hostfile.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if filepath.Dir(filepath.Clean(dir)) == DefaultMountBase {
		if err := os.Chmod(DefaultMountBase, 0o700); err != nil {
			return nil, err
		}
	}
	abs, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, err
	}
	return &Mounts{Root: abs}, nil
}

// Paths returns the host paths currently mounted, in mount order.
func (m *Mounts) Paths() []string { return append([]string(nil), m.paths...) }

// MountRoot mounts the guest's root filesystem on m.Root.
func (m *Mounts) MountRoot(device, fstype string, options []string) error {
	if len(m.paths) > 0 {
		return errors.New("guest root already mounted")
	}
	flags, data := ParseOptions(fsTypeOptions(fstype, options))
	if err := mountRetry(device, m.Root, fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s (%s) on %s: %w", device, fstype, m.Root, err)
	}
	m.paths = append(m.paths, m.Root)
	g, err := guestfs.OpenRoot(m.Root)
	if err != nil {
		return err
	}
	m.guest = g
	return nil
}

// Guest returns in-root access to the mounted guest tree.
func (m *Mounts) Guest() *guestfs.Root { return m.guest }

// Mount mounts source on the guest path target (created if missing). The target is resolved
// inside the guest root and must not itself be a symlink, so a hostile image cannot point a
// mount at a host directory. fstype "bind" makes a bind mount of the host path source.
func (m *Mounts) Mount(source, target, fstype string, options []string) error {
	if m.guest == nil {
		return errors.New("guest root not mounted")
	}
	if err := m.guest.MkdirAll(target, 0o755); err != nil {
		return fmt.Errorf("create mount point %s in the guest: %w", target, err)
	}
	fd, err := m.guest.OpenPath(target, false)
	if err != nil {
		return fmt.Errorf("open mount point %s in the guest: %w", target, err)
	}
	defer fd.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(fd.Fd()), &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("guest mount point %s is not a directory (a symlink?): refusing to mount on it", target)
	}
	procPath := "/proc/self/fd/" + strconv.Itoa(int(fd.Fd()))
	hostPath, err := os.Readlink(procPath)
	if err != nil {
		return err
	}
	if hostPath != m.Root && !strings.HasPrefix(hostPath, m.Root+"/") {
		return fmt.Errorf("guest mount point %s resolved outside the guest root (%s)", target, hostPath)
	}
	flags, data := ParseOptions(fsTypeOptions(fstype, options))
	if fstype == "bind" {
		flags |= unix.MS_BIND
		fstype = ""
	}
	if err := mountRetry(source, procPath, fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s on %s: %w", source, target, err)
	}
	m.paths = append(m.paths, hostPath)
	return nil
}

// fsTypeOptions adds the options a filesystem type always needs here to options: "nouuid"
// for XFS. XFS refuses to mount a filesystem whose UUID equals one already mounted (the
// kernel logs "Filesystem has duplicate UUID" and mount(2) fails with EINVAL), which is what a
// working copy is when its source, or a second capture of the same image, is mounted on the
// host. nouuid skips only that check (xfs(5): "don't check for double mounted file systems
// using the file system uuid"): log recovery still runs, against this filesystem's own log. It is added
// always rather than after an EINVAL, because EINVAL names no cause (a damaged superblock gives
// it too) and the check protects nothing here: the UUID table cannot tell a clone from the
// same filesystem mounted twice, which Exclusive and the leases guard against instead.
func fsTypeOptions(fstype string, options []string) []string {
	if fstype != "xfs" {
		return options
	}
	for _, o := range options {
		for _, opt := range strings.Split(o, ",") {
			if strings.TrimSpace(opt) == "nouuid" {
				return options
			}
		}
	}
	return append(append([]string(nil), options...), "nouuid")
}

// mountRetry retries EBUSY briefly: a freshly configured loop device can be busy for a moment.
func mountRetry(source, target, fstype string, flags uintptr, data string) error {
	var err error
	for i := 0; i < 20; i++ {
		err = unix.Mount(source, target, fstype, flags, data)
		if !errors.Is(err, unix.EBUSY) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

// UnmountAll unmounts everything in reverse order. Processes left running inside the guest
// tree (daemons a provisioner started) are killed first when a mount is busy.
func (m *Mounts) UnmountAll() error {
	if m.guest != nil {
		m.guest.Close()
		m.guest = nil
	}
	var errs []error
	if len(m.paths) > 0 {
		// A sandboxed program still running holds the guest filesystems in its own mount
		// namespace, where unmounting here would not reach: it must end first.
		KillProcessesIn(m.Root)
	}
	for len(m.paths) > 0 {
		p := m.paths[len(m.paths)-1]
		if err := unmount(p, m.Root); err != nil {
			errs = append(errs, err)
		}
		m.paths = m.paths[:len(m.paths)-1]
	}
	if m.lease && len(errs) == 0 {
		dropLease(m.Root)
		m.lease = false
	}
	return errors.Join(errs...)
}

// UnmountTop unmounts the n most recent mounts.
func (m *Mounts) UnmountTop(n int) error {
	var errs []error
	for ; n > 0 && len(m.paths) > 0; n-- {
		p := m.paths[len(m.paths)-1]
		if err := unmount(p, m.Root); err != nil {
			errs = append(errs, err)
		}
		m.paths = m.paths[:len(m.paths)-1]
	}
	return errors.Join(errs...)
}

func unmount(path, root string) error {
	var err error
	for i := 0; i < 50; i++ {
		err = unix.Unmount(path, unix.UMOUNT_NOFOLLOW)
		if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			return nil // unmounted, or already not a mount point
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		if i == 0 || i == 20 {
			KillProcessesIn(root)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("unmount %s: %w", path, err)
}

// KillProcessesIn kills processes whose root directory or working directory is inside dir,
// and processes of another mount namespace whose root is the filesystem mounted on dir (a
// sandboxed guest program, pivoted into the guest): what a provisioner left running would
// otherwise keep the mounts busy or hold the guest filesystems after they are released here.
func KillProcessesIn(dir string) int {
	killed := 0
	self := os.Getpid()
	rootDev := ""
	var st unix.Stat_t
	if unix.Stat(dir, &st) == nil {
		rootDev = fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	}
	procs, _ := os.ReadDir("/proc")
	for _, e := range procs {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		inside := false
		for _, link := range []string{"root", "cwd"} {
			t, err := os.Readlink(filepath.Join("/proc", e.Name(), link))
			if err == nil && (t == dir || strings.HasPrefix(t, dir+"/")) {
				inside = true
			}
		}
		if !inside && rootDev != "" {
			inside = nsRootIs(pid, rootDev)
		}
		if inside {
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				killed++
			}
		}
	}
	if killed > 0 {
		time.Sleep(200 * time.Millisecond)
	}
	return killed
}

// nsRootIs reports whether process pid lives in another mount namespace whose "/" is the
// root of the filesystem dev (major:minor).
func nsRootIs(pid int, dev string) bool {
	if self, err := os.Readlink("/proc/self/ns/mnt"); err != nil {
		return false
	} else if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid)); err != nil || ns == self {
		return false
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		return false
	}
	defer f.Close()
	raw, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	for _, line := range strings.Split(string(raw), "\n") {
		// id parent major:minor root mountpoint ...: the last mount on "/" is the root.
		fl := strings.Fields(line)
		if len(fl) >= 5 && fl[4] == "/" && fl[2] == dev && fl[3] == "/" {
			return true
		}
	}
	return false
}

// MountedUnder lists the mount points at or below dir, from /proc/self/mountinfo.
func MountedUnder(dir string) []string {
	var out []string
	for _, m := range MountsUnder(dir) {
		out = append(out, m.Point)
	}
	return out
}

// MountInfo is one line of /proc/self/mountinfo.
type MountInfo struct {
	Point, FSType, Source string
}

// MountsUnder lists the mounts at or below dir, in mount order.
func MountsUnder(dir string) []MountInfo {
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []MountInfo
	for _, line := range strings.Split(string(raw), "\n") {
		// id parent major:minor root mountpoint options [optional...] - fstype source superopts
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		m := MountInfo{Point: unescapeMount(f[4])}
		if m.Point != dir && !strings.HasPrefix(m.Point, dir+"/") {
			continue
		}
		for i := 6; i+2 < len(f); i++ {
			if f[i] == "-" {
				m.FSType, m.Source = f[i+1], unescapeMount(f[i+2])
				break
			}
		}
		out = append(out, m)
	}
	return out
}

// unescapeMount undoes the octal escapes (\040 ...) of mountinfo and fstab fields.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

var flagOptions = map[string]struct {
	set   bool
	value uintptr
}{
	"ro": {true, unix.MS_RDONLY}, "rw": {false, unix.MS_RDONLY},
	"nosuid": {true, unix.MS_NOSUID}, "suid": {false, unix.MS_NOSUID},
	"nodev": {true, unix.MS_NODEV}, "dev": {false, unix.MS_NODEV},
	"noexec": {true, unix.MS_NOEXEC}, "exec": {false, unix.MS_NOEXEC},
	"noatime": {true, unix.MS_NOATIME}, "atime": {false, unix.MS_NOATIME},
	"nodiratime": {true, unix.MS_NODIRATIME}, "relatime": {true, unix.MS_RELATIME},
	"sync": {true, unix.MS_SYNCHRONOUS}, "async": {false, unix.MS_SYNCHRONOUS},
	"defaults": {false, 0},
}

// GuestMountOptions returns the options every guest filesystem is mounted with: options plus
// nosuid and nodev, unless options explicitly ask for suid or dev. A guest's setuid programs
// and device nodes must not work on the host, and a template that sets mount_options for
// another reason (noatime, ro...) must not lose that by accident.
func GuestMountOptions(options []string) []string {
	suid, dev := false, false
	var user []string
	for _, o := range options {
		for _, opt := range strings.Split(o, ",") {
			opt = strings.TrimSpace(opt)
			switch opt {
			case "":
				continue
			case "suid":
				suid = true
			case "dev":
				dev = true
			}
			user = append(user, opt)
		}
	}
	var out []string
	if !suid {
		out = append(out, "nosuid")
	}
	if !dev {
		out = append(out, "nodev")
	}
	for _, o := range user {
		if (o == "nosuid" && !suid) || (o == "nodev" && !dev) {
			continue // already first
		}
		out = append(out, o)
	}
	return out
}

// ParseOptions turns mount(8)-style options into mount(2) flags and filesystem data.
func ParseOptions(options []string) (uintptr, string) {
	var flags uintptr
	var data []string
	for _, o := range options {
		for _, opt := range strings.Split(o, ",") {
			opt = strings.TrimSpace(opt)
			if opt == "" {
				continue
			}
			if f, ok := flagOptions[opt]; ok {
				if f.set {
					flags |= f.value
				} else {
					flags &^= f.value
				}
				continue
			}
			data = append(data, opt)
		}
	}
	return flags, strings.Join(data, ",")
}

// OwnFilesystemMount reports whether dir is the mount point of a whole filesystem of its own:
// a mount whose mount point is dir and whose root is the filesystem's root (not a bind mount
// of a subdirectory), other than the host's /. A guest filesystem the builder mounted is one;
// a plain host directory, or a bind of one, is not. Hard links never cross filesystems, so a
// hard-linked file in such a tree cannot be a host file's other name (guestfs'
// AllowHardlinkWrites may be set for it).
func OwnFilesystemMount(dir string) (bool, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false, err
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return false, err
	}
	if abs == "/" {
		return false, nil
	}
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, abs, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID|unix.STATX_INO, &stx); err != nil {
		return false, err
	}
	if stx.Mask&unix.STATX_MNT_ID == 0 {
		return false, errors.New("statx: this kernel reports no mount id")
	}
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	id := strconv.FormatUint(stx.Mnt_id, 10)
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[0] != id {
			continue
		}
		// f[3]: root of the mount within its filesystem; f[4]: mount point.
		if unescapeMount(f[4]) == abs && unescapeMount(f[3]) != "/" {
			return btrfsSubvolumeMount(f, stx), nil // a btrfs subvolume is a tree of its own (btrfs.go)
		}
		return unescapeMount(f[4]) == abs && unescapeMount(f[3]) == "/", nil
	}
	return false, fmt.Errorf("mount %s of %s not in /proc/self/mountinfo", id, abs)
}
