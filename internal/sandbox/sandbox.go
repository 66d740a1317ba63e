//go:build linux

package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
)

// Env is the whole environment of a guest program: nothing of the host's (cloud credentials,
// proxies, the plugin's own settings) reaches the guest. Options.Env adds to it.
var Env = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root", "LANG=C", "LC_ALL=C", "TERM=dumb", "DEBIAN_FRONTEND=noninteractive",
	// Bootloader tools never look at the host's other disks.
	"GRUB_DISABLE_OS_PROBER=true",
}

// Capabilities are what a guest program keeps (bounding, effective and permitted sets):
// enough for package managers (dpkg, rpm, apt's _apt sandbox) and initramfs tools to own,
// chmod and chown files and drop privileges; nothing to mount, make devices, load modules,
// trace processes, reach raw I/O or configure the network.
var Capabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_SETFCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE",
}

// Options says how a guest program runs.
type Options struct {
	// Network keeps the host's network (a provisioner's apt-get); false gives the program a
	// network namespace with only its own loopback.
	Network bool
	// Env is added to Env (KEY=VALUE).
	Env []string
	// TrustGuest runs the program with plain chroot(2) and no sandbox (the templates'
	// `sandbox = false`): the guest can reach the host through the /proc, /sys and /dev the
	// caller mounted in the tree. The environment stays Env.
	TrustGuest bool
	// Dir is the working directory inside the guest; "" is "/".
	Dir            string
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// ErrNoBwrap is returned when bubblewrap is not installed.
var ErrNoBwrap = errors.New("guest programs run in a bubblewrap sandbox, and bwrap is not installed " +
	"(apt-get install bubblewrap, dnf install bubblewrap); or set sandbox = false in the template, " +
	"which trusts the guest")

// Check says whether guest programs can be sandboxed here (bwrap found, architecture known).
func Check() error {
	if _, err := exec.LookPath("bwrap"); err != nil {
		return ErrNoBwrap
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		return fmt.Errorf("the guest-program sandbox needs setpriv (util-linux) to cut the capability bounding set: %w", err)
	}
	if len(archTables()) == 0 {
		return fmt.Errorf("the guest-program sandbox has no seccomp filter for this architecture: set sandbox = false, which trusts the guest")
	}
	return nil
}

// Cmd is a guest program ready to start; Close releases what it holds once it has ended.
type Cmd struct {
	*exec.Cmd
	filter *os.File
}

// Close releases the seccomp descriptor (after Wait).
func (c *Cmd) Close() error {
	if c.filter != nil {
		return c.filter.Close()
	}
	return nil
}

// Command prepares argv (argv[0] a guest path) to run inside the guest tree mounted on root.
// The program is killed, with everything it started, when ctx ends.
func Command(ctx context.Context, root string, argv []string, o Options) (*Cmd, error) {
	if len(argv) == 0 || !strings.HasPrefix(argv[0], "/") {
		return nil, fmt.Errorf("sandbox: want an absolute guest program path, got %q", argv)
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if o.TrustGuest {
		return chrootCommand(ctx, root, argv, o), nil
	}
	if err := Check(); err != nil {
		return nil, err
	}
	prog, err := Filter()
	if err != nil {
		return nil, err
	}
	filter, err := memfile("chromogenic-seccomp", prog)
	if err != nil {
		return nil, err
	}
	args := append([]string{"--bounding-set", boundingSet(o), "--", "bwrap"}, bwrapArgs(root, loopsUnder(root), o)...)
	args = append(append(args, "--"), argv...)
	cmd := exec.CommandContext(ctx, "setpriv", args...)
	cmd.Env = append(append([]string(nil), Env...), o.Env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = o.Stdin, o.Stdout, o.Stderr
	cmd.ExtraFiles = []*os.File{filter} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	return &Cmd{Cmd: cmd, filter: filter}, nil
}

// chrootCommand is argv under chroot(2) in root: no namespaces, no filter.
func chrootCommand(ctx context.Context, root string, argv []string, o Options) *Cmd {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Path = argv[0] // resolved inside the chroot by execve, never looked up on the host
	cmd.Dir = o.Dir
	if cmd.Dir == "" {
		cmd.Dir = "/"
	}
	cmd.Env = append(append([]string(nil), Env...), o.Env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = o.Stdin, o.Stdout, o.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	return &Cmd{Cmd: cmd}
}

// boundingSet is setpriv's --bounding-set for bwrap: Capabilities, plus what bwrap itself
// needs to build the sandbox (CAP_SYS_ADMIN for its mounts and pivot_root, CAP_NET_ADMIN to
// bring up the loopback of a new network namespace). bwrap, started by root, leaves the
// bounding set as it finds it and cuts the effective, permitted, inheritable and ambient sets
// to Capabilities with securebits that keep exec from giving root its capabilities back; with
// no_new_privs and nosuid guest mounts, the two extra ones cannot be raised again.
func boundingSet(o Options) string {
	set := []string{"-all", "+sys_admin"}
	if !o.Network {
		set = append(set, "+net_admin")
	}
	for _, c := range Capabilities {
		set = append(set, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	return strings.Join(set, ",")
}

// procMasks are /proc entries a guest program only reads (ro) or never sees (hidden), as
// container runtimes do: sysctls such as kernel.core_pattern and kernel.modprobe name
// programs the host kernel runs as root, sysrq-trigger reboots the host; the hidden ones
// show host memory, keys and scheduling.
var procMasks = []struct {
	path string
	ro   bool
}{
	{"/proc/sys", true}, {"/proc/sysrq-trigger", true}, {"/proc/fs", true},
	{"/proc/kcore", false}, {"/proc/keys", false}, {"/proc/timer_list", false},
	{"/proc/sched_debug", false}, {"/proc/latency_stats", false}, {"/proc/acpi", false},
	{"/proc/scsi", false},
}

// bwrapArgs is bwrap's command line before "--".
func bwrapArgs(root string, devices []string, o Options) []string {
	dir := o.Dir
	if dir == "" {
		dir = "/"
	}
	args := []string{
		"--die-with-parent", "--new-session",
		"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
		"--hostname", "chromogenic-guest",
		"--bind", root, "/",
		"--proc", "/proc",
		"--dev", "/dev",
	}
	for _, m := range procMasks {
		fi, err := os.Stat(m.path) // the new procfs has what the host's has
		switch {
		case err != nil:
		case m.ro:
			args = append(args, "--ro-bind", m.path, m.path)
		case fi.IsDir():
			args = append(args, "--tmpfs", m.path, "--remount-ro", m.path)
		default:
			args = append(args, "--ro-bind", "/dev/null", m.path)
		}
	}
	if !o.Network {
		args = append(args, "--unshare-net")
	}
	for _, d := range devices {
		args = append(args, "--dev-bind", d, d)
	}
	args = append(args, "--cap-drop", "ALL")
	for _, c := range Capabilities {
		args = append(args, "--cap-add", c)
	}
	return append(args, "--seccomp", "3", "--chdir", dir)
}

// Output runs argv in the guest tree on root as o says (its Stdout and Stderr are replaced)
// and returns the combined output; its signature, as a method value, is the clean engine's
// Exec.
func (o Options) Output(ctx context.Context, root string, argv []string) ([]byte, error) {
	var out bytes.Buffer
	o.Stdout, o.Stderr = &out, &out
	cmd, err := Command(ctx, root, argv, o)
	if err != nil {
		return nil, err
	}
	defer cmd.Close()
	err = cmd.Run()
	return out.Bytes(), err
}

// memfile returns a sealed-size in-memory file holding b, positioned at its start.
func memfile(name string, b []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("sandbox: memfd: %w", err)
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

var loopDev = regexp.MustCompile(`^/dev/loop[0-9]+$`)

// loopsUnder returns the loop devices that filesystems mounted on root or below it come from:
// the working copy's own devices, which bootloader tools look up (grub-probe opens the
// device of "/"). Nothing else of the host's /dev is given.
func loopsUnder(root string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range chroot.MountsUnder(root) {
		if loopDev.MatchString(m.Source) && !seen[m.Source] {
			seen[m.Source] = true
			out = append(out, m.Source)
		}
	}
	return out
}
