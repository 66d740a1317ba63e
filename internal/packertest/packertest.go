// Package packertest runs the real packer binary against the plugin built from this checkout,
// for the acceptance tests of the builders, provisioners and post-processors.
//
// Packer loads plugins only from its plugin directory, so a test that ran the plugin installed
// by an earlier `make dev` would test stale code. Setup therefore builds the plugin from the
// working tree once per test binary and installs it into a plugin directory of its own.
package packertest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

// Env is a packer binary with the plugin of this checkout installed.
type Env struct {
	Packer     string // path of the packer binary
	PluginPath string // PACKER_PLUGIN_PATH holding only this plugin
}

var (
	once   sync.Once
	env    *Env
	envErr error
)

// Setup returns the test environment, building and installing the plugin on first use.
func Setup(t testing.TB) *Env {
	t.Helper()
	testtier.Acceptance(t, "the real packer binary")
	once.Do(func() { env, envErr = setup() })
	if envErr != nil {
		t.Fatalf("packertest: %v", envErr)
	}
	return env
}

func cacheDir() string {
	if c := os.Getenv("CHROMOGENIC_CACHE"); c != "" {
		return c
	}
	return "/var/cache/chromogenic"
}

func setup() (*Env, error) {
	packer, err := exec.LookPath("packer")
	if err != nil {
		packer = filepath.Join(cacheDir(), "bin", "packer")
		if _, err := os.Stat(packer); err != nil {
			return nil, fmt.Errorf("no packer binary on PATH nor at %s: run `make tools`", packer)
		}
	}
	root := testimages.RepoRoot()
	if root == "" {
		return nil, fmt.Errorf("repository root not found")
	}
	// One plugin directory per test process: two checkouts, or the same package run twice at
	// once, must not swap the plugin under each other's builds. Directories of processes that
	// are gone are removed.
	wd, _ := os.Getwd()
	base := filepath.Join(cacheDir(), "packertest")
	removeStale(base)
	dir := filepath.Join(base, fmt.Sprintf("%s-%d",
		strings.ReplaceAll(strings.TrimPrefix(wd, root), "/", "_"), os.Getpid()))
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "packer-plugin-chromogenic")
	build := exec.Command("go", "build", "-o", bin,
		"-ldflags", "-X github.com/chromogenic/packer-plugin-chromogenic/version.VersionPrerelease=dev", ".")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build plugin: %v\n%s", err, out)
	}
	e := &Env{Packer: packer, PluginPath: filepath.Join(dir, "plugins")}
	install := e.Command(root, "plugins", "install", "--path", bin, "github.com/chromogenic/chromogenic")
	if out, err := install.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("install plugin: %v\n%s", err, out)
	}
	return e, nil
}

// removeStale removes plugin directories (named <package>-<pid>) whose process has ended, and
// directories of the older layout unused for a day.
func removeStale(base string) {
	entries, _ := os.ReadDir(base)
	for _, e := range entries {
		i := strings.LastIndexByte(e.Name(), '-')
		pid, err := strconv.Atoi(e.Name()[i+1:])
		if err != nil {
			// The older layout: remove once it has not been used for a day.
			if info, err := e.Info(); err != nil || time.Since(info.ModTime()) < 24*time.Hour {
				continue
			}
		} else if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue
		}
		os.RemoveAll(filepath.Join(base, e.Name()))
	}
}

// Environ is the environment packer runs with.
func (e *Env) Environ() []string {
	return append(os.Environ(),
		"PACKER_PLUGIN_PATH="+e.PluginPath,
		"CHECKPOINT_DISABLE=1",
		"PACKER_NO_COLOR=1",
	)
}

// Command returns packer with args, run in dir, in its own process group.
func (e *Env) Command(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command(e.Packer, args...)
	cmd.Dir = dir
	cmd.Env = e.Environ()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// Result is a finished packer run.
type Result struct {
	Err    error
	Output string // stdout and stderr interleaved
	Log    string // PACKER_LOG output
}

// Build writes template to dir/template.pkr.hcl and runs `packer build` on it with args
// (e.g. "-var", "x=y"), killing it after timeout.
func (e *Env) Build(t testing.TB, dir, template string, timeout time.Duration, args ...string) *Result {
	t.Helper()
	cmd, out, logPath := e.prepareBuild(t, dir, template, args...)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start packer: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		err = <-done
		err = fmt.Errorf("packer build timed out after %s: %v", timeout, err)
	}
	logText, _ := os.ReadFile(logPath)
	return &Result{Err: err, Output: out.String(), Log: string(logText)}
}

