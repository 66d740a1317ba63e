package clean

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

// The live-mode tests reach a running Linux system by SSH without a VM: a second sshd on
// 127.0.0.1 (its own config, host key and authorized key) chroots the root login into a
// writable copy of the cached Debian 12 debootstrap tree, so the uploaded engine sees that
// tree as its "/" exactly as on a live guest. Packer's null builder connects to it with the
// SSH communicator (SFTP transfers: the tree has no scp).

const liveTemplate = `
variable "port" { type = number }
variable "key" { type = string }
variable "report_file" { type = string }
variable "dry_run" { type = bool }

source "null" "live" {
  communicator             = "ssh"
  ssh_host                 = "127.0.0.1"
  ssh_port                 = var.port
  ssh_username             = "root"
  ssh_private_key_file     = var.key
  ssh_file_transfer_method = "sftp"
  ssh_timeout              = "2m"
}

build {
  sources = ["source.null.live"]

  provisioner "chromogenic-clean" {
    operations      = ["defaults", "+user-account"]
    dry_run         = var.dry_run
    report_file     = var.report_file
    execute_command = "cd / && {{.Command}}"
    delete_lines {
      file   = "/etc/app.conf"
      regexp = "^secret="
    }
  }
}
`

// sshServer is a private sshd on 127.0.0.1.
type sshServer struct {
	port int
	key  string // client private key
	log  *packertest.SyncBuffer
}

