package hostile

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
	"github.com/chromogenic/packer-plugin-chromogenic/test/hostile/report"
)

// sentinelMark starts every sentinel value; the escape program keeps environment entries
// holding it (and nothing else of the host's environments).
const sentinelMark = "hostile-sentinel-"

// sentinelVars are set, in TestMain, to unique sentinel values in the environment packer,
// its plugins and the CLI inherit.
var sentinelVars = []string{"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "OS_PASSWORD", "OS_APPLICATION_CREDENTIAL_SECRET"}

var (
	sentinels      = map[string]string{} // variable -> value
	canaryDir      string                // host directory the escapes aim at
	corePattern    string                // kernel.core_pattern before the tests
	corePatternErr error
)

const corePatternPath = "/proc/sys/kernel/core_pattern"

func TestMain(m *testing.M) {
	flag.Parse()
	if !testtier.Enabled() {
		os.Exit(m.Run()) // the tests skip themselves
	}
	// Leases of this package's own, as test/chaining does.
	leases := filepath.Join(os.TempDir(), fmt.Sprintf("hostile-leases-%d", os.Getpid()))
	os.Setenv("CHROMOGENIC_LEASE_DIR", leases)
	chroot.LeaseDir = leases
	var b [8]byte
	rand.Read(b[:])
	run := hex.EncodeToString(b[:])
	for _, v := range sentinelVars {
		sentinels[v] = sentinelMark + run + "-" + strings.ToLower(v)
		os.Setenv(v, sentinels[v])
	}
	// packer and the plugin must not reach for a developer's AWS settings with these.
	os.Setenv("AWS_CONFIG_FILE", "/nonexistent/hostile-aws-config")
	os.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/hostile-aws-credentials")
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	var err error
	if canaryDir, err = os.MkdirTemp("", "hostile-canaries-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cp, err := os.ReadFile(corePatternPath)
	corePattern, corePatternErr = string(cp), err
	code := m.Run()
	restoreCorePattern()
	os.RemoveAll(canaryDir)
	os.RemoveAll(leases)
	for _, d := range tempDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

var tempDirs []string

// restoreCorePattern puts kernel.core_pattern back; it reports whether it had changed.
func restoreCorePattern() bool {
	if corePatternErr != nil {
		return false
	}
	now, err := os.ReadFile(corePatternPath)
	if err != nil || string(now) == corePattern {
		return false
	}
	os.WriteFile(corePatternPath, []byte(strings.TrimRight(corePattern, "\n")), 0)
	return true
}

func accOnly(t *testing.T) {
	t.Helper()
	packertest.AccOnly(t)
	if os.Geteuid() != 0 {
		t.Fatal("the hostile tests need root (loop devices, mounts)")
	}
}

// goBuild builds a package of this repository (CGO_ENABLED=0) to out.
func goBuild(out, pkg string, ldflags string) error {
	args := []string{"build", "-o", out}
	if ldflags != "" {
		args = append(args, "-ldflags", ldflags)
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = testimages.RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

var (
	binOnce             sync.Once
	escapeBin, cliBin   string
	binErr              error
	binDir              string
	sandboxFalseOnce    sync.Once
	sandboxFalseSupport bool
	sandboxFalseOutput  string
)

// binaries builds, once, the escape program (static, paths baked in) and the chromogenic CLI.
func binaries(t *testing.T) (escape, cli string) {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "hostile-bin-"); binErr != nil {
			return
		}
		tempDirs = append(tempDirs, binDir)
		escapeBin, cliBin = filepath.Join(binDir, "escape"), filepath.Join(binDir, "chromogenic")
		binErr = goBuild(escapeBin, "./test/hostile/escape",
			"-s -w -X main.canaryDir="+canaryDir+" -X main.sentinelMark="+sentinelMark)
		if binErr == nil {
			binErr = goBuild(cliBin, "./cmd/chromogenic", "")
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return escapeBin, cliBin
}

// What the test and the escape program exchange.
type (
	Target  = report.Target
	Attempt = report.Attempt
	Report  = report.Report
)

type guestFlavor int

const (
	// debianGuest: Debian 12, update-initramfs, /boot/grub/grub.cfg, grub-mkconfig, GRUB's
	// x86_64-efi modules, grub-mkstandalone; /bin/sh is the escape program too.
	debianGuest guestFlavor = iota
	// rhelGuest: Rocky Linux 9, dracut, /boot/grub2/grub.cfg, grub-mkconfig.
	rhelGuest
	// shellGuest: Debian 12 with a real shell (the host's dash, env, cat, chmod, rm).
	shellGuest
)

const kernelVersion = "6.1.0-99-hostile-amd64"

// makeImage writes a 64 MiB sparse raw disk (MBR, partition 1 ext4 labelled hostileroot)
// at dir/name holding the guest tree of flavor, with tg as /root/hostile-target.json.
func makeImage(t *testing.T, dir, name string, flavor guestFlavor, tg *Target) string {
	t.Helper()
	escape, _ := binaries(t)
	tree := filepath.Join(dir, name+"-tree")
	files := map[string]string{
		"etc/fstab":                     "LABEL=hostileroot / ext4 defaults 0 1\n",
		"hello.txt":                     "hello from the hostile guest\n",
		"etc/hostname":                  "hostile\n",
		"etc/passwd":                    "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":                     "root:x:0:\n",
		"etc/machine-id":                "0123456789abcdef0123456789abcdef\n",
		"boot/vmlinuz-" + kernelVersion: "not a real kernel\n",
		"lib/modules/" + kernelVersion + "/modules.dep":     modulesDep,
		"lib/modules/" + kernelVersion + "/modules.builtin": "kernel/drivers/ata/libata.ko\n",
	}
	var programs []string
	switch flavor {
	case debianGuest:
		files["etc/os-release"] = "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"hostile Debian guest\"\n"
		files["etc/debian_version"] = "12.0\n"
		files["boot/initrd.img-"+kernelVersion] = "old initramfs\n"
		files["etc/initramfs-tools/initramfs.conf"] = "MODULES=most\n"
		files["boot/grub/grub.cfg"] = "# grub.cfg of the hostile guest\n"
		files["usr/lib/grub/x86_64-efi/linux.mod"] = "not a real module\n"
		programs = []string{"bin/sh", "usr/sbin/update-initramfs", "usr/bin/dracut", "usr/sbin/grub-mkconfig", "usr/bin/grub-mkstandalone"}
	case rhelGuest:
		files["etc/os-release"] = "NAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\nPRETTY_NAME=\"hostile Rocky guest\"\n"
		files["etc/redhat-release"] = "Rocky Linux release 9.3 (Blue Onyx)\n"
		files["boot/initramfs-"+kernelVersion+".img"] = "old initramfs\n"
		files["etc/dracut.conf"] = "# dracut of the hostile guest\n"
		files["etc/dracut.conf.d/README"] = "dracut configuration files\n"
		files["boot/grub2/grub.cfg"] = "# grub.cfg of the hostile guest\n"
		programs = []string{"bin/sh", "usr/bin/dracut", "usr/sbin/grub-mkconfig", "usr/bin/grub-mkstandalone"}
	case shellGuest:
		files["etc/os-release"] = "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"sentinel test guest\"\n"
	}
	for _, d := range []string{"proc", "sys", "dev/pts", "run", "tmp", "root", "var/tmp", "bin", "usr/bin", "usr/sbin"} {
		mkdir(t, filepath.Join(tree, d))
	}
	for p, body := range files {
		mkdir(t, filepath.Dir(filepath.Join(tree, p)))
		if err := os.WriteFile(filepath.Join(tree, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(tree, "tmp"), 0o1777)
	if tg != nil {
		b, _ := json.Marshal(tg)
		if err := os.WriteFile(filepath.Join(tree, report.TargetFile), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The escape program, hard-linked under every name (mkfs.ext4 -d keeps hard links).
	first := ""
	for _, p := range programs {
		dst := filepath.Join(tree, p)
		if first == "" {
			copyFile(t, escape, dst, 0o755)
			first = dst
		} else if err := os.Link(first, dst); err != nil {
			t.Fatal(err)
		}
	}
	if flavor == shellGuest {
		for _, p := range [][2]string{{"/usr/bin/dash", "bin/sh"}, {"/usr/bin/env", "usr/bin/env"},
			{"/usr/bin/cat", "bin/cat"}, {"/usr/bin/chmod", "bin/chmod"}, {"/usr/bin/rm", "bin/rm"}} {
			copyHostProgram(t, tree, p[0], p[1])
		}
	}

	raw := filepath.Join(dir, name)
	part := filepath.Join(dir, name+".part")
	for _, c := range [][]string{
		{"truncate", "-s", "64M", raw},
		{"sfdisk", "-q", raw},
		{"truncate", "-s", "63M", part},
		{"mkfs.ext4", "-q", "-F", "-L", "hostileroot", "-d", tree, part},
		{"dd", "if=" + part, "of=" + raw, "bs=1M", "seek=1", "conv=notrunc,sparse", "status=none"},
	} {
		cmd := exec.Command(c[0], c[1:]...)
		if c[0] == "sfdisk" {
			cmd.Stdin = strings.NewReader("label: dos\nstart=2048, type=83\n")
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make image: %v: %v\n%s", c, err, out)
		}
	}
	os.Remove(part)
	os.RemoveAll(tree)
	return raw
}

// modulesDep lists the drivers the kvm and pc targets look for.
const modulesDep = `kernel/drivers/block/virtio_blk.ko:
kernel/drivers/scsi/virtio_scsi.ko:
kernel/drivers/net/virtio_net.ko:
kernel/drivers/virtio/virtio_pci.ko:
kernel/drivers/char/virtio_console.ko:
kernel/drivers/ata/ahci.ko:
kernel/drivers/scsi/sd_mod.ko:
kernel/fs/ext4/ext4.ko:
`

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	mkdir(t, filepath.Dir(dst))
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}

// copyHostProgram copies a dynamically linked host program into the tree at rel, with the
// libraries ldd names at the paths ldd names them.
func copyHostProgram(t *testing.T, tree, host, rel string) {
	t.Helper()
	copyFile(t, host, filepath.Join(tree, rel), 0o755)
	out, err := exec.Command("ldd", host).Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", host, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		lib := ""
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			lib = f[2]
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			lib = f[0]
		}
		if lib == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(tree, lib)); err == nil {
			continue
		}
		copyFile(t, lib, filepath.Join(tree, lib), 0o755)
	}
}

// scenario is one hostile run: its canary loop device, its victim process, and what it
// checks afterwards.
type scenario struct {
	tag      string
	loopFile string // backing file of the canary loop device
	loop     string
	victim   *exec.Cmd
	exited   chan struct{}
}

// newScenario sets up the host canaries of one run: a 1 MiB zero-filled file behind a loop
// device, and a victim process (sleep).
func newScenario(t *testing.T, tag string) *scenario {
	t.Helper()
	s := &scenario{tag: tag, loopFile: filepath.Join(t.TempDir(), "canary-blockdev.img"), exited: make(chan struct{})}
	if err := os.WriteFile(s.loopFile, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "-f", "--show", s.loopFile).Output()
	if err != nil {
		t.Fatalf("losetup: %v", err)
	}
	s.loop = strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", s.loop).Run() })
	s.victim = exec.Command("sleep", "900")
	s.victim.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.victim.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.victim.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		s.victim.Process.Kill()
		<-s.exited
	})
	return s
}

func (s *scenario) target(t *testing.T) *Target {
	t.Helper()
	fi, err := os.Stat(s.loop)
	if err != nil {
		t.Fatal(err)
	}
	rdev := fi.Sys().(*syscall.Stat_t).Rdev
	major := uint32((rdev>>8)&0xfff) | uint32(rdev>>32)&^0xfff
	minor := uint32(rdev&0xff) | uint32(rdev>>12)&^0xff
	return &Target{Tag: s.tag, Loop: s.loop, Major: major, Minor: minor, Pid: s.victim.Process.Pid}
}

// marks lists every mark the run left on the host (empty: the host is as it was). It puts
// core_pattern back when it changed.
func (s *scenario) marks(t *testing.T) []string {
	t.Helper()
	var marks []string
	// Canary files.
	ents, _ := os.ReadDir(canaryDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), s.tag+"-") {
			b, _ := os.ReadFile(filepath.Join(canaryDir, e.Name()))
			marks = append(marks, fmt.Sprintf("canary file %s written: %q", filepath.Join(canaryDir, e.Name()), strings.TrimSpace(string(b))))
		}
	}
	// The canary block device.
	exec.Command("blockdev", "--flushbufs", s.loop).Run()
	b, err := os.ReadFile(s.loopFile)
	if err != nil {
		t.Fatal(err)
	}
	blockMarked := false
	for _, off := range []int{0, 4096} {
		seg := b[off : off+512]
		if !bytes.Equal(seg, make([]byte, len(seg))) {
			blockMarked = true
			marks = append(marks, fmt.Sprintf("canary block device %s written at offset %d: %q", s.loop, off, bytes.TrimRight(seg, "\x00")))
		}
	}
	if !blockMarked && !bytes.Equal(b, make([]byte, len(b))) {
		marks = append(marks, "canary block device "+s.loop+" written")
	}
	// core_pattern.
	if corePatternErr == nil {
		now, _ := os.ReadFile(corePatternPath)
		// Another run's guest may have changed it meanwhile (parallel runs without the
		// sandbox): that value names its tag, and its report says which program did it.
		mine := strings.Contains(string(now), "core-hostile-"+s.tag) || !strings.Contains(string(now), "core-hostile-")
		if string(now) != corePattern && mine {
			marks = append(marks, fmt.Sprintf("kernel.core_pattern changed from %q to %q (restored)", strings.TrimSpace(corePattern), strings.TrimSpace(string(now))))
		}
		restoreCorePattern()
	}
	// The victim.
	select {
	case <-s.exited:
		marks = append(marks, fmt.Sprintf("victim host process %d was killed (%v)", s.victim.Process.Pid, s.victim.ProcessState))
	default:
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.victim.Process.Pid))
		for _, l := range strings.Split(string(st), "\n") {
			if strings.HasPrefix(l, "TracerPid:") && strings.TrimSpace(strings.TrimPrefix(l, "TracerPid:")) != "0" {
				marks = append(marks, "victim host process is traced: "+l)
			}
			if strings.HasPrefix(l, "State:") && strings.Contains(l, "t (tracing stop)") {
				marks = append(marks, "victim host process is in tracing stop: "+l)
			}
		}
	}
	return marks
}

