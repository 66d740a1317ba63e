package chaining

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// parallel is how many builds run at once unless -test.parallel says otherwise: the builds
// mostly wait (on packer's plugin start, Glance, the emulator), so more than the default
// GOMAXPROCS keeps the package's wall time down.
const parallel = 8

func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", fmt.Sprint(parallel))
	}
	// Leases of this package's own: builds of other packages' tests running on the host at
	// the same time neither see nor release ours, and a lease left here is ours.
	leases := filepath.Join(os.TempDir(), fmt.Sprintf("chaining-leases-%d", os.Getpid()))
	os.Setenv("CHROMOGENIC_LEASE_DIR", leases)
	chroot.LeaseDir = leases
	// packer gets the emulator's credentials from the templates, and nothing of the
	// developer's own AWS settings.
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_REGION", "AWS_DEFAULT_REGION"} {
		os.Unsetenv(k)
	}
	os.Setenv("AWS_CONFIG_FILE", "/nonexistent/chaining-aws-config")
	os.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/chaining-aws-credentials")
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	code := m.Run()
	os.RemoveAll(leases)
	if tinyDir != "" {
		os.RemoveAll(tinyDir)
	}
	os.Exit(code)
}

func accOnly(t *testing.T) {
	t.Helper()
	testtier.Acceptance(t, "chained packer builds against the EC2 emulator and the all-in-one OpenStack cloud")
}

var (
	tinyOnce sync.Once
	tinyPath string
	tinyDir  string
)

// tiny is the shared 16 MiB guest (testimages.Tiny), read only: copy it before a build that
// could write it.
func tiny(t *testing.T) string {
	t.Helper()
	tinyOnce.Do(func() {
		var err error
		if tinyDir, err = os.MkdirTemp("", "chaining-tiny-"); err != nil {
			t.Fatal(err)
		}
		tinyPath = testimages.Tiny(t, tinyDir)
	})
	if tinyPath == "" {
		t.Fatal("tiny image not made")
	}
	return tinyPath
}

// variables declares every variable a chaining template may get; each builder uses some.
const variables = `
variable "keep" { type = bool }
variable "name" { type = string }
variable "out" { type = string }
variable "hook" {
  type    = string
  default = "true"
}
variable "chain2_format" {
  type    = string
  default = "qcow2"
}
variable "chain3_format" {
  type    = string
  default = "qcow2"
}
variable "source" { type = string }
variable "clouds_file" {
  type    = string
  default = ""
}
variable "ec2_endpoint" {
  type    = string
  default = ""
}
variable "ebs_endpoint" {
  type    = string
  default = ""
}
variable "s3_endpoint" {
  type    = string
  default = ""
}
variable "keys_dir" {
  type    = string
  default = ""
}
`

// chains is the template of one builder: its source block, a shell-local hook (for the
// interrupt tests) and the three chains, importBlock being the import post-processor with
// %[1]s for its chain's name suffix.
func chains(builderType, source, importBlock string) string {
	imp := func(suffix string) string { return fmt.Sprintf(importBlock, suffix) }
	return variables + source + fmt.Sprintf(`
build {
  sources = ["source.%s.chain"]

  provisioner "file" {
    content     = var.name
    destination = "/root/chaining-marker"
  }
  provisioner "shell-local" {
    inline = [var.hook]
  }

  post-processors {
    post-processor "chromogenic-convert" {
      formats             = ["qcow2"]
      output_directory    = "${var.out}/chain1"
      keep_input_artifact = var.keep
    }
  }
  post-processors {
%s
  }
  post-processors {
    post-processor "chromogenic-convert" {
      formats             = ["qcow2"]
      output_directory    = "${var.out}/chain3"
      keep_input_artifact = var.keep
    }
%s
  }
}
`, builderType, imp("chain2"), imp("chain3"))
}

// ec2Access is the access block of the emulator (its static credentials).
var ec2Access = fmt.Sprintf(`access_key = %q
  secret_key = %q`, ec2emu.DefaultAccessKeyID, ec2emu.DefaultSecretAccessKey)

// build is one packer build of a chaining template.
type build struct {
	keep bool
	kind string // local, openstack, ec2, euca...
	name string // prefix of every cloud image of the build
	dir  string // packer's directory (template, log)
	out  string // var.out: work (builder's output_directory), mnt, chain1, chain3
	args []string
}

