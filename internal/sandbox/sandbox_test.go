package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// probe builds testdata/probe (static) once; canary is baked in.
func probe(t testing.TB, canary string) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "probe")
	cmd := exec.Command("go", "build", "-o", bin, "-ldflags", "-X main.canary="+canary, "./testdata/probe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build probe: %v\n%s", err, out)
	}
	return bin
}

// tree makes a guest tree holding the probe as /bin/probe.
func tree(t testing.TB, bin string) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"bin", "tmp", "root", "proc", "dev", "sys", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/probe"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

func needRoot(t testing.TB) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if err := Check(); err != nil {
		t.Skip(err)
	}
}

func runProbe(t *testing.T, root string, o Options, args ...string) map[string]any {
	t.Helper()
	out, err := o.Output(context.Background(), root, append([]string{"/bin/probe"}, args...))
	if err != nil {
		t.Fatalf("probe: %v\n%s", err, out)
	}
	var r map[string]any
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("probe output: %v\n%s", err, out)
	}
	return r
}

// TestSandboxHoldsTheGuest runs a hostile guest program and checks what it saw and what its
// escapes did; the host canary must stay absent. The same program without the sandbox
// (TrustGuest) writes the canary: the test can fail.
func TestSandboxHoldsTheGuest(t *testing.T) {
	needRoot(t)
	host := t.TempDir()
	canary := filepath.Join(host, "canary")
	root := tree(t, probe(t, canary))
	t.Setenv("CHROMOGENIC_SANDBOX_SENTINEL", "host-secret-4711")

	r := runProbe(t, root, Options{})
	if _, err := os.Stat(canary); err == nil {
		t.Fatalf("the guest program wrote the host canary: %v", r)
	}
	for _, k := range []string{"mount", "unshare", "clone_newuser", "init_module", "ptrace", "keyctl", "mknod"} {
		if r[k] != "operation not permitted" {
			t.Errorf("%s in the sandbox: %v, want operation not permitted", k, r[k])
		}
	}
	if v, _ := r["core_pattern"].(string); v == "ok" {
		t.Errorf("core_pattern written from the sandbox")
	}
	if r["NoNewPrivs"] != "1" || r["Seccomp"] != "2" {
		t.Errorf("no_new_privs %v, seccomp mode %v: want 1 and 2", r["NoNewPrivs"], r["Seccomp"])
	}
	// CapBnd is the bounding set: CAP_MKNOD (27), CAP_SYS_MODULE (16), CAP_SYS_PTRACE (19),
	// CAP_SYS_RAWIO (17), CAP_SYS_BOOT (22), CAP_SYS_TIME (25), CAP_BPF (39) must be out,
	// CAP_CHOWN (0) and CAP_SETUID (7) in.
	var bnd uint64
	if s, _ := r["CapBnd"].(string); s != "" {
		for _, c := range s {
			bnd = bnd<<4 | uint64(strings.IndexRune("0123456789abcdef", c))
		}
	}
	for _, c := range []uint{27, 16, 19, 17, 22, 25, 39} {
		if bnd&(1<<c) != 0 {
			t.Errorf("capability %d in the bounding set %x", c, bnd)
		}
	}
	var eff uint64
	fmt.Sscanf(r["CapEff"].(string), "%x", &eff)
	if eff&(1<<21) != 0 || eff&(1<<12) != 0 {
		t.Errorf("effective set %x holds CAP_SYS_ADMIN or CAP_NET_ADMIN", eff)
	}
	if bnd&1 == 0 || bnd&(1<<7) == 0 {
		t.Errorf("bounding set %x lacks CAP_CHOWN or CAP_SETUID", bnd)
	}
	for _, k := range []string{"env", "pid1env"} {
		for _, v := range r[k].([]any) {
			if strings.Contains(v.(string), "host-secret-4711") {
				t.Errorf("%s holds the host's environment: %v", k, v)
			}
		}
	}
	if got := r["env"].([]any); len(got) > len(Env)+1 { // bwrap adds PWD
		t.Errorf("guest environment %v, want exactly %v", got, Env)
	}
	var devs []string
	for _, d := range r["dev"].([]any) {
		devs = append(devs, d.(string))
	}
	for _, d := range devs {
		if strings.HasPrefix(d, "sd") || strings.HasPrefix(d, "loop") || strings.HasPrefix(d, "vd") || d == "mem" || d == "kmsg" {
			t.Errorf("host device %s in the guest's /dev %v", d, devs)
		}
	}
	if !slices.Contains(devs, "null") || !slices.Contains(devs, "pts") {
		t.Errorf("/dev %v lacks null or pts", devs)
	}
	if n, _ := r["sys"].(float64); n != 0 {
		t.Errorf("the guest sees %v entries in /sys", n)
	}
	if procs := r["procs"].([]any); len(procs) > 3 {
		t.Errorf("the guest sees %d processes: %v", len(procs), procs)
	}
	if r["hostname"] != "chromogenic-guest" {
		t.Errorf("hostname %v", r["hostname"])
	}
	if n, _ := r["netdev"].(float64); n != 1 {
		t.Errorf("without Network the guest sees %v interfaces, want lo only", n)
	}
	if r := runProbe(t, root, Options{Network: true}); r["netdev"].(float64) < 2 {
		t.Errorf("with Network the guest sees %v interfaces", r["netdev"])
	}

	// The control: without the sandbox the same program gets out.
	r = runProbe(t, root, Options{TrustGuest: true}, "double-chroot-only")
	if b, err := os.ReadFile(canary); err != nil || string(b) != "double chroot" {
		t.Errorf("control: chroot(2) alone did not let the probe out (%v %q): the test proves nothing", r, b)
	}
}