// sentinelsIn returns the sentinel values found in the file's bytes.
func sentinelsIn(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for v, s := range sentinels {
		if bytes.Contains(b, []byte(s)) {
			found = append(found, v)
		}
	}
	sort.Strings(found)
	return found
}

// mustFail lists the attempts that must not succeed, with why.
var mustFail = map[string]string{
	"double-chroot-write": "wrote the host canary after a double-chroot escape",
	"proc1-root":          "wrote the host canary through /proc/1/root",
	"procpid-root":        "wrote the host canary through /proc/<victim pid>/root",
	"procppid-root":       "wrote the host canary through /proc/<parent pid>/root",
	"core-pattern":        "wrote kernel.core_pattern",
	"blockdev-direct":     "wrote the canary loop device through its host node",
	"blockdev-mknod":      "wrote the canary loop device through a mknod'ed node",
	"mount-tmpfs":         "mounted a tmpfs",
	"mount-proc":          "mounted a proc",
	"init-module":         "init_module succeeded",
	"finit-module":        "finit_module succeeded",
	"ptrace-attach":       "attached to the host victim with ptrace",
	"kill":                "killed the host victim",
}

// checkReports reads each program's report from the raw image and fails the test for a
// missing report (the program did not run), for every attempt that succeeded and for every
// sentinel it read.
func checkReports(t *testing.T, image string, names ...string) map[string]*Report {
	t.Helper()
	var paths []string
	for _, n := range names {
		paths = append(paths, "/root/hostile-report-"+n+".json", "/root/hostile-ran-"+n)
	}
	files := packertest.GuestFiles(t, image, paths...)
	reps := map[string]*Report{}
	for _, n := range names {
		b, ok := files["/root/hostile-report-"+n+".json"]
		if !ok {
			t.Errorf("no /root/hostile-report-%s.json in %s: the guest's %s did not run (or ran without its guest root)", n, image, n)
			continue
		}
		if len(files["/root/hostile-ran-"+n]) == 0 {
			t.Errorf("no /root/hostile-ran-%s marker in %s", n, image)
		}
		r := &Report{}
		if err := json.Unmarshal(b, r); err != nil {
			t.Errorf("report of %s: %v\n%s", n, err, b)
			continue
		}
		reps[n] = r
		var failed []string
		for k, why := range mustFail {
			if a, ok := r.Attempts[k]; ok && a.OK {
				failed = append(failed, fmt.Sprintf("%s (%s)", why, k))
			}
		}
		sort.Strings(failed)
		for _, f := range failed {
			t.Errorf("guest %s: %s", r.Program, f)
		}
		for _, k := range []string{"init-module", "finit-module"} {
			if a, ok := r.Attempts[k]; ok && !a.OK && a.Errno != int(syscall.EPERM) {
				// This kernel may have no module support at all (ENOSYS): then the
				// attempt fails with or without a sandbox.
				t.Logf("guest %s: %s failed with %s, not EPERM", r.Program, k, a.Error)
			}
		}
		if len(r.Sentinels) > 0 {
			t.Errorf("guest %s read host secrets: %d environment entries hold a sentinel: %s", r.Program, len(r.Sentinels), sourcesOf(r.Sentinels))
		}
		t.Logf("guest %s (uid %d, pid %d): attempts %s; environment keys %v; entries read %v",
			r.Program, r.Uid, r.Pid, summary(r.Attempts), r.EnvKeys, r.EnvSources)
	}
	return reps
}

