//go:build linux

package chroot

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// killChild runs the test named test of this binary as a child process with env added and
// its leases under dir, waits for the child's first line to start with ready (the child
// prints it once it holds an open image), then kills it with SIGKILL, as a build killed
// mid-way. LeaseDir is the child's until the test ends; RecoverStale runs at cleanup should
// the test fail half-way.
func killChild(t *testing.T, dir, test, ready string, env ...string) {
	t.Helper()
	leases := filepath.Join(dir, "leases")
	old := LeaseDir
	LeaseDir = leases
	t.Cleanup(func() { LeaseDir = old })
	t.Cleanup(func() { RecoverStale() })
	cmd := exec.Command(os.Args[0], "-test.run", "^"+test+"$")
	cmd.Env = append(append(os.Environ(), env...), "CHROMOGENIC_LEASE_DIR="+leases)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make([]byte, 256)
	n, _ := out.Read(line)
	if !strings.HasPrefix(string(line[:n]), ready) {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child: %q", line[:n])
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
}

// recoverKilled runs RecoverStale, which must release exactly the one killed child's lease,
// and waits (up to 10 s) for the kernel to drop the loop devices backed by images.
func recoverKilled(t *testing.T, images ...string) {
	t.Helper()
	released, err := RecoverStale()
	if err != nil || len(released) != 1 {
		t.Fatalf("RecoverStale: %v %v", released, err)
	}
	backed := func() (n int) {
		for _, im := range images {
			n += len(LoopsBackedBy(im))
		}
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for backed() > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
}
