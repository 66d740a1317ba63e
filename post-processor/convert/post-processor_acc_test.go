package convert

import (
	_ "embed"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

//go:embed test-fixtures/template.pkr.hcl
var accTemplate string

// TestAccConvert builds the sample with chromogenic-local and converts the working copy with
// the real packer binary: every output passes qemu-img check, compares identical to the
// working copy and has a verifying checksum file; the OVA holds a VMDK identical to it and a
// descriptor naming the guest's OS. (That these exports boot is proven by internal/ova's
// TestBootExports on the same engine: the OVA's disk booted, the qcow2 and VMDK identical to
// the booted sample by qemu-img compare.)
func TestAccConvert(t *testing.T) {
	testtier.Acceptance(t, "a packer build")
	env := packertest.Setup(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "source.raw")
	packertest.CopySparse(t, testimages.Sample(t), src)
	out, conv := filepath.Join(dir, "out"), filepath.Join(dir, "converted")

	res := env.MustBuild(t, dir, accTemplate, 15*time.Minute,
		"-var", "source_path="+src, "-var", "output_directory="+out, "-var", "convert_directory="+conv)
	working := filepath.Join(out, "conv.raw")
	if _, err := os.Stat(working); err != nil {
		t.Fatalf("keep_input_artifact = true, but the working copy is gone: %v", err)
	}
	for _, tc := range []struct{ file, qemuFormat string }{
		{"conv-disk.qcow2", "qcow2"}, {"conv-disk.vmdk", "vmdk"}, {"conv-disk.vhd", "vpc"}, {"conv-disk.raw", "raw"},
	} {
		path := filepath.Join(conv, tc.file)
		if tc.qemuFormat != "raw" && tc.qemuFormat != "vpc" {
			if o, err := exec.Command("qemu-img", "check", "-f", tc.qemuFormat, path).CombinedOutput(); err != nil {
				t.Errorf("qemu-img check %s: %v\n%s", tc.file, err, o)
			}
		}
		if o, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", tc.qemuFormat, working, path).CombinedOutput(); err != nil {
			t.Errorf("qemu-img compare working copy vs %s: %v\n%s", tc.file, err, o)
		}
		sum := exec.Command("sha256sum", "-c", tc.file+".sha256")
		sum.Dir = conv
		if o, err := sum.CombinedOutput(); err != nil {
			t.Errorf("sha256sum -c %s.sha256: %v\n%s", tc.file, err, o)
		}
		for _, f := range []string{path, path + ".sha256"} {
			if fi, err := os.Stat(f); err != nil {
				t.Error(err)
			} else if fi.Mode().Perm() != 0o640 {
				t.Errorf("%s: mode %o, want 0640 (file_mode)", f, fi.Mode().Perm())
			}
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".part")); err == nil {
			t.Errorf(".%s.part left behind", tc.file)
		}
	}
	// stat: the builder's working copy and output directory are private by default; the
	// convert directory the post-processor made goes with file_mode 0640.
	for p, want := range map[string]os.FileMode{working: 0o600, out: 0o700, conv: 0o750} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want mode %o", p, fi, err, want)
		}
	}
	if !strings.Contains(res.Output, "Converting") {
		t.Errorf("no conversion messages in the UI:\n%s", res.Output)
	}
	got := packertest.GuestFiles(t, filepath.Join(conv, "conv-disk.raw"), "/etc/chromogenic-convert-marker")
	if string(got["/etc/chromogenic-convert-marker"]) != "converted-by-chromogenic\n" {
		t.Errorf("provisioned file missing in the converted raw: %q", got["/etc/chromogenic-convert-marker"])
	}
	// The OVA: .ovf first, .mf last, the disk identical to the working copy, OS from os-release.
	ovaDir := t.TempDir()
	if o, err := exec.Command("tar", "-xf", filepath.Join(conv, "conv-disk.ova"), "-C", ovaDir).CombinedOutput(); err != nil {
		t.Fatalf("tar -xf: %v %s", err, o)
	}
	list, _ := exec.Command("tar", "-tf", filepath.Join(conv, "conv-disk.ova")).Output()
	members := strings.Fields(string(list))
	if len(members) != 3 || !strings.HasSuffix(members[0], ".ovf") || !strings.HasSuffix(members[2], ".mf") {
		t.Fatalf("OVA members %v", members)
	}
	if o, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", "vmdk", working, filepath.Join(ovaDir, members[1])).CombinedOutput(); err != nil {
		t.Errorf("disk in the OVA differs from the working copy: %v\n%s", err, o)
	}
	ovf, _ := os.ReadFile(filepath.Join(ovaDir, members[0]))
	if !strings.Contains(string(ovf), "Debian") || !strings.Contains(string(ovf), ">2048<") {
		t.Errorf("OVF descriptor lacks the guest OS or the memory setting:\n%s", ovf)
	}
}
