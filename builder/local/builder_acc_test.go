package local

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

//go:embed test-fixtures/template.pkr.hcl
var accTemplate string

//go:embed test-fixtures/interrupt.pkr.hcl
var interruptTemplate string

// TestAccLocalBuild runs the real packer binary: a shell provisioner writes a file inside the
// guest, another installs a package with apt-get in the sandbox, a file provisioner uploads
// one; all are found in the artifact, the source image is
// byte-identical to before, the working copy stayed sparse and nothing is left attached.
func TestAccLocalBuild(t *testing.T) {
	testtier.Acceptance(t, "a packer build")
	env := packertest.Setup(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "source.raw")
	packertest.CopySparse(t, testimages.Sample(t), src)
	before := packertest.FileSHA256(t, src)
	srcInfo, _ := os.Stat(src)

	upload := filepath.Join(dir, "upload.txt")
	uploadBody := fmt.Sprintf("uploaded %d\n", time.Now().UnixNano())
	os.WriteFile(upload, []byte(uploadBody), 0o644)
	marker := fmt.Sprintf("marker-%d", time.Now().UnixNano())
	out := filepath.Join(dir, "out")
	mnt := filepath.Join(dir, "mounts", "mnt") // "mounts" is made by the builder: 0700

	res := env.MustBuild(t, dir, accTemplate, 10*time.Minute,
		"-var", "source_path="+src, "-var", "output_directory="+out, "-var", "mount_path="+mnt,
		"-var", "marker="+marker, "-var", "upload="+upload)
	artifact := filepath.Join(out, "acc.raw")
	if !strings.Contains(res.Output, "MOUNT="+mnt+" DEVICE=/dev/loop") || !strings.Contains(res.Output, "IMAGE="+artifact) {
		t.Errorf("build variables MountPath/Device/WorkingImage not as expected:\n%s", res.Output)
	}

	// Host hygiene, seen by findmnt and stat on the host during the build: the guest root is
	// mounted nosuid,nodev although mount_options only asks for noatime; the working copy is
	// 0600, the output directory 0700 and the mount path's parent (made by the test) 0700.
	if m := regexp.MustCompile(`FINDMNT=(\S+)`).FindStringSubmatch(res.Output); m == nil {
		t.Errorf("no findmnt line in the output:\n%s", res.Output)
	} else {
		opts := "," + m[1] + ","
		for _, o := range []string{"nosuid", "nodev", "noatime"} {
			if !strings.Contains(opts, ","+o+",") {
				t.Errorf("guest root mounted with %s, want %s among them", m[1], o)
			}
		}
	}
	if m := regexp.MustCompile(`STAT=(\d+ \d+ \d+)`).FindStringSubmatch(res.Output); m == nil || m[1] != "600 700 700" {
		t.Errorf("modes of working copy, output directory, mount parent = %v, want 600 700 700", m)
	}
	if fi, err := os.Stat(artifact); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("artifact %s: %v %v, want mode 0600", artifact, fi, err)
	}

	got := packertest.GuestFiles(t, artifact, "/root/acc-marker", "/etc/acc-upload", "/usr/lib/os-release", "/root/acc-hello")
	if string(got["/root/acc-hello"]) != "Hello, world!\n" {
		t.Errorf("apt-get install hello in the sandboxed provisioner: /root/acc-hello = %q", got["/root/acc-hello"])
	}
	// The guest's shell ran in a PID namespace of its own: it sees itself as a low PID.
	if m := regexp.MustCompile(`SANDBOXED-PID=(\d+)`).FindStringSubmatch(res.Output); m == nil || len(m[1]) > 2 {
		t.Errorf("the provisioner's shell does not look sandboxed (pid %v):\n%s", m, res.Output)
	}
	if string(got["/root/acc-marker"]) != marker+"\n" {
		t.Errorf("/root/acc-marker in the artifact = %q, want %q", got["/root/acc-marker"], marker+"\n")
	}
	if string(got["/etc/acc-upload"]) != uploadBody {
		t.Errorf("/etc/acc-upload in the artifact = %q, want %q", got["/etc/acc-upload"], uploadBody)
	}
	if !strings.Contains(string(got["/usr/lib/os-release"]), "bookworm") {
		t.Errorf("artifact's /usr/lib/os-release does not look like the sample's: %q", got["/usr/lib/os-release"])
	}

	if after := packertest.FileSHA256(t, src); after != before {
		t.Errorf("source image changed: sha256 %s -> %s", before, after)
	}
	if fi, _ := os.Stat(src); !fi.ModTime().Equal(srcInfo.ModTime()) {
		t.Errorf("source image mtime changed")
	}
	// Sparse: the 200 MiB written and deleted by the provisioner must have been trimmed away.
	srcAlloc, outAlloc := packertest.AllocatedBytes(t, src), packertest.AllocatedBytes(t, artifact)
	if outAlloc > srcAlloc+64<<20 {
		t.Errorf("working copy allocates %d MiB, source %d MiB: not kept sparse", outAlloc>>20, srcAlloc>>20)
	}
	assertReleased(t, mnt, artifact)
}