// startSSHD starts sshd accepting root with a fresh key, chrooted into chroot when not empty.
// It is stopped in t.Cleanup.
func startSSHD(t *testing.T, dir, chroot string) *sshServer {
	t.Helper()
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		sshd = "/usr/sbin/sshd"
	}
	if _, err := os.Stat(sshd); err != nil {
		t.Fatalf("no sshd (Debian package openssh-server, scripts/install-deps.sh): %v", err)
	}
	// sshd's privilege separation directory (the package normally creates it at boot).
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	s := &sshServer{key: filepath.Join(dir, "id_ed25519"), log: &packertest.SyncBuffer{}}
	for _, k := range []string{filepath.Join(dir, "hostkey"), s.key} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "chromogenic-test", "-f", k).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	pub, err := os.ReadFile(s.key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile %s
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowUsers root
Subsystem sftp internal-sftp
LogLevel VERBOSE
`, s.port, filepath.Join(dir, "hostkey"), filepath.Join(dir, "sshd.pid"), filepath.Join(dir, "authorized_keys"))
	if chroot != "" {
		cfg += "ChrootDirectory " + chroot + "\n"
	}
	cfgPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sshd, "-D", "-e", "-f", cfgPath)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sshd: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		// The listener and its per-connection children are in sshd's process group.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			t.Fatalf("sshd exited: %s", s.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd does not listen on %d: %s", s.port, s.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	return s
}

// hostCanary records the hash, size and mtime of host files the test must not change.
func hostCanary(t *testing.T, paths ...string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			m[p] = "missing"
			continue
		}
		b, _ := os.ReadFile(p)
		m[p] = fmt.Sprintf("%x %d %d %v", sha256.Sum256(b), fi.Size(), fi.ModTime().UnixNano(), fi.Mode())
	}
	return m
}

// seedLiveTree makes the Debian tree look like a used instance: targets to clean and
// neighbours to keep.
func seedLiveTree(t *testing.T, tree, hostCanaryFile string) {
	t.Helper()
	var id [16]byte
	rand.Read(id[:])
	w := func(p, content string, mode os.FileMode) {
		t.Helper()
		full := filepath.Join(tree, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	appendTo := func(p, line string) {
		t.Helper()
		f, err := os.OpenFile(filepath.Join(tree, p), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(line); err != nil {
			t.Fatal(err)
		}
	}
	appendTo("etc/passwd", "alice:x:1000:1000:Alice:/home/alice:/bin/bash\n")
	appendTo("etc/shadow", "alice:!:19000:0:99999:7:::\n")
	appendTo("etc/group", "alice:x:1000:\n")
	w("home/alice/.bash_history", "ls -la\n", 0o600)
	w("home/alice/notes.txt", "alice's notes\n", 0o644)
	w("root/.bash_history", "rm -rf /\n", 0o600)
	w("root/.ssh/authorized_keys", "ssh-ed25519 AAAAC3Nza guest-root-key\n", 0o600)
	w("root/.ssh/id_ed25519", "PRIVATE\n", 0o600)
	w("root/notes.txt", "keep me\n", 0o644)
	w("etc/machine-id", hex.EncodeToString(id[:])+"\n", 0o444)
	w("etc/ssh/ssh_host_ed25519_key", "HOSTKEY\n", 0o600)
	w("etc/ssh/sshd_config", "PermitRootLogin no\n", 0o644)
	w("var/log/syslog", "log line\n", 0o640)
	w("var/lib/cloud/instances/i-1/obj.pkl", "x\n", 0o644)
	w("tmp/junk", "junk\n", 0o644)
	w("tmp/evil\x1b]2;owned\x07\n==> forged", "junk\n", 0o644) // a name that drives a terminal
	w("etc/app.conf", "secret=1\nkeep=1\n", 0o644)
	// A link out of the guest: inside the chroot it leads nowhere, and the engine never
	// follows it anyway.
	if err := os.Symlink(hostCanaryFile, filepath.Join(tree, "var/log/evil.log")); err != nil {
		t.Fatal(err)
	}
}

func liveSetup(t *testing.T) (*packertest.Env, string, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (sshd, chroot)")
	}
	env := packertest.Setup(t)
	// sshd's ChrootDirectory must be root-owned with no group- or world-writable component
	// on its path: not under /tmp or /var/tmp.
	base := os.Getenv("CHROMOGENIC_CACHE")
	if base == "" {
		base = "/var/cache/chromogenic"
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(base, "clean-live-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if b, err := os.ReadFile("/proc/mounts"); err == nil && strings.Contains(string(b), " "+dir+"/") {
			t.Errorf("%s still has mounts: not removed", dir)
			return
		}
		os.RemoveAll(dir)
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return env, dir, t.TempDir()
}

type liveReport struct {
	Root   string
	DryRun bool `json:"dry_run"`
	Ops    []struct {
		Name    string
		Changes []struct{ Action, Path, Reason string }
	}
}

func readLiveReport(t *testing.T, p, output string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("no report: %v\n%s", err, output)
	}
	var rep liveReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	paths := map[string]string{}
	for _, op := range rep.Ops {
		for _, c := range op.Changes {
			if _, seen := paths[c.Path]; !seen {
				paths[c.Path] = c.Action
			}
		}
	}
	return paths
}

func stagingLeft(t *testing.T, tmp string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(tmp, "chromogenic-clean-*"))
	return m
}

// TestAccCleanLive cleans a live system through Packer's SSH communicator (null builder, no
// MountPath): first a dry run, which changes nothing but lists the targets, then the real
// run, after which every target is gone or emptied inside the guest, the neighbours and the
// session's authorized_keys are intact, the report lists the changes, nothing uploaded is
// left on the guest and no host file changed.
func TestAccCleanLive(t *testing.T) {
	testtier.Acceptance(t, "a packer build")
	env, dir, work := liveSetup(t)
	tree := testimages.DebianTree(t, dir)
	canaryFile := filepath.Join(dir, "host-canary")
	if err := os.WriteFile(canaryFile, []byte("host data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	seedLiveTree(t, tree, canaryFile)
	// A live system has /proc (the engine's openat2 access needs it, and it tells the engine
	// which kernel it runs on). Unmounted before the tree is removed (cleanups run last first).
	procDir := filepath.Join(tree, "proc")
	if out, err := exec.Command("mount", "-t", "proc", "proc", procDir).CombinedOutput(); err != nil {
		t.Fatalf("mount proc: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(procDir, 0); err != nil {
			syscall.Unmount(procDir, syscall.MNT_DETACH)
		}
	})
	hostFiles := []string{canaryFile, "/etc/machine-id", "/etc/passwd", "/etc/shadow", "/etc/group",
		"/root/.bash_history", "/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/sshd_config"}
	canary := hostCanary(t, hostFiles...)
	srv := startSSHD(t, filepath.Join(dir), tree)

	build := func(dry bool) (string, string) {
		t.Helper()
		report := filepath.Join(work, fmt.Sprintf("report-%v.json", dry))
		start := time.Now()
		res := env.Build(t, work, liveTemplate, 10*time.Minute, "-var", fmt.Sprintf("port=%d", srv.port),
			"-var", "key="+srv.key, "-var", "report_file="+report, "-var", fmt.Sprintf("dry_run=%v", dry))
		t.Logf("live build (dry_run=%v): %s", dry, time.Since(start).Round(time.Millisecond))
		if res.Err != nil {
			t.Fatalf("packer build (dry_run=%v): %v\n%s\nsshd:\n%s", dry, res.Err, res.Output, srv.log.String())
		}
		return report, res.Output
	}
	read := func(p string) (string, bool) {
		b, err := os.ReadFile(filepath.Join(tree, p))
		return string(b), err == nil
	}

	// Dry run: nothing changes.
	report, output := build(true)
	if s, _ := read("root/.bash_history"); s != "rm -rf /\n" {
		t.Errorf("dry run changed /root/.bash_history: %q", s)
	}
	if s, _ := read("etc/passwd"); !strings.Contains(s, "\nalice:") {
		t.Errorf("dry run removed alice")
	}
	if s, _ := read("etc/app.conf"); s != "secret=1\nkeep=1\n" {
		t.Errorf("dry run edited /etc/app.conf: %q", s)
	}
	paths := readLiveReport(t, report, output)
	for p, a := range map[string]string{"/root/.bash_history": "removed", "/etc/machine-id": "truncated", "/home/alice": "removed", "/etc/app.conf": "edited"} {
		if paths[p] != a {
			t.Errorf("dry-run report: %s = %q, want %q", p, paths[p], a)
		}
	}
	if !strings.Contains(output, "Dry run") || !strings.Contains(output, "user-account") {
		t.Errorf("guest progress not streamed to Packer's output:\n%s", output)
	}
	if left := stagingLeft(t, filepath.Join(tree, "tmp")); len(left) > 0 {
		t.Errorf("dry run left %v on the guest", left)
	}

	// Real run.
	report, output = build(false)
	t.Logf("packer output of the real run:\n%s", output)
	for _, gone := range []string{"root/.bash_history", "root/.ssh/id_ed25519", "home/alice", "etc/ssh/ssh_host_ed25519_key",
		"var/lib/cloud/instances/i-1/obj.pkl", "tmp/junk"} {
		if _, ok := read(gone); ok || func() bool { _, err := os.Lstat(filepath.Join(tree, gone)); return err == nil }() {
			t.Errorf("%s still in the guest", gone)
		}
	}
	for _, empty := range []string{"etc/machine-id", "var/log/syslog"} {
		if s, ok := read(empty); !ok || s != "" {
			t.Errorf("%s not emptied in place: present=%v %q", empty, ok, s)
		}
	}
	if s, _ := read("etc/passwd"); strings.Contains(s, "alice:") || !strings.HasPrefix(s, "root:x:0:0:") {
		t.Errorf("passwd after cleaning:\n%s", s)
	}
	for p, want := range map[string]string{
		"root/.ssh/authorized_keys": "ssh-ed25519 AAAAC3Nza guest-root-key\n", // the session's keys stay
		"root/notes.txt":            "keep me\n",
		"etc/app.conf":              "keep=1\n",
		"etc/ssh/sshd_config":       "PermitRootLogin no\n",
	} {
		if s, ok := read(p); !ok || s != want {
			t.Errorf("neighbour %s = %q (present %v), want %q", p, s, ok, want)
		}
	}
	if s, ok := read("etc/os-release"); !ok || !strings.Contains(s, "bookworm") {
		if s2, ok2 := read("usr/lib/os-release"); !ok2 || !strings.Contains(s2, "bookworm") {
			t.Errorf("os-release damaged")
		}
	}
	if fi, err := os.Lstat(filepath.Join(tree, "var/log/evil.log")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("symlink out of the guest was not left alone: %v", err)
	}
	paths = readLiveReport(t, report, output)
	for p, a := range map[string]string{"/root/.bash_history": "removed", "/etc/machine-id": "truncated", "/home/alice": "removed",
		"/etc/app.conf": "edited", "/root/.ssh": "skipped", "/root/.ssh/id_ed25519": "removed"} {
		if paths[p] != a {
			t.Errorf("report: %s = %q, want %q", p, paths[p], a)
		}
	}
	for p, a := range paths {
		if strings.HasPrefix(p, "/tmp/chromogenic-clean-") && a != "skipped" {
			t.Errorf("the engine's staging files were not protected while it ran: %s %s", a, p)
		}
	}
	if left := stagingLeft(t, filepath.Join(tree, "tmp")); len(left) > 0 {
		t.Errorf("uploaded engine left on the guest: %v", left)
	}
	// The guest's file name is printed escaped; the edited secret is not printed at all.
	if strings.Contains(output, "\x1b]2;owned") || strings.Contains(output, "\n==> forged") ||
		!strings.Contains(output, `/tmp/evil\x1b]2;owned\x07\n==> forged`) {
		t.Errorf("guest file name not printed escaped:\n%q", output)
	}
	raw, _ := os.ReadFile(report)
	if strings.Contains(output, "secret=1") || strings.Contains(string(raw), "secret=1") || !strings.Contains(output, "-secret=<redacted>") {
		t.Errorf("the deleted secret line is in the output or the report")
	}
	if got := hostCanary(t, hostFiles...); fmt.Sprint(got) != fmt.Sprint(canary) {
		t.Errorf("host files changed:\nbefore %v\nafter  %v", canary, got)
	}
}

// TestAccCleanLiveRefusesPackerHost: the communicator reaches the machine Packer runs on
// (sshd without chroot), so live mode must refuse to clean its "/". The run is a dry run so a
// broken refusal could not damage the test machine; the refusal happens before any op runs,
// dry or not.
func TestAccCleanLiveRefusesPackerHost(t *testing.T) {
	testtier.Acceptance(t, "a packer build")
	env, dir, work := liveSetup(t)
	srv := startSSHD(t, dir, "")
	// A staging directory holds the uploaded config.json (the CLI's own chromogenic-clean-*
	// mount directories, which tests running beside this one make, do not).
	const staged = "/tmp/chromogenic-clean-*/config.json"
	before, _ := filepath.Glob(staged)
	report := filepath.Join(work, "report.json")
	res := env.Build(t, work, liveTemplate, 10*time.Minute, "-var", fmt.Sprintf("port=%d", srv.port),
		"-var", "key="+srv.key, "-var", "report_file="+report, "-var", "dry_run=true")
	if res.Err == nil {
		t.Fatalf("live mode cleaned (dry run) Packer's own host:\n%s", res.Output)
	}
	t.Logf("packer output:\n%s", res.Output)
	if !strings.Contains(res.Output, "refusing to clean the root of the machine Packer runs on") {
		t.Errorf("build failed for another reason:\n%s\nsshd:\n%s", res.Output, srv.log.String())
	}
	if _, err := os.Stat(report); err == nil {
		t.Errorf("a refused run wrote a report")
	}
	after, _ := filepath.Glob(staged)
	if len(after) != len(before) {
		t.Errorf("uploaded engine left on the host: before %v after %v", before, after)
	}
}