// sourcesOf names where sentinels were read, with the variable names (not the values).
func sourcesOf(entries []string) string {
	seen := map[string]bool{}
	var out []string
	for _, e := range entries {
		src, kv, _ := strings.Cut(e, ": ")
		k, _, _ := strings.Cut(kv, "=")
		if s := src + " " + k; !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func summary(as map[string]Attempt) string {
	var keys []string
	for k := range as {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		if as[k].OK {
			out = append(out, k+"=ok")
		} else {
			out = append(out, k+"="+as[k].Error)
		}
	}
	return strings.Join(out, ", ")
}

// checkHost fails the test for every mark the run left on the host and every sentinel in
// the artifact.
func (s *scenario) checkHost(t *testing.T, artifacts ...string) {
	t.Helper()
	for _, m := range s.marks(t) {
		t.Errorf("host mark: %s", m)
	}
	for _, a := range artifacts {
		if found := sentinelsIn(t, a); len(found) > 0 {
			t.Errorf("the artifact %s holds the sentinel values of %v (host secrets written into the image)", a, found)
		}
	}
}

// checkHeld fails the test for mounts left under dir and loop devices backed by files
// under it, and releases them.
func checkHeld(t *testing.T, dir string) {
	t.Helper()
	if m := chroot.MountedUnder(dir); len(m) > 0 {
		t.Errorf("still mounted: %v", m)
		for i := len(m) - 1; i >= 0; i-- {
			syscall.Unmount(m[i], syscall.MNT_DETACH)
		}
	}
	backing, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, b := range backing {
		f, _ := os.ReadFile(b)
		if strings.HasPrefix(strings.TrimSpace(string(f)), dir) {
			dev := "/dev/" + filepath.Base(filepath.Dir(filepath.Dir(b)))
			if strings.HasSuffix(strings.TrimSpace(string(f)), "canary-blockdev.img") {
				continue // the scenario's own, released by its cleanup
			}
			t.Errorf("loop device %s still backed by %s", dev, strings.TrimSpace(string(f)))
			exec.Command("losetup", "-d", dev).Run()
		}
	}
}

// wantNamed fails the test unless output names each guest program.
func wantNamed(t *testing.T, output string, programs ...string) {
	t.Helper()
	for _, p := range programs {
		if !strings.Contains(output, p) {
			t.Errorf("output does not name the guest program %s:\n%s", p, tail(output, 60))
		}
	}
}

func tail(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// timeout of one packer build.
const buildTimeout = 5 * time.Minute