// TestAccLocalInterrupt sends Ctrl-C (SIGINT to packer's process group) while a provisioner
// that ignores it sleeps in the chroot: afterwards nothing is mounted under the mount root and
// no loop device is backed by the working copy.
func TestAccLocalInterrupt(t *testing.T) {
	testtier.Acceptance(t, "a packer build")
	env := packertest.Setup(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "source.raw")
	packertest.CopySparse(t, testimages.Sample(t), src)
	before := packertest.FileSHA256(t, src)
	out := filepath.Join(dir, "out")
	mnt := filepath.Join(dir, "mnt")

	run := env.Start(t, dir, interruptTemplate,
		"-var", "source_path="+src, "-var", "output_directory="+out, "-var", "mount_path="+mnt)
	run.Until(t, "the provisioner started", 5*time.Minute, func() bool { return strings.Contains(run.Output.String(), "PROVISIONER-SLEEPING") })
	if len(chroot.MountedUnder(mnt)) == 0 {
		run.Kill()
		t.Fatalf("nothing mounted under %s while the provisioner runs", mnt)
	}
	run.Interrupt(t, 2*time.Minute)
	assertReleased(t, mnt, filepath.Join(out, "interrupt.raw"))
	if after := packertest.FileSHA256(t, src); after != before {
		t.Errorf("source image changed by an interrupted build")
	}
}

func assertReleased(t *testing.T, mnt, image string) {
	t.Helper()
	if m := chroot.MountedUnder(mnt); len(m) > 0 {
		t.Errorf("still mounted after the build: %v", m)
		for i := len(m) - 1; i >= 0; i-- {
			syscall.Unmount(m[i], syscall.MNT_DETACH)
		}
	}
	if l := chroot.LoopsBackedBy(image); len(l) > 0 {
		t.Errorf("loop devices still backed by %s: %v", image, l)
	}
}

// TestAccLocalKilledBuildRecovered kills packer and the plugin with SIGKILL while a provisioner
// runs, so no cleanup runs and the guest stays mounted; the next build releases those mounts
// and loop devices before it mounts its own guest.
func TestAccLocalKilledBuildRecovered(t *testing.T) {
	testtier.Acceptance(t, "a packer build")
	env := packertest.Setup(t)
	dir := t.TempDir()
	// Leases of its own: any chromogenic build releases a dead build's leftovers, and other
	// tests' builds run on this host at the same time.
	t.Setenv("CHROMOGENIC_LEASE_DIR", filepath.Join(dir, "leases"))
	src := filepath.Join(dir, "source.raw")
	packertest.CopySparse(t, testimages.Sample(t), src)
	out1, mnt1 := filepath.Join(dir, "out1"), filepath.Join(dir, "mnt1")
	run := env.Start(t, dir, interruptTemplate,
		"-var", "source_path="+src, "-var", "output_directory="+out1, "-var", "mount_path="+mnt1)
	run.Until(t, "the provisioner started", 5*time.Minute, func() bool { return strings.Contains(run.Output.String(), "PROVISIONER-SLEEPING") })
	run.Kill()
	time.Sleep(time.Second)
	image1 := filepath.Join(out1, "interrupt.raw")
	if len(chroot.MountedUnder(mnt1)) == 0 {
		t.Fatalf("after SIGKILL nothing stayed mounted under %s: the test would prove nothing", mnt1)
	}
	t.Cleanup(func() { assertReleased(t, mnt1, image1) }) // also unmounts if the test fails

	dir2 := t.TempDir()
	upload := filepath.Join(dir2, "upload.txt")
	os.WriteFile(upload, []byte("x"), 0o644)
	res := env.Build(t, dir2, accTemplate, 10*time.Minute,
		"-var", "source_path="+src, "-var", "output_directory="+filepath.Join(dir2, "out"),
		"-var", "mount_path="+filepath.Join(dir2, "mnt"), "-var", "marker=m", "-var", "upload="+upload)
	if res.Err != nil {
		t.Errorf("second build: %v\n%s", res.Err, res.Output)
	}
	if m := chroot.MountedUnder(mnt1); len(m) > 0 {
		t.Errorf("the next build did not release the killed build's mounts: %v\n%s", m, res.Output)
	}
	if l := chroot.LoopsBackedBy(image1); len(l) > 0 {
		t.Errorf("loop devices of the killed build still attached: %v", l)
	}
	if !strings.Contains(res.Output, "Released the guest mounts a killed build left on "+mnt1) {
		t.Errorf("no message about the released mounts:\n%s", res.Output)
	}
}