// TestLoopDevicesOfTheTree: the loop devices the tree is mounted from are in the guest's /dev,
// no other.
func TestLoopDevicesOfTheTree(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "fs.img")
	if out, err := exec.Command("sh", "-c", "truncate -s 8M "+img+" && mkfs.ext4 -q "+img).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	loop, err := exec.Command("losetup", "-f", "--show", img).Output()
	if err != nil {
		t.Fatal(err)
	}
	dev := strings.TrimSpace(string(loop))
	defer exec.Command("losetup", "-d", dev).Run()
	root := filepath.Join(dir, "root")
	os.Mkdir(root, 0o755)
	if err := unix.Mount(dev, root, "ext4", unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(root, unix.MNT_DETACH)
	b, err := os.ReadFile(probe(t, "/nonexistent"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"bin", "dev", "proc", "tmp"} {
		os.Mkdir(filepath.Join(root, d), 0o755)
	}
	os.WriteFile(filepath.Join(root, "bin/probe"), b, 0o755)
	r := runProbe(t, root, Options{})
	var loops []string
	for _, d := range r["dev"].([]any) {
		if strings.HasPrefix(d.(string), "loop") {
			loops = append(loops, d.(string))
		}
	}
	if want := []string{filepath.Base(dev)}; !slices.Equal(loops, want) {
		t.Errorf("loop devices in the guest: %v, want %v", loops, want)
	}
}

// TestFilterShape: every denied name has a number on this architecture's native table, and
// the program is whole instructions.
func TestFilterShape(t *testing.T) {
	prog, err := Filter()
	if err != nil {
		t.Fatal(err)
	}
	if len(prog)%8 != 0 || len(prog) == 0 {
		t.Fatalf("filter of %d bytes", len(prog))
	}
	tables := archTables()
	for _, must := range []string{"mount", "umount2", "pivot_root", "unshare", "setns", "init_module", "finit_module",
		"kexec_load", "ptrace", "bpf", "keyctl", "open_by_handle_at", "move_mount", "fsopen"} {
		if _, ok := tables[0].deny[must]; !ok {
			t.Errorf("%s has no number in the native table", must)
		}
	}
	for _, tb := range tables {
		for name := range tb.deny {
			if !slices.Contains(deniedNames, name) {
				t.Errorf("%s numbered but not in deniedNames (it would never be refused)", name)
			}
		}
	}
}

func BenchmarkRun(b *testing.B) {
	needRoot(b)
	root := tree(b, probe(b, "/nonexistent"))
	for _, c := range []struct {
		name string
		o    Options
	}{{"sandbox", Options{}}, {"chroot", Options{TrustGuest: true}}} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if out, err := c.o.Output(context.Background(), root, []string{"/bin/probe", "double-chroot-only"}); err != nil {
					b.Fatalf("%v %s", err, out)
				}
			}
		})
	}
}
