package ec2

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	ec2common "github.com/chromogenic/packer-plugin-chromogenic/common/ec2"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// TestStepsSeveralDisks runs StepDownload and StepRegister with disks = "all" on an AMI of
// three EBS disks and an instance-store mapping: the working copies are named <target>,
// -disk2, -disk3 in the kernel's order of the devices (root, /dev/sdb, /dev/sdc; the image
// lists /dev/sdc first), hold the disks' bytes, the ephemeral mapping is skipped with a line;
// the new AMI maps a snapshot of each at the same devices, and a registration that fails
// after the uploads leaves none of the snapshots it wrote. With disks = "root" the same image
// gives one working copy, as before.
func TestStepsSeveralDisks(t *testing.T) {
	poll := cloud.WaitPoll
	cloud.WaitPoll.Min, cloud.WaitPoll.Max = 10*time.Millisecond, 50*time.Millisecond
	defer func() { cloud.WaitPoll = poll }()
	srv := emulator(t)
	dir := t.TempDir()
	root, sdc, sdb := filepath.Join(dir, "root.raw"), filepath.Join(dir, "sdc.raw"), filepath.Join(dir, "sdb.raw")
	packertest.RandomDisk(t, root, 1024, 6, 1, 0)
	packertest.RandomDisk(t, sdc, 1024, 3, 2, 0)
	packertest.RandomDisk(t, sdb, 1024, 4, 3, 0)
	ami, err := srv.AddImage(ec2emu.Image{Name: "multi", RootDisk: root, RootDeviceName: "/dev/sda1",
		DataDisks:        []ec2emu.Disk{{Device: "/dev/sdc", Path: sdc, VolumeType: "gp2"}, {Device: "/dev/sdb", Path: sdb, DeleteOnTermination: true}},
		EphemeralDevices: []string{"/dev/sdd"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	cl, err := cloud.Connect(ctx, cloud.Access{AccessKey: srv.AccessKeyID, SecretKey: srv.SecretAccessKey, Region: srv.Region,
		EC2Endpoint: srv.EC2Endpoint, EBSEndpoint: srv.EBSEndpoint, S3Endpoint: srv.S3Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	img, err := cloud.GetImage(ctx, cl.EC2, ami)
	if err != nil {
		t.Fatal(err)
	}
	run := func(disks string, fail bool) (multistep.StateBag, string, multistep.StepAction) {
		var out bytes.Buffer
		state := new(multistep.BasicStateBag)
		state.Put("ui", &packersdk.BasicUi{Reader: strings.NewReader(""), Writer: &out, ErrorWriter: &out, PB: &packersdk.NoopProgressTracker{}})
		state.Put("clients", cl)
		state.Put("source_image", img)
		state.Put(stateEncryption, ec2common.Encryption{})
		c := &Config{Disks: disks}
		c.AMIName, c.StateTimeout, c.SnapshotTags = "multi-"+disks, time.Minute, map[string]string{"k": "v"}
		target := filepath.Join(dir, disks, "b.raw")
		os.MkdirAll(filepath.Dir(target), 0o755)
		if a := (&StepDownload{Config: c, Target: target}).Run(ctx, state); a != multistep.ActionContinue {
			t.Fatalf("StepDownload: %v\n%s", a, out.String())
		}
		if fail {
			srv.InjectFault(ec2emu.Fault{Service: "ec2", Action: "RegisterImage", Code: "InvalidBlockDeviceMapping", Times: 1})
		}
		a := (&StepRegister{Config: c}).Run(ctx, state)
		return state, out.String(), a
	}

	state, out, action := run(DisksAll, false)
	if action != multistep.ActionContinue {
		t.Fatalf("StepRegister: %v\n%s", action, out)
	}
	work := state.Get(bcommon.StateWorkingImages).([]string)
	want := []string{filepath.Join(dir, "all", "b.raw"), filepath.Join(dir, "all", "b-disk2.raw"), filepath.Join(dir, "all", "b-disk3.raw")}
	if !slices.Equal(work, want) || state.Get(bcommon.StateWorkingImage) != want[0] {
		t.Fatalf("working copies %v, want %v", work, want)
	}
	for i, src := range []string{root, sdb, sdc} {
		if a, b := packertest.FileSHA256(t, src), packertest.FileSHA256(t, work[i]); a != b {
			t.Errorf("%s differs from its disk %s", work[i], src)
		}
	}
	if !strings.Contains(out, "Not captured: /dev/sdd: instance store ephemeral0") {
		t.Errorf("the ephemeral mapping is not reported:\n%s", out)
	}
	made, err := cloud.GetImage(ctx, cl.EC2, state.Get("ami").(string))
	if err != nil {
		t.Fatal(err)
	}
	disks, skipped, err := cloud.ImageDisks(made)
	if err != nil || len(skipped) != 0 || len(disks) != 3 {
		t.Fatalf("new AMI disks %+v %v %v", disks, skipped, err)
	}
	snaps := state.Get(stateSnapshotIDs).([]string)
	for i, dev := range []string{"/dev/sda1", "/dev/sdb", "/dev/sdc"} {
		if d := disks[i]; d.Device != dev || d.SnapshotID != snaps[i] {
			t.Errorf("mapping %d: %+v, want %s on %s", i, d, dev, snaps[i])
		}
		back := filepath.Join(dir, "back.raw")
		if err := srv.WriteSnapshotFile(snaps[i], back, 0); err != nil {
			t.Fatal(err)
		}
		if a, b := packertest.FileSHA256(t, back), packertest.FileSHA256(t, work[i]); a != b {
			t.Errorf("snapshot of %s differs from %s", dev, work[i])
		}
	}
	if disks[2].VolumeType != "gp2" || aws.ToBool(disks[2].DeleteOnTermination) || !aws.ToBool(disks[1].DeleteOnTermination) {
		t.Errorf("the source's volume type and delete-on-termination are not kept: %+v", disks)
	}
	if a := newArtifact(state); len(a.OtherDisks) != 2 || !slices.Equal(a.Snapshots, snaps) {
		t.Errorf("artifact %+v", a)
	}

	before := srv.SnapshotIDs()
	_, out, action = run(DisksAll, true)
	if action != multistep.ActionHalt {
		t.Fatalf("StepRegister with RegisterImage failing: %v\n%s", action, out)
	}
	if got := srv.SnapshotIDs(); !slices.Equal(got, before) {
		t.Errorf("snapshots after the failed registration %v, before %v\n%s", got, before, out)
	}

	state, out, action = run(DisksRoot, false)
	if _, several := state.GetOk(bcommon.StateWorkingImages); action != multistep.ActionContinue || several {
		t.Fatalf("disks = root: %v, working_images set %v\n%s", action, several, out)
	}
	if m, _ := cloud.GetImage(ctx, cl.EC2, state.Get("ami").(string)); m == nil || len(m.BlockDeviceMappings) != 1 {
		t.Errorf("disks = root registered %+v", m)
	}
}
