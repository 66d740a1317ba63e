package openstacktest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
)

func accOnly(t *testing.T) {
	t.Helper()
	if os.Getenv("PACKER_ACC") != "1" {
		t.Skip("acceptance test: set PACKER_ACC=1")
	}
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

// TestAccSetupWaitsForLock: while another caller holds the lock (as a first setup.sh does
// during its package install), a second setup.sh waits, says so, and does nothing; once the
// lock is released it goes on and finishes. No service it starts keeps the lock.
func TestAccSetupWaitsForLock(t *testing.T) {
	accOnly(t)
	CloudsFile(t) // the machine is set up: the second run only checks
	f := holdLock(t)
	var out bytes.Buffer
	cmd := exec.Command("bash", setupScript())
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	held := 20 * time.Second
	select {
	case err := <-done:
		f.Close()
		t.Fatalf("setup.sh finished while the lock was held (%v):\n%s", err, out.String())
	case <-time.After(held):
	}
	if !strings.Contains(out.String(), "waiting for it") {
		t.Errorf("setup.sh did not say it waits:\n%s", out.String())
	}
	if strings.Contains(out.String(), "setup done") {
		t.Errorf("setup.sh worked while the lock was held:\n%s", out.String())
	}
	f.Close() // release: the waiting run goes on
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("setup.sh after the lock was released: %v\n%s", err, out.String())
		}
	case <-time.After(10 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("setup.sh did not finish after the lock was released:\n%s", out.String())
	}
	assertUnlocked(t)
}

// TestAccSetupThreeAtOnce starts setup.sh three times at once on a set-up machine (what
// `go test -p 3` does when three test binaries need the cloud): all three succeed, they ran
// one after the other (two waited), and the cloud answers afterwards.
func TestAccSetupThreeAtOnce(t *testing.T) {
	accOnly(t)
	CloudsFile(t)
	var wg sync.WaitGroup
	outs := make([]bytes.Buffer, 3)
	errs := make([]error, 3)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command("bash", setupScript())
			cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
			errs[i] = cmd.Run()
		}()
	}
	wg.Wait()
	waited := 0
	for i := range outs {
		if errs[i] != nil {
			t.Errorf("setup.sh #%d: %v\n%s", i, errs[i], outs[i].String())
		}
		if strings.Contains(outs[i].String(), "waiting for it") {
			waited++
		}
	}
	if waited < 1 {
		t.Errorf("no setup.sh waited for another (they ran at the same time)")
	}
	assertUnlocked(t)
	c := Connect(t, "aio-a")
	ListImages(t, c)
}

// assertUnlocked fails when anything still holds setup.sh's lock (a daemon that inherited it).
func assertUnlocked(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(lockPath(), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatalf("setup.lock is still held after every setup.sh ended (a daemon inherited it?): %v", err)
	}
	unix.Flock(int(f.Fd()), unix.LOCK_UN)
}
