package convert

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
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
	verified := map[string]bool{} // files whose checksum file sha256sum -c verified
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
		} else {
			verified[tc.file] = true
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
	checkProvenance(t, src, working, conv, conv+"-manifest.json", verified)
}

// checkProvenance checks the records of the build: the builder's beside the working copy
// (source, block map verified against the working copy, chromogenic-clean's operations and
// its report's digest) and chromogenic-convert's beside its first output (every output's
// size and SHA-256 against the file: recomputed, or compared with the checksum file that
// sha256sum -c verified (verified), the builder's record named as its input with
// its SHA-256: the convert read it through the artifact state across Packer's RPC), and
// the manifest lists the convert record among the artifact's files.
func checkProvenance(t *testing.T, src, working, conv, manifest string, verified map[string]bool) {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	wrec := provenance.SidecarPath(working)
	b, err := provenance.Read(wrec)
	if err != nil {
		t.Fatalf("builder's record: %v", err)
	}
	if b.Producer != "chromogenic-local" || b.Source.Cloud != "local" || b.Source.Path != src {
		t.Errorf("builder's record: producer %q, source %+v; want chromogenic-local from %s", b.Producer, b.Source, src)
	}
	if b.WorkingCopy == nil || b.WorkingCopy.Path != working {
		t.Fatalf("builder's record: working copy %+v", b.WorkingCopy)
	}
	if err := b.WorkingCopy.Verify(ctx, working, nil); err != nil {
		t.Errorf("builder's record: %v", err)
	}
	report, err := os.ReadFile(filepath.Join(filepath.Dir(working) + "-clean.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(report)
	var ops []string
	if b.Clean != nil {
		ops = append(ops, b.Clean.Operations...)
		sort.Strings(ops)
	}
	if strings.Join(ops, " ") != "bash-history machine-id ssh-hostkeys" ||
		b.Clean.ReportSHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("builder's record: clean %+v, want the three operations and report sha256 %x", b.Clean, sum)
	}
	if _, err := os.Stat(provenance.CleanNotePath(working)); !os.IsNotExist(err) {
		t.Errorf("the clean note is left beside the working copy: %v", err)
	}
	wsum, _, _ := provenance.FileSHA256(wrec)

	crec := provenance.SidecarPath(filepath.Join(conv, "conv-disk.qcow2"))
	c, err := provenance.Read(crec)
	if err != nil {
		t.Fatalf("convert's record: %v", err)
	}
	if c.Producer != "chromogenic-convert" || c.Input != wrec || c.InputSHA256 != wsum || c.Source.Path != src ||
		!reflect.DeepEqual(c.Clean, b.Clean) || !reflect.DeepEqual(c.WorkingCopy, b.WorkingCopy) {
		t.Errorf("convert's record does not carry the builder's (%s, sha256 %s): %+v", wrec, wsum, c)
	}
	formats := map[string]bool{}
	for _, o := range c.Outputs {
		formats[o.Format] = true
		var got string
		var size int64
		var err error
		if sumFile, rerr := os.ReadFile(o.Path + ".sha256"); rerr == nil && verified[filepath.Base(o.Path)] {
			// sha256sum -c checked this checksum file against the file: the record must agree.
			got = strings.Fields(string(sumFile) + " ")[0]
			if fi, serr := os.Stat(o.Path); serr == nil {
				size = fi.Size()
			}
		} else {
			got, size, err = provenance.FileSHA256(o.Path)
		}
		if err != nil || got != o.SHA256 || size != o.Size || filepath.Dir(o.Path) != conv {
			t.Errorf("output %s: sha256 %s, %d bytes (%v); the record says %s, %d bytes", o.Path, got, size, err, o.SHA256, o.Size)
		}
	}
	if len(c.Outputs) != 5 || len(formats) != 5 {
		t.Errorf("convert's record lists %d outputs (%v), want the 5 formats", len(c.Outputs), formats)
	}
	if fi, err := os.Stat(crec); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("convert's record: %v %v, want mode 0640 (file_mode)", fi, err)
	}
	m, err := os.ReadFile(manifest)
	if err != nil || !strings.Contains(string(m), filepath.Base(crec)) {
		t.Errorf("the manifest does not list the convert's record among the artifact's files: %v\n%s", err, m)
	}
	t.Logf("provenance records checked in %s", time.Since(start).Round(time.Millisecond))
}
