package migration

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// TestAccWarmMigrateAWSToAWS runs example/warm-migrate-aws-to-aws.pkr.hcl twice on an instance
// of the emulated AWS: pass 1 while it runs (a full capture and a full push), then files change
// in the guest, the instance stops, and pass 2 names pass 1's directory: it reads only the
// blocks that changed (and those pass 1's provisioners wrote) and pushes only the blocks that
// differ, as a child snapshot of pass 1's. The final AMI's snapshot, read back in full, holds
// exactly pass 2's working copy, with the change made between the passes.
func TestAccWarmMigrateAWSToAWS(t *testing.T) {
	accOnly(t)
	env := packertest.Setup(t)
	srv := migEmulator(t)
	source := migSample(t)
	iid, err := srv.AddInstance(ec2emu.Instance{Name: "web", RootDisk: source, BootMode: "legacy-bios"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pass := func(n int, previous string) (*packertest.Result, string) {
		out := filepath.Join(dir, "pass"+strconv.Itoa(n))
		res := buildExample(t, env, dir, "warm-migrate-aws-to-aws.pkr.hcl", 20*time.Minute, map[string]string{
			"aws_region": srv.Region, "instance_id": iid, "ec2_endpoint": srv.EC2Endpoint, "ebs_endpoint": srv.EBSEndpoint,
			"ami_name": uniqueName("warm-" + strconv.Itoa(n)), "output_directory": out, "previous_pass": previous,
		})
		return res, out
	}
	res1, out1 := pass(1, "")
	full := pushedBlocks(t, res1.Output, `Pushed in full \((\d+) blocks written\)`)
	push1, err := provenance.Read(filepath.Join(out1, "aws.raw.ec2-import.provenance.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Pass 1's capture record: chromogenic-clean's operations folded in, its note gone, the
	// working copy's map stamped (pass 2 trusts it without reading it again).
	cap1, err := provenance.Read(filepath.Join(out1, "aws.raw.provenance.json"))
	if err != nil {
		t.Fatal(err)
	}
	if cap1.Clean == nil || len(cap1.Clean.Operations) == 0 || cap1.WorkingCopy.Stamp == nil {
		t.Errorf("pass 1 record: clean %+v, stamp %v", cap1.Clean, cap1.WorkingCopy.Stamp)
	}
	if _, err := os.Stat(provenance.CleanNotePath(filepath.Join(out1, "aws.raw"))); !os.IsNotExist(err) {
		t.Errorf("clean note left beside the working copy: %v", err)
	}
	var snap1 string
	for _, o := range push1.Outputs {
		if o.Kind == "snapshot" && o.Disk == 0 {
			snap1 = o.ID
		}
	}

	// Between the passes the guest changes (a new file, an edited one), then stops.
	change := make([]byte, 3<<20)
	rand.Read(change)
	img, err := chroot.OpenImage(source, chroot.ImageOptions{TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	werr := os.WriteFile(filepath.Join(img.MountPath, "var/lib/warm-change"), change, 0o644)
	if err := img.Close(); err != nil || werr != nil {
		t.Fatal(err, werr)
	}
	if _, err := ec2Client(srv).StopInstances(t.Context(), &sdkec2.StopInstancesInput{InstanceIds: []string{iid}}); err != nil {
		t.Fatal(err)
	}

	res2, out2 := pass(2, out1)
	m := regexp.MustCompile(`(\d+) blocks changed since snap-\w+, (\d+) read`).FindStringSubmatch(res2.Output)
	if m == nil {
		t.Fatalf("pass 2 was no changed-block recapture:\n%s", res2.Output)
	}
	read, _ := strconv.Atoi(m[2])
	if !strings.Contains(res2.Output, "not read again") || !strings.Contains(res2.Output, "only the blocks that differ from the parent are read") {
		t.Errorf("pass 2 read a base or the image whole that its stamped record describes:\n%s", res2.Output)
	}
	delta := pushedBlocks(t, res2.Output, `Pushed as a delta onto `+snap1+` \((\d+) blocks written\)`)
	t.Logf("pass 1 pushed %d blocks in full; pass 2 read %d blocks and pushed %d", full, read, delta)
	if read == 0 || read*20 > full || delta == 0 || delta*10 > full {
		t.Errorf("pass 2 read %d and pushed %d blocks; pass 1 pushed %d", read, delta, full)
	}

	work := workingCopy(t, out2)
	push2, err := provenance.Read(work + ".ec2-import.provenance.json")
	if err != nil {
		t.Fatal(err)
	}
	var snap2 string
	for _, o := range push2.Outputs {
		if o.Kind == "snapshot" && o.Disk == 0 {
			snap2 = o.ID
		}
	}
	if info, _ := srv.Snapshot(snap2); info.ParentID != snap1 {
		t.Errorf("final snapshot %s: parent %q, want pass 1's %s", snap2, info.ParentID, snap1)
	}
	got := filepath.Join(dir, "final.raw")
	readSnapshotEBS(t, srv, snap2, got)
	qemuCompare(t, work, "raw", got, "raw")
	files := packertest.GuestFiles(t, got, "/var/lib/warm-change", "/etc/chromogenic-migration")
	if string(files["/var/lib/warm-change"]) != string(change) {
		t.Errorf("the change made between the passes is not in the final snapshot (%d bytes)", len(files["/var/lib/warm-change"]))
	}
	if want := "migrated from AWS " + iid + "\n"; string(files["/etc/chromogenic-migration"]) != want {
		t.Errorf("/etc/chromogenic-migration = %q, want %q", files["/etc/chromogenic-migration"], want)
	}
}

func pushedBlocks(t *testing.T, out, re string) int {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q in:\n%s", re, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
