package ec2

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

//go:embed test-fixtures/euca-base.pkr.hcl
var eucaBaseTemplate string

// TestAccEucaAttachBaseProvenance: Eucalyptus, an EBS-backed instance captured with
// capture_method attach (no changed-block API: the volume is read whole). The first capture
// (a provisioner writes into the working copy: its record lists those dirty blocks) is the
// base of the second, made after a few scattered blocks of the instance's disk changed: only
// the changed and the dirty blocks are written into the copy of the base, the working copy
// (mounted read-only, so left as read) is byte-equal to the instance's disk, the record names
// the base, the base is not written, and nothing of the attach is left.
func TestAccEucaAttachBaseProvenance(t *testing.T) {
	h := newAttachHost(t, ec2emu.Eucalyptus)
	env := packertest.Setup(t)
	e := newEucaCloudOn(t, h.srv)
	disk := sampleCopy(t)
	iid, err := h.srv.AddInstance(ec2emu.Instance{Name: "ebs-vm", RootDisk: disk, RootDeviceName: "/dev/sda"})
	if err != nil {
		t.Fatal(err)
	}
	h.volumes = h.srv.VolumeIDs() // with the instance's root volume
	dir := t.TempDir()
	roTemplate := regexp.MustCompile(`(?s)\n  provisioner "shell" \{.*?\n  \}\n`).ReplaceAllString(eucaBaseTemplate, "\n")
	build := func(sub, tmpl string, kv ...string) (*packertest.Result, string, string) {
		d := filepath.Join(dir, sub)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		args := e.args(d, append([]string{"instance_id", iid, "ami_name", "unused", "skip_register", "true"}, kv...)...)
		return env.MustBuild(t, d, tmpl, 15*time.Minute, args...), filepath.Join(d, "out", "euca.raw"), d
	}
	_, wc1, d1 := build("first", eucaBaseTemplate, "marker", fmt.Sprintf("marker-%d", time.Now().UnixNano()))
	h.checkNothingLeft(t, d1)
	rec1Path := provenance.SidecarPath(wc1)
	rec1, err := provenance.Read(rec1Path)
	if err != nil {
		t.Fatal(err)
	}
	if rec1.Source.Cloud != "eucalyptus" || rec1.Source.Instance != iid || len(rec1.Dirty) == 0 || rec1.WorkingCopy.Stamp == nil {
		t.Fatalf("first record: source %+v, %d dirty blocks, stamp %v", rec1.Source, len(rec1.Dirty), rec1.WorkingCopy.Stamp)
	}
	if err := rec1.WorkingCopy.Verify(t.Context(), wc1, nil); err != nil {
		t.Fatalf("the record's map does not describe the working copy: %v", err)
	}

	// The instance's disk changes: 4 KiB pieces in six blocks of free space.
	changed := packertest.ChangeFreeBlocks(t, disk, 18)

	start := time.Now()
	res, wc2, d2 := build("second", roTemplate, "marker", "unused", "base_provenance", rec1Path,
		"mount_options", `["ro","noload"]`, "skip_trim", "true", "copy_files", "[]")
	t.Logf("second capture (over the base) took %s", time.Since(start).Round(time.Second))
	h.checkNothingLeft(t, d2)
	rec2 := packertest.CheckUpdatedOverBase(t, res.Output, changed, rec1, rec1Path, wc2, disk)
	if rec2.Source.Instance != iid {
		t.Errorf("second record's source %+v, want instance %s", rec2.Source, iid)
	}
}