func newBuild(t *testing.T, kind string, keep bool, kv ...string) *build {
	t.Helper()
	dir := t.TempDir()
	b := &build{keep: keep, kind: kind, name: fmt.Sprintf("chaining-%s-%t-%d", kind, keep, time.Now().UnixNano()%1e9),
		dir: dir, out: filepath.Join(dir, "out")}
	kv = append([]string{"keep", fmt.Sprint(keep), "name", b.name, "out", b.out}, kv...)
	for i := 0; i+1 < len(kv); i += 2 {
		b.args = append(b.args, "-var", kv[i]+"="+kv[i+1])
	}
	return b
}

func (b *build) run(t *testing.T, template string) *packertest.Result {
	t.Helper()
	return packertest.Setup(t).MustBuild(t, b.dir, template, 10*time.Minute, b.args...)
}

func (b *build) start(t *testing.T, template string, kv ...string) *packertest.Run {
	t.Helper()
	args := b.args
	for i := 0; i+1 < len(kv); i += 2 {
		args = append(args, "-var", kv[i]+"="+kv[i+1])
	}
	return packertest.Setup(t).Start(t, b.dir, template, args...)
}

// files lists the regular files directly in dir (none when it does not exist), provenance
// records aside (see checkRecords).
func files(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() && !strings.HasSuffix(e.Name(), provenance.Suffix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// checkRecords checks the provenance records in dir: each reads back; a sidecar record
// (<file>.provenance.json) is there only with its file (an artifact's Destroy removes both);
// an import's record of the image it published (<cloud>-image-<id>.provenance.json, the
// image its last output) stays with the image. Every local output a record names that is
// still there has the size and SHA-256 the record gives, and every block map whose file is
// still there matches it block by block (checkRecordFiles); it returns how many of each it
// checked.
func checkRecords(t *testing.T, dir string) (outputs, maps int) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, provenance.Suffix) {
			continue
		}
		r, err := provenance.Read(filepath.Join(dir, name))
		if err != nil {
			t.Error(err)
			continue
		}
		o, m := checkRecordFiles(t, name, r)
		outputs, maps = outputs+o, maps+m
		if strings.HasSuffix(r.Producer, "-import") {
			// openstack-import names its record after the image (<format>-image-<id>);
			// ec2-import after the input it pushed (<input>.ec2-import.provenance.json, the
			// next delta push's base, kept when the input goes): either names an image it made.
			named := len(r.Outputs) > 0 && strings.HasSuffix(name, "-image-"+r.Outputs[len(r.Outputs)-1].ID+provenance.Suffix)
			if strings.HasSuffix(name, ".ec2-import"+provenance.Suffix) {
				for _, o := range r.Outputs {
					named = named || o.Kind == "image" && strings.HasPrefix(o.ID, "ami-")
				}
			}
			if !named {
				t.Errorf("%s: producer %s, outputs %+v: not the record of the image it names", name, r.Producer, r.Outputs)
			}
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, strings.TrimSuffix(name, provenance.Suffix))); err != nil {
			t.Errorf("provenance record %s left without its file: %v", name, err)
		}
	}
	return outputs, maps
}

// checkRecordFiles checks record r (the file name) against the local files it names that
// are still there (a Destroy removes the working copy, and the convert files of a chain that
// does not keep them): each output's size and SHA-256, each block map's every block.
func checkRecordFiles(t *testing.T, name string, r *provenance.Record) (outputs, maps int) {
	t.Helper()
	for _, o := range r.Outputs {
		if o.Path == "" {
			continue
		}
		if _, err := os.Stat(o.Path); os.IsNotExist(err) {
			continue
		}
		sum, size, err := provenance.FileSHA256(o.Path)
		if err != nil || sum != o.SHA256 || size != o.Size {
			t.Errorf("%s: output %s is %d bytes, sha256 %s (%v); the record says %d bytes, %s", name, o.Path, size, sum, err, o.Size, o.SHA256)
		}
		outputs++
	}
	for _, m := range append([]*provenance.BlockMap{r.WorkingCopy}, r.OtherDisks...) {
		if m == nil {
			continue
		}
		if _, err := os.Stat(m.Path); os.IsNotExist(err) {
			continue
		}
		// A map of an image in another format (an import's qcow2 input) is of its content:
		// checked against the image converted to raw by qemu-img.
		raw := m.Path
		if f := imageFormat(t, m.Path); f != "raw" {
			raw = filepath.Join(t.TempDir(), filepath.Base(m.Path)+".raw")
			if out, err := exec.Command("qemu-img", "convert", "-f", f, "-O", "raw", m.Path, raw).CombinedOutput(); err != nil {
				t.Fatalf("qemu-img convert %s: %v %s", m.Path, err, out)
			}
		}
		if err := m.Verify(context.Background(), raw, nil); err != nil {
			t.Errorf("%s: block map: %v", name, err)
		}
		maps++
	}
	return outputs, maps
}

