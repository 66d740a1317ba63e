package hostile

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
)

// localTemplate is a chromogenic-local build of var.source_path; %[1]s goes into the source
// block, %[2]s into the build block.
const localTemplate = `
variable "source_path" { type = string }
variable "out" { type = string }

source "chromogenic-local" "hostile" {
  source_path      = var.source_path
  output_directory = "${var.out}/work"
  mount_path       = "${var.out}/mnt"
  root_partition   = 1
%[1]s
}

build {
  sources = ["source.chromogenic-local.hostile"]
%[2]s
}
`

const shellProvisioner = `
  provisioner "shell" {
    inline = ["echo provisioning the hostile guest"]
  }
`

const cleanKVMProvisioner = `
  provisioner "chromogenic-clean" {
    operations  = ["machine-id"]
    target      = "kvm"
    report_file = "${var.out}/clean-report.json"
  }
`

const bootablePostProcessor = `
  post-processor "chromogenic-convert" {
    formats          = ["raw"]
    output_directory = "${var.out}/converted"
    file_name        = "bootable"
    bootable {
      firmware = "efi"
    }
  }
`

// packerRun is one packer build of a hostile image.
type packerRun struct {
	dir, out, src string
	res           *packertest.Result
}

func runPacker(t *testing.T, s *scenario, flavor guestFlavor, source, build string) *packerRun {
	t.Helper()
	env := packertest.Setup(t)
	dir := t.TempDir()
	r := &packerRun{dir: dir, out: filepath.Join(dir, "out")}
	r.src = makeImage(t, dir, "hostile-source.raw", flavor, s.target(t))
	start := time.Now()
	r.res = env.Build(t, dir, fmt.Sprintf(localTemplate, source, build), buildTimeout,
		"-var", "source_path="+r.src, "-var", "out="+r.out)
	t.Logf("packer build took %s (err %v)", time.Since(start).Round(time.Second), r.res.Err)
	t.Cleanup(func() { checkHeld(t, dir) })
	return r
}

// artifact is the builder's working copy (kept: no post-processor drops it).
func (r *packerRun) artifact() string { return filepath.Join(r.out, "work", "hostile.raw") }

// requireFile fails the test now when path is missing, showing the build's output.
func (r *packerRun) requireFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%v (build error %v):\n%s", err, r.res.Err, tail(r.res.Output, 80))
	}
}

// TestHostileGuest runs the hostile guest programs through every path that runs guest
// programs. Each subtest passes when the host keeps no mark (canary files, canary block
// device, core_pattern, victim process), the artifact holds no sentinel, the program's
// report in the guest proves it ran, with every attempt failed, and the build went on or
// failed naming the guest program.
func TestHostileGuest(t *testing.T) {
	accOnly(t)
	binaries(t)
	packertest.Setup(t)

	// The positive control: with sandbox = false ("trusts the guest") the same guest must
	// leave its marks, or the checks below prove nothing. It runs first and alone (not
	// parallel): the kernel.core_pattern it changes is restored before the others start.
	t.Run("local-shell-sandbox-false", func(t *testing.T) {
		if !sandboxOptionKnown(t) {
			t.Skipf("the builder has no `sandbox` option yet (packer validate: %s)", firstLine(sandboxFalseOutput))
		}
		s := newScenario(t, "sandbox-false")
		r := runPacker(t, s, debianGuest, "  sandbox = false\n", shellProvisioner)
		if r.res.Err != nil {
			t.Errorf("packer build failed: %v\n%s", r.res.Err, tail(r.res.Output, 60))
		}
		r.requireFile(t, r.artifact())
		marks := s.marks(t)
		if len(marks) == 0 {
			t.Errorf("with sandbox = false the hostile /bin/sh left no mark on the host: the canaries cannot see an escape")
		}
		escaped := false
		for _, m := range marks {
			t.Logf("expected mark: %s", m)
			escaped = escaped || strings.Contains(m, "-double-chroot") || strings.Contains(m, "-proc")
		}
		if !escaped {
			t.Errorf("with sandbox = false no canary file was written through a chroot escape or /proc/<pid>/root")
		}
		reps := checkReportsLenient(t, r.artifact(), "sh")
		if reps["sh"] == nil {
			t.Errorf("no report of the guest's /bin/sh")
		}
	})

	// chromogenic-local + shell provisioner: the guest's /bin/sh.
	t.Run("local-shell", func(t *testing.T) {
		t.Parallel()
		s := newScenario(t, "local-shell")
		r := runPacker(t, s, debianGuest, "", shellProvisioner)
		if r.res.Err != nil {
			t.Errorf("packer build failed: %v\n%s", r.res.Err, tail(r.res.Output, 60))
		}
		r.requireFile(t, r.artifact())
		s.checkHost(t, r.artifact())
		checkReports(t, r.artifact(), "sh")
	})

	// chromogenic-clean with target = "kvm": update-initramfs and grub-mkconfig.
	t.Run("clean-kvm", func(t *testing.T) {
		t.Parallel()
		s := newScenario(t, "clean-kvm")
		r := runPacker(t, s, debianGuest, "", cleanKVMProvisioner)
		wantNamed(t, r.res.Output, "/usr/sbin/update-initramfs", "/usr/sbin/grub-mkconfig")
		r.requireFile(t, r.artifact())
		s.checkHost(t, r.artifact())
		checkReports(t, r.artifact(), "update-initramfs", "grub-mkconfig")
	})

	// chromogenic-convert with bootable (EFI): the initramfs rebuild and grub-mkconfig of
	// the pc conversion, then the guest's grub-mkstandalone.
	t.Run("convert-bootable", func(t *testing.T) {
		t.Parallel()
		s := newScenario(t, "convert-bootable")
		r := runPacker(t, s, debianGuest, "", bootablePostProcessor)
		wantNamed(t, r.res.Output, "/usr/sbin/update-initramfs", "/usr/sbin/grub-mkconfig", "/usr/bin/grub-mkstandalone")
		out := filepath.Join(r.out, "converted", "bootable.raw")
		r.requireFile(t, out)
		artifacts := []string{out}
		if _, err := os.Stat(r.artifact()); err == nil {
			artifacts = append(artifacts, r.artifact())
		}
		s.checkHost(t, artifacts...)
		checkReports(t, out, "update-initramfs", "grub-mkconfig", "grub-mkstandalone")
	})

	// The CLI on an image file of a RHEL-looking guest: dracut and grub-mkconfig.
	t.Run("cli-clean-kvm", func(t *testing.T) {
		t.Parallel()
		_, cli := binaries(t)
		s := newScenario(t, "cli-clean-kvm")
		dir := t.TempDir()
		img := makeImage(t, dir, "hostile-rhel.raw", rhelGuest, s.target(t))
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, cli, "clean", "--image", img, "--ops", "none", "--target", "kvm")
		cmd.Env = os.Environ() // the sentinels included
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		start := time.Now()
		out, err := cmd.CombinedOutput()
		t.Logf("chromogenic clean took %s (err %v)", time.Since(start).Round(time.Millisecond), err)
		if err != nil {
			t.Logf("chromogenic clean failed (allowed when it names the guest program):\n%s", tail(string(out), 40))
		}
		t.Cleanup(func() { checkHeld(t, dir) })
		wantNamed(t, string(out), "/usr/bin/dracut", "/usr/sbin/grub-mkconfig")
		s.checkHost(t, img)
		checkReports(t, img, "dracut", "grub-mkconfig")
	})

}