// MustBuild is Build for a build that has to succeed: it fails the test with packer's output
// when the build fails, and logs how long it took.
func (e *Env) MustBuild(t testing.TB, dir, template string, timeout time.Duration, args ...string) *Result {
	t.Helper()
	start := time.Now()
	res := e.Build(t, dir, template, timeout, args...)
	if res.Err != nil {
		t.Fatalf("packer build: %v\n%s", res.Err, res.Output)
	}
	t.Logf("build took %s", time.Since(start).Round(time.Second))
	return res
}

// WantOutput fails the test, showing the output, if the build's output lacks any of wants.
func (r *Result) WantOutput(t testing.TB, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(r.Output, w) {
			t.Errorf("output lacks %q:\n%s", w, r.Output)
		}
	}
}

// Run is a packer build running in the background (Start), for tests that act while it
// runs: interrupt it, kill it, or watch the cloud.
type Run struct {
	Cmd    *exec.Cmd
	Output *SyncBuffer // stdout and stderr interleaved, as they come
	done   chan error
	ended  bool
	err    error
}

// Start starts `packer build` like Build but returns at once.
func (e *Env) Start(t testing.TB, dir, template string, args ...string) *Run {
	t.Helper()
	cmd, out, _ := e.prepareBuild(t, dir, template, args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start packer: %v", err)
	}
	r := &Run{Cmd: cmd, Output: out, done: make(chan error, 1)}
	go func() { r.done <- cmd.Wait() }()
	return r
}

// wait waits up to d for packer to end; it reports whether it has.
func (r *Run) wait(d time.Duration) bool {
	if r.ended {
		return true
	}
	select {
	case r.err = <-r.done:
		r.ended = true
	case <-time.After(d):
	}
	return r.ended
}

// Kill kills packer's whole process group (packer and its plugins, no cleanup runs) and
// waits for it.
func (r *Run) Kill() {
	if !r.ended {
		syscall.Kill(-r.Cmd.Process.Pid, syscall.SIGKILL)
		r.wait(time.Hour)
	}
}

// Until polls cond every 200 ms until it holds. It fails the test if packer ends first or
// timeout passes (packer is then killed); before failing it calls each of onFail (to
// clean up what the build made).
func (r *Run) Until(t testing.TB, what string, timeout time.Duration, cond func() bool, onFail ...func()) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if r.wait(200 * time.Millisecond) {
			for _, f := range onFail {
				f()
			}
			t.Fatalf("packer ended (%v) before %s:\n%s", r.err, what, r.Output)
		}
		if time.Now().After(deadline) {
			r.Kill()
			for _, f := range onFail {
				f()
			}
			t.Fatalf("%s: not within %s:\n%s", what, timeout, r.Output)
		}
	}
}

// Interrupt sends SIGINT to packer's process group, as a user's Ctrl-C in its terminal
// does, and waits up to within for packer to exit. The test fails if packer does not exit
// in time (it is then killed) or if the build succeeds anyway. It returns how long packer
// took to exit.
func (r *Run) Interrupt(t testing.TB, within time.Duration) time.Duration {
	t.Helper()
	if err := syscall.Kill(-r.Cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if !r.wait(within) {
		r.Kill()
		t.Fatalf("packer did not stop within %s of SIGINT:\n%s", within, r.Output)
	}
	took := time.Since(start)
	if r.err == nil {
		t.Errorf("packer build succeeded after an interrupt:\n%s", r.Output)
	}
	t.Logf("packer exited %s after SIGINT", took.Round(100*time.Millisecond))
	return took
}

func (e *Env) prepareBuild(t testing.TB, dir, template string, args ...string) (*exec.Cmd, *SyncBuffer, string) {
	t.Helper()
	tpl := filepath.Join(dir, "template.pkr.hcl")
	if err := os.WriteFile(tpl, []byte(template), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "packer.log")
	cmd := e.Command(dir, append(append([]string{"build"}, args...), tpl)...)
	cmd.Env = append(cmd.Env, "PACKER_LOG=1", "PACKER_LOG_PATH="+logPath)
	out := &SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	return cmd, out, logPath
}

// SyncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
