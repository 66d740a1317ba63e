package openstacktest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

func accOnly(t *testing.T) {
	t.Helper()
	testtier.Acceptance(t, "the all-in-one OpenStack cloud")
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

func setupScript() string {
	return filepath.Join(testimages.RepoRoot(), "test", "openstack-aio", "setup.sh")
}

func lockPath() string {
	cache := os.Getenv("CHROMOGENIC_CACHE")
	if cache == "" {
		cache = "/var/cache/chromogenic"
	}
	return filepath.Join(cache, "openstack-aio", "setup.lock")
}

// holdLock takes setup.sh's lock the way a running setup.sh holds it (flock on setup.lock).
func holdLock(t *testing.T) *os.File {
	t.Helper()
	f, err := os.OpenFile(lockPath(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestAccSetupOneAtATime: on a set-up machine, while another caller holds the lock (as a
// first setup.sh does during its package install), three setup.sh started at once (what
// `go test -p 3` does when three test binaries need the cloud) wait, say so and do nothing;
// once it is released they finish one after the other, each finding everything done, and the
// cloud answers. No service they started keeps the lock.
func TestAccSetupOneAtATime(t *testing.T) {
	accOnly(t)
	CloudsFile(t)
	f := holdLock(t)
	const n = 3
	outs := make([]bytes.Buffer, n)
	done := make(chan int, n)
	errs := make([]error, n)
	for i := range outs {
		cmd := exec.Command("bash", setupScript())
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { errs[i] = cmd.Wait(); done <- i }()
	}
	select {
	case i := <-done:
		f.Close()
		t.Fatalf("setup.sh #%d finished while the lock was held (%v):\n%s", i, errs[i], outs[i].String())
	case <-time.After(20 * time.Second):
	}
	f.Close() // release: the waiting runs go on, one at a time
	for range n {
		select {
		case <-done:
		case <-time.After(15 * time.Minute):
			t.Fatal("setup.sh did not finish after the lock was released")
		}
	}
	for i := range outs {
		out := outs[i].String()
		if errs[i] != nil {
			t.Errorf("setup.sh #%d: %v\n%s", i, errs[i], out)
		}
		w, d := strings.Index(out, "waiting for it"), strings.Index(out, "setup done")
		if w < 0 || d < w {
			t.Errorf("setup.sh #%d did not wait for the lock before it worked:\n%s", i, out)
		}
	}
	assertNoDaemonHoldsLock(t)
	ListImages(t, Connect(t, "aio-a"))
}

// assertNoDaemonHoldsLock fails when a process that is not a setup.sh (or one of its children)
// holds setup.sh's lock open: a daemon that inherited it would make every later setup.sh wait.
// Other test binaries' setup.sh runs may hold it meanwhile; they are not daemons.
func assertNoDaemonHoldsLock(t *testing.T) {
	t.Helper()
	lock := lockPath()
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		fds, _ := os.ReadDir(filepath.Join(p, "fd"))
		for _, fd := range fds {
			if target, _ := os.Readlink(filepath.Join(p, "fd", fd.Name())); target == lock && !underSetup(p) {
				cmdline, _ := os.ReadFile(filepath.Join(p, "cmdline"))
				t.Errorf("%s (%s) holds %s", p, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}), lock)
			}
		}
	}
}

// underSetup says whether the process or one of its ancestors is a setup.sh.
func underSetup(proc string) bool {
	for i := 0; i < 64 && proc != "/proc/0" && proc != "/proc/1"; i++ {
		cmdline, _ := os.ReadFile(filepath.Join(proc, "cmdline"))
		if bytes.Contains(cmdline, []byte("openstack-aio/setup.sh")) {
			return true
		}
		status, err := os.ReadFile(filepath.Join(proc, "status"))
		if err != nil {
			return false
		}
		ppid := ""
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "PPid:"); ok {
				ppid = strings.TrimSpace(v)
			}
		}
		proc = "/proc/" + ppid
	}
	return false
}