// sandboxOptionKnown reports whether the builder takes `sandbox = false` (packer validate).
func sandboxOptionKnown(t *testing.T) bool {
	t.Helper()
	sandboxFalseOnce.Do(func() {
		dir := t.TempDir()
		src := filepath.Join(dir, "s.raw")
		os.WriteFile(src, make([]byte, 1<<20), 0o644)
		out, err := packertest.Setup(t).Validate(t, dir, fmt.Sprintf(localTemplate, "  sandbox = false\n", shellProvisioner),
			"-var", "source_path="+src, "-var", "out="+filepath.Join(dir, "out"))
		sandboxFalseSupport, sandboxFalseOutput = err == nil || !strings.Contains(out, "sandbox"), out
	})
	return sandboxFalseSupport
}

// checkReportsLenient reads the reports without judging the attempts.
func checkReportsLenient(t *testing.T, image string, names ...string) map[string]*Report {
	t.Helper()
	reps := map[string]*Report{}
	var paths []string
	for _, n := range names {
		paths = append(paths, "/root/hostile-report-"+n+".json")
	}
	files := packertest.GuestFiles(t, image, paths...)
	for _, n := range names {
		if b, ok := files["/root/hostile-report-"+n+".json"]; ok {
			r := &Report{}
			if json.Unmarshal(b, r) == nil {
				reps[n] = r
				t.Logf("guest %s attempts (sandbox = false): %s", r.Program, summary(r.Attempts))
			}
		}
	}
	return reps
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// TestSentinelEnvironment: packer runs with secrets in its environment (sentinel values of
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, OS_PASSWORD, OS_APPLICATION_CREDENTIAL_SECRET); a
// guest with a real shell writes its environment and /proc/1/environ into the image through
// an ordinary shell provisioner. No sentinel may be anywhere in the artifact's bytes, and
// env.txt must be there (the provisioner ran).
func TestSentinelEnvironment(t *testing.T) {
	accOnly(t)
	binaries(t)
	env := packertest.Setup(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	src := makeImage(t, dir, "sentinel-source.raw", shellGuest, nil)
	build := `
  provisioner "shell" {
    inline = ["env > /root/env.txt; cat /proc/1/environ > /root/p1.txt || true"]
  }
`
	start := time.Now()
	res := env.Build(t, dir, fmt.Sprintf(localTemplate, "", build), buildTimeout,
		"-var", "source_path="+src, "-var", "out="+out)
	t.Logf("packer build took %s", time.Since(start).Round(time.Second))
	t.Cleanup(func() { checkHeld(t, dir) })
	if res.Err != nil {
		t.Fatalf("packer build: %v\n%s", res.Err, tail(res.Output, 60))
	}
	artifact := filepath.Join(out, "work", "hostile.raw")
	files := packertest.GuestFiles(t, artifact, "/root/env.txt", "/root/p1.txt")
	envTxt, ok := files["/root/env.txt"]
	if !ok || !strings.Contains(string(envTxt), "PATH=") {
		t.Fatalf("/root/env.txt missing or without PATH in the artifact (the provisioner did not run?): %q", envTxt)
	}
	var keys []string
	for _, l := range strings.Split(string(envTxt), "\n") {
		if k, _, ok := strings.Cut(l, "="); ok {
			keys = append(keys, k)
		}
	}
	t.Logf("the guest shell's environment has %d variables: %s; /proc/1/environ gave %d bytes",
		len(keys), strings.Join(keys, " "), len(files["/root/p1.txt"]))
	if found := sentinelsIn(t, artifact); len(found) > 0 {
		t.Errorf("the artifact holds the sentinel values of %v: packer's secrets reached the guest and were written into the image", found)
	}
	for _, k := range sentinelVars {
		if strings.Contains(string(envTxt), k+"=") {
			t.Errorf("the guest shell's environment has %s", k)
		}
	}
}
