package ec2

import (
	_ "embed"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

//go:embed test-fixtures/recapture.pkr.hcl
var recaptureTemplate string

// TestAccEC2Recapture: an instance captured through packer (a provisioner writes into the
// working copy: the record lists those dirty blocks; the capture snapshot is kept); the
// instance's disk then changes (it becomes that working copy) and is captured again with
// base_provenance: only the changed and dirty blocks are read, and the working copy (mounted
// read-only, so left as captured) is byte-equal to the new snapshot read in full. A byte
// flipped in the base's working copy is found, said, and the capture falls back to a full
// download, still byte-equal; a record of another instance is refused, naming both.
func TestAccEC2Recapture(t *testing.T) {
	testtier.Acceptance(t, "packer builds against the EC2 emulator")
	env := packertest.Setup(t)
	srv := emulator(t)
	disk := sampleCopy(t)
	iid, err := srv.AddInstance(ec2emu.Instance{Name: "web", RootDisk: disk})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The recaptures are mounted read-only, with nothing copied in and no provisioner: their
	// working copies stay as captured, to be compared with the snapshots byte for byte.
	ro := []string{"mount_options=[\"ro\",\"noload\"]", "skip_trim=true", "copy_files=[]"}
	roTemplate := regexp.MustCompile(`(?s)\n  provisioner "shell" \{.*?\n  \}\n`).ReplaceAllString(recaptureTemplate, "\n")
	if roTemplate == recaptureTemplate {
		t.Fatal("no provisioner to take out of the template")
	}
	build := func(name string, must bool, kv ...string) (*packertest.Result, string) {
		t.Helper()
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		args := []string{"-var", "region=" + srv.Region, "-var", "ec2_endpoint=" + srv.EC2Endpoint,
			"-var", "ebs_endpoint=" + srv.EBSEndpoint, "-var", "output_directory=" + filepath.Join(d, "out")}
		for _, v := range kv {
			args = append(args, "-var", v)
		}
		tmpl := recaptureTemplate
		if slices.Contains(kv, ro[0]) {
			tmpl = roTemplate
		}
		if !must {
			return env.Build(t, d, tmpl, 15*time.Minute, args...), filepath.Join(d, "out", "acc.raw")
		}
		return env.MustBuild(t, d, tmpl, 15*time.Minute, args...), filepath.Join(d, "out", "acc.raw")
	}
	_, wc1 := build("first", true, "instance_id="+iid, "command=echo first > /root/recapture-marker")
	rec1Path := provenance.SidecarPath(wc1)
	rec1, err := provenance.Read(rec1Path)
	if err != nil {
		t.Fatal(err)
	}
	if rec1.Source.Cloud != "aws" || rec1.Source.Instance != iid || len(rec1.Source.Snapshots) != 1 || len(rec1.Dirty) == 0 {
		t.Fatalf("first record: source %+v, %d dirty blocks", rec1.Source, len(rec1.Dirty))
	}
	if err := rec1.WorkingCopy.Verify(t.Context(), wc1, nil); err != nil {
		t.Fatalf("the record's map does not describe the working copy: %v", err)
	}
	if _, ok := srv.Snapshot(rec1.Source.Snapshots[0]); !ok {
		t.Fatalf("capture snapshot %s not kept", rec1.Source.Snapshots[0])
	}

	// The instance changes: its disk becomes the first working copy (the marker, the mount).
	packertest.CopySparse(t, wc1, disk)
	res, wc2 := build("second", true, "instance_id="+iid, "base_provenance="+rec1Path, ro[0], ro[1], ro[2])
	if !strings.Contains(res.Output, "Recapturing snapshot") || strings.Contains(res.Output, "Falling back") {
		t.Fatalf("no changed-block recapture:\n%s", res.Output)
	}
	m := regexp.MustCompile(`(\d+) blocks changed since snap-\w+, (\d+) read`).FindStringSubmatch(res.Output)
	if m == nil {
		t.Fatalf("no recapture figures:\n%s", res.Output)
	}
	read, _ := strconv.Atoi(m[2])
	if read == 0 || int64(read) > rec1.WorkingCopy.Count()/20 {
		t.Errorf("recapture read %s blocks of %d", m[2], rec1.WorkingCopy.Count())
	}
	rec2, err := provenance.Read(provenance.SidecarPath(wc2))
	if err != nil {
		t.Fatal(err)
	}
	if rec2.Base != rec1Path || len(rec2.Dirty) != 0 {
		t.Errorf("second record: base %q, dirty %v", rec2.Base, rec2.Dirty)
	}
	full := filepath.Join(dir, "full2.raw")
	if err := srv.WriteSnapshotFile(rec2.Source.Snapshots[0], full, 0); err != nil {
		t.Fatal(err)
	}
	if !packertest.SameBytes(t, wc2, full) {
		t.Fatal("the recaptured working copy differs from a full read of the new snapshot")
	}
	if got := packertest.GuestFiles(t, wc2, "/root/recapture-marker"); string(got["/root/recapture-marker"]) != "first\n" {
		t.Errorf("marker in the recapture: %q", got["/root/recapture-marker"])
	}

	// A damaged base: found, said, a full download instead.
	for i, h := range rec1.WorkingCopy.Blocks {
		if h != "" {
			f, err := os.OpenFile(wc1, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteAt([]byte{0xA5, 0x5A}, int64(i)*provenance.BlockSize+4242)
			f.Close()
			break
		}
	}
	res, wc3 := build("third", true, "instance_id="+iid, "base_provenance="+rec1Path, ro[0], ro[1], ro[2])
	if !strings.Contains(res.Output, "Falling back to a full download") || !strings.Contains(res.Output, "does not match its block map") {
		t.Fatalf("damaged base not reported:\n%s", res.Output)
	}
	rec3, err := provenance.Read(provenance.SidecarPath(wc3))
	if err != nil {
		t.Fatal(err)
	}
	full = filepath.Join(dir, "full3.raw")
	if err := srv.WriteSnapshotFile(rec3.Source.Snapshots[0], full, 0); err != nil {
		t.Fatal(err)
	}
	if rec3.Base != "" || !packertest.SameBytes(t, wc3, full) {
		t.Fatalf("fallback: base %q, or the working copy differs from the snapshot", rec3.Base)
	}

	// Another instance's record is refused.
	other, err := srv.AddInstance(ec2emu.Instance{Name: "other", RootDisk: sampleCopy(t)})
	if err != nil {
		t.Fatal(err)
	}
	res, _ = build("fourth", false, "instance_id="+other, "base_provenance="+rec1Path, ro[0], ro[1], ro[2])
	if res.Err == nil || !strings.Contains(res.Output, "from another source") || !strings.Contains(res.Output, iid) || !strings.Contains(res.Output, other) {
		t.Fatalf("a base of another instance was not refused naming both:\n%s", res.Output)
	}
}