// imageFormat is the format qemu-img finds the image at path in.
func imageFormat(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("qemu-img", "info", "--output=json", path).Output()
	var info struct {
		Format string `json:"format"`
	}
	if err != nil || json.Unmarshal(out, &info) != nil || info.Format == "" {
		t.Fatalf("qemu-img info %s: %v %s", path, err, out)
	}
	return info.Format
}

// checkLocal checks the files of a finished build (rule 2): chain 1's qcow2, chain 3's only
// when kept, the builder's working copy only when kept; and that nothing is held (checkHeld).
func (b *build) checkLocal(t *testing.T) {
	t.Helper()
	if f := files(filepath.Join(b.out, "chain1")); len(f) != 1 || !strings.HasSuffix(f[0], ".qcow2") {
		t.Errorf("chain 1 (convert alone): files %v, want its one qcow2", f)
	}
	f3 := files(filepath.Join(b.out, "chain3"))
	if b.keep && (len(f3) != 1 || !strings.HasSuffix(f3[0], ".qcow2")) {
		t.Errorf("chain 3 (convert -> import, kept): files %v, want the convert's one qcow2", f3)
	}
	if !b.keep && len(f3) != 0 {
		t.Errorf("chain 3 (convert -> import, keep_input_artifact = false): files %v left, want none", f3)
	}
	work := files(filepath.Join(b.out, "work"))
	if b.keep && len(work) != 1 {
		t.Errorf("builder's working copy, kept: files %v, want one", work)
	}
	if !b.keep && len(work) != 0 {
		t.Errorf("builder's working copy, not kept: files %v left", work)
	}
	// Chain 1's qcow2 is always there, with its record; the working copy only when kept
	// (its block map then checked through the builder's record and every convert's; the
	// Eucalyptus build captures a bundle, and chromogenic-ec2 writes a record only for an
	// EBS direct capture).
	outputs, maps := b.checkHeld(t)
	if outputs == 0 || (b.keep && b.kind != "euca" && maps < 2) {
		t.Errorf("records checked against their files: %d outputs, %d block maps", outputs, maps)
	}
}

// checkHeld fails the test for anything the build still holds on this host: a mount under
// its directory, a loop device backed by a file under it (deleted or not), a lease of it;
// and that no provenance record is left without its file and each matches the files it
// names (checkRecords, whose counts it returns).
// Mounts found are released so the test's cleanup can remove the directory.
func (b *build) checkHeld(t *testing.T) (outputs, maps int) {
	t.Helper()
	for _, d := range []string{"chain1", "chain3", "work"} {
		o, m := checkRecords(t, filepath.Join(b.out, d))
		outputs, maps = outputs+o, maps+m
	}
	if m := chroot.MountedUnder(b.dir); len(m) > 0 {
		t.Errorf("still mounted: %v", m)
		for i := len(m) - 1; i >= 0; i-- {
			syscall.Unmount(m[i], syscall.MNT_DETACH)
		}
	}
	backing, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, p := range backing {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if f := strings.TrimSuffix(strings.TrimSpace(string(raw)), " (deleted)"); strings.HasPrefix(f, b.dir+"/") {
			t.Errorf("loop device %s still backed by %s", filepath.Base(filepath.Dir(filepath.Dir(p))), raw)
		}
	}
	leases, _ := filepath.Glob(filepath.Join(chroot.LeaseDir, "*.json"))
	for _, l := range leases {
		data, _ := os.ReadFile(l)
		var lease struct{ Root string }
		if json.Unmarshal(data, &lease) == nil && strings.HasPrefix(lease.Root, b.dir+"/") {
			t.Errorf("lease left behind: %s for %s", l, lease.Root)
		}
	}
	return outputs, maps
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}
