package ec2

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
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

// pushToAWS adds to a euca-base template a chromogenic-ec2-import post-processor pushing the
// working copy to an AWS (emulator) region, as a delta onto var.push_base's snapshot when set.
func pushToAWS(tmpl string) string {
	tmpl = strings.TrimSuffix(strings.TrimRight(tmpl, "\n"), "}")
	return tmpl + `  post-processor "chromogenic-ec2-import" {
    access_key          = var.aws_key
    secret_key          = var.aws_secret
    region              = "` + ec2emu.DefaultRegion + `"
    custom_endpoint_ec2 = var.aws_ec2
    custom_endpoint_ebs = var.aws_ebs
    ami_name            = var.push_name
    base_provenance     = var.push_base
    keep_input_artifact = true
  }
}

variable "aws_ec2" { type = string }
variable "aws_ebs" { type = string }
variable "aws_key" { type = string }
variable "aws_secret" {
  type      = string
  sensitive = true
}
variable "push_name" { type = string }
variable "push_base" {
  type    = string
  default = ""
}
`
}

// TestAccEucaBundleBaseProvenance: Eucalyptus, an instance-store instance captured with
// BundleInstance (capture_method bundle: the bundle is downloaded and unbundled whole) and
// pushed to AWS with chromogenic-ec2-import. The first capture (provisioned: its record lists
// the dirty blocks) is the base of the second, made after scattered blocks of the instance's
// disk changed: only the changed and dirty blocks are written into the copy of the base's
// working copy, which is byte-equal to the instance's disk (a full capture of it), maps as
// its record says and names the base; the second push is a delta onto the first push's
// snapshot writing exactly the blocks that differ, and the new snapshot holds the working
// copy. A base from another instance is refused before anything is bundled; a base whose
// working copy no longer matches its record is not used: the capture is a full one, saying
// why, and still byte-equal to the disk.
func TestAccEucaBundleBaseProvenance(t *testing.T) {
	eucaAccOnly(t)
	env := packertest.Setup(t)
	e := newEucaCloud(t)
	aws := ec2emu.Start(t)
	disk := sampleCopy(t)
	iid, err := e.srv.AddInstance(ec2emu.Instance{Name: "is-vm", RootDisk: disk, RootDeviceType: "instance-store", RootDeviceName: "/dev/sda"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pushTemplate := pushToAWS(eucaBaseTemplate)
	roTemplate := regexp.MustCompile(`(?s)\n  provisioner "shell" \{.*?\n  \}\n`).ReplaceAllString(eucaBaseTemplate, "\n")
	ro := []string{"mount_options", `["ro","noload"]`, "skip_trim", "true", "copy_files", "[]"}
	awsVars := func(name, base string) []string {
		return []string{"aws_ec2", aws.EC2Endpoint, "aws_ebs", aws.EBSEndpoint, "aws_key", aws.AccessKeyID,
			"aws_secret", aws.SecretAccessKey, "push_name", name, "push_base", base}
	}
	build := func(sub, tmpl string, mustPass bool, inst string, kv ...string) (*packertest.Result, string, string) {
		d := filepath.Join(dir, sub)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		args := e.args(d, append([]string{"instance_id", inst, "ami_name", "unused", "skip_register", "true"}, kv...)...)
		start := time.Now()
		var res *packertest.Result
		if mustPass {
			res = env.MustBuild(t, d, tmpl, 15*time.Minute, args...)
		} else {
			res = env.Build(t, d, tmpl, 15*time.Minute, args...)
		}
		t.Logf("build %s took %s", sub, time.Since(start).Round(time.Second))
		return res, filepath.Join(d, "out", "euca.raw"), d
	}
	checkNoBundle := func(what string) {
		t.Helper()
		if keys := e.srv.ObjectKeys("packer-bundles"); len(keys) != 0 {
			t.Errorf("%s: objects left in the bucket: %v", what, keys)
		}
	}

	res, wc1, _ := build("first", pushTemplate, true, iid, append([]string{"marker", fmt.Sprintf("marker-%d", time.Now().UnixNano())}, awsVars("euca-push-1", "")...)...)
	checkNoBundle("first")
	if n := e.srv.CallCount("BundleInstance"); n != 1 {
		t.Fatalf("%d BundleInstance calls: not a bundle capture\n%s", n, res.Output)
	}
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
	push1Path := wc1 + ".ec2-import" + provenance.Suffix
	push1, err := provenance.Read(push1Path)
	if err != nil {
		t.Fatalf("the first push's record: %v\n%s", err, res.Output)
	}
	snap1 := pushedSnapshot(t, push1)
	full := pushBlocks(t, res.Output, "in full")

	// The instance's disk changes: 4 KiB pieces in six blocks of free space.
	changed := packertest.ChangeFreeBlocks(t, disk, 29)

	res, wc2, _ := build("second", pushToAWS(roTemplate), true, iid, append(append([]string{"marker", "unused", "base_provenance", rec1Path}, ro...),
		awsVars("euca-push-2", push1Path)...)...)
	checkNoBundle("second")
	rec2 := packertest.CheckUpdatedOverBase(t, res.Output, changed, rec1, rec1Path, wc2, disk)
	if rec2.Source.Instance != iid || rec2.Source.Cloud != "eucalyptus" {
		t.Errorf("second record's source %+v, want instance %s", rec2.Source, iid)
	}
	// The push: a delta onto the first push's snapshot, exactly the blocks where the new
	// working copy differs from what was pushed (the changed ones, and the first build's
	// provisioned ones, not provisioned this time).
	differ, err := rec2.WorkingCopy.Changed(push1.WorkingCopy)
	if err != nil {
		t.Fatal(err)
	}
	delta := pushBlocks(t, res.Output, "as a delta onto "+snap1)
	if delta != len(differ) || delta > len(changed)+len(rec1.Dirty) || delta*10 > full {
		t.Errorf("the delta push wrote %d blocks; %d differ from the first push (%d changed, %d dirty); the full push wrote %d",
			delta, len(differ), len(changed), len(rec1.Dirty), full)
	}
	t.Logf("push: %d blocks in full, then %d as a delta onto %s (%d blocks differ)", full, delta, snap1, len(differ))
	push2, err := provenance.Read(wc2 + ".ec2-import" + provenance.Suffix)
	if err != nil {
		t.Fatal(err)
	}
	snap2 := pushedSnapshot(t, push2)
	if info, _ := aws.Snapshot(snap2); info.ParentID != snap1 || push2.Base != push1Path {
		t.Errorf("snapshot %s: parent %q, record base %q; want %s and %s", snap2, info.ParentID, push2.Base, snap1, push1Path)
	}
	fi, err := os.Stat(wc2)
	if err != nil {
		t.Fatal(err)
	}
	got := filepath.Join(dir, "snapshot2.raw")
	if err := aws.WriteSnapshotFile(snap2, got, fi.Size()); err != nil {
		t.Fatal(err)
	}
	if !packertest.SameBytes(t, got, wc2) {
		t.Errorf("the delta snapshot %s differs from the working copy %s", snap2, wc2)
	}
	os.Remove(got)

	// A base from another instance: refused before the cloud bundles anything.
	other := sampleCopy(t)
	oid, err := e.srv.AddInstance(ec2emu.Instance{Name: "other-vm", RootDisk: other, RootDeviceType: "instance-store", RootDeviceName: "/dev/sda"})
	if err != nil {
		t.Fatal(err)
	}
	bundles := e.srv.CallCount("BundleInstance")
	res, _, _ = build("other", roTemplate, false, oid, append([]string{"marker", "unused", "base_provenance", rec1Path}, ro...)...)
	if res.Err == nil || !strings.Contains(res.Output, "is from another source") || !strings.Contains(res.Output, oid) {
		t.Errorf("a base of instance %s accepted for instance %s (or not said so):\n%s", iid, oid, res.Output)
	}
	if n := e.srv.CallCount("BundleInstance"); n != bundles {
		t.Errorf("%d BundleInstance calls for a refused base", n-bundles)
	}
	checkNoBundle("other")
	os.Remove(other)

	// A base whose working copy was written since its record (a block no longer matches):
	// a full capture, saying why.
	f, err := os.OpenFile(wc1, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("not the recorded block"), rec1.WorkingCopy.Size/3); err != nil {
		t.Fatal(err)
	}
	f.Close()
	res, wc3, _ := build("corrupt", roTemplate, true, iid, append([]string{"marker", "unused", "base_provenance", rec1Path}, ro...)...)
	if !regexp.MustCompile(`Brought home in full: the base \S+ was not used \(.*does not match its record: .*block \d+`).MatchString(res.Output) {
		t.Errorf("no fall back to a full transfer saying why:\n%s", res.Output)
	}
	if strings.Contains(res.Output, "Updated over the base") {
		t.Errorf("updated over a corrupted base:\n%s", res.Output)
	}
	if !packertest.SameBytes(t, wc3, disk) {
		t.Errorf("the full capture %s differs from the disk", wc3)
	}
	rec3, err := provenance.Read(provenance.SidecarPath(wc3))
	if err != nil {
		t.Fatal(err)
	}
	if rec3.Base != "" {
		t.Errorf("a full capture names base %q", rec3.Base)
	}
	if err := rec3.WorkingCopy.Verify(t.Context(), wc3, nil); err != nil {
		t.Errorf("the third record's map: %v", err)
	}
	checkNoBundle("corrupt")
}

// pushedSnapshot is the root snapshot a chromogenic-ec2-import record names.
func pushedSnapshot(t *testing.T, r *provenance.Record) string {
	t.Helper()
	for _, o := range r.Outputs {
		if o.Kind == "snapshot" && o.Cloud == "aws" && o.Disk == 0 && o.ID != "" {
			return o.ID
		}
	}
	t.Fatalf("the push record names no snapshot: %+v", r.Outputs)
	return ""
}

// pushBlocks is the number of blocks chromogenic-ec2-import says it wrote, pushing how.
func pushBlocks(t *testing.T, out, how string) int {
	t.Helper()
	m := regexp.MustCompile(`Pushed ` + regexp.QuoteMeta(how) + ` \((\d+) blocks written\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no push %s in the output:\n%s", how, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
