package ec2

import (
	_ "embed"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

//go:embed test-fixtures/build.pkr.hcl
var buildTemplate string

// emulator starts ec2emu and gives packer (through its environment) the emulator's
// credentials and nothing of the developer's own AWS settings.
func emulator(t *testing.T, opts ...ec2emu.Options) *ec2emu.Server {
	t.Helper()
	srv := ec2emu.Start(t, opts...)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretAccessKey)
	for _, k := range []string{"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return srv
}

func ec2Client(srv *ec2emu.Server) *sdkec2.Client {
	return sdkec2.NewFromConfig(srv.AWSConfig(), func(o *sdkec2.Options) { o.BaseEndpoint = aws.String(srv.EC2Endpoint) })
}

// sampleCopy is a private sparse copy of the sample Debian disk.
func sampleCopy(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "root.raw")
	packertest.CopySparse(t, testimages.Sample(t), p)
	return p
}

func imageByName(t *testing.T, srv *ec2emu.Server, name string) *types.Image {
	t.Helper()
	out, err := ec2Client(srv).DescribeImages(t.Context(), &sdkec2.DescribeImagesInput{Owners: []string{"self"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{name}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Images) != 1 {
		return nil
	}
	return &out.Images[0]
}

func buildArgs(srv *ec2emu.Server, dir string, kv ...string) []string {
	args := []string{"-var", "region=" + srv.Region, "-var", "ec2_endpoint=" + srv.EC2Endpoint,
		"-var", "ebs_endpoint=" + srv.EBSEndpoint, "-var", "output_directory=" + filepath.Join(dir, "out")}
	for i := 0; i+1 < len(kv); i += 2 {
		args = append(args, "-var", kv[i]+"="+kv[i+1])
	}
	return args
}

// TestAccEC2CaptureInstance captures a running instance through packer: CreateImage (with a
// reboot), the root snapshot read home through EBS direct while throttling, 5xx, cut bodies and
// a corrupt block are injected, a shell provisioner in the chroot, and a new snapshot and AMI.
// The AMI's snapshot holds the provisioner's file, carries the source's boot mode and ENA, and
// the intermediate AMI and snapshot are gone.
func TestAccEC2CaptureInstance(t *testing.T) {
	testtier.Acceptance(t, "a packer build against the EC2 emulator")
	env := packertest.Setup(t)
	srv := emulator(t)
	iid, err := srv.AddInstance(ec2emu.Instance{Name: "web", RootDisk: sampleCopy(t), BootMode: "uefi", EnaSupport: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []ec2emu.Fault{
		{Service: "ebs", Action: "GetSnapshotBlock", Skip: 10, Times: 3, Code: "ThrottlingException", Status: 429},
		{Service: "ebs", Action: "GetSnapshotBlock", Skip: 50, Times: 2, Code: "InternalServerException"},
		{Service: "ebs", Action: "GetSnapshotBlock", Skip: 100, Times: 1, DropConnection: true},
		{Service: "ebs", Action: "GetSnapshotBlock", Skip: 200, Times: 1, CorruptData: true},
		{Service: "ebs", Action: "PutSnapshotBlock", Skip: 30, Times: 2, Code: "RequestThrottledException"},
	} {
		srv.InjectFault(f)
	}
	dir := t.TempDir()
	name := fmt.Sprintf("acc-capture-%d", time.Now().UnixNano())
	marker := fmt.Sprintf("marker-%d", time.Now().UnixNano())
	res := env.MustBuild(t, dir, buildTemplate, 15*time.Minute, buildArgs(srv, dir, "instance_id", iid, "ami_name", name, "marker", marker)...)
	if n := srv.FaultsFired(); n != 9 {
		t.Errorf("%d faults fired, want 9", n)
	}
	if !strings.Contains(res.Output, "retrying") {
		t.Errorf("no retry reported:\n%s", res.Output)
	}
	made := imageByName(t, srv, name)
	if made == nil {
		t.Fatalf("AMI %s not registered:\n%s", name, res.Output)
	}
	if made.State != types.ImageStateAvailable || made.BootMode != "uefi" || !aws.ToBool(made.EnaSupport) ||
		aws.ToString(made.RootDeviceName) != "/dev/xvda" || made.Architecture != "x86_64" || made.VirtualizationType != "hvm" {
		t.Errorf("new AMI: %+v", made)
	}
	tags := map[string]string{}
	for _, tg := range made.Tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if tags["chromogenic"] != "acc" || tags["Name"] != name {
		t.Errorf("tags %v", tags)
	}
	snap := aws.ToString(made.BlockDeviceMappings[0].Ebs.SnapshotId)
	if ids := srv.ImageIDs(); !slices.Equal(ids, []string{aws.ToString(made.ImageId)}) {
		t.Errorf("images after the build: %v (the intermediate AMI must be gone)", ids)
	}
	if ids := srv.SnapshotIDs(); !slices.Equal(ids, []string{snap}) {
		t.Errorf("snapshots after the build: %v (the intermediate snapshot must be gone)", ids)
	}
	if n := srv.InstanceReboots(iid); n != 1 {
		t.Errorf("instance rebooted %d times, want 1 (no_reboot defaults to false)", n)
	}
	if !strings.Contains(res.Output, "SNAPSHOT=snap-") {
		t.Errorf("build.SourceSnapshot not available to provisioners:\n%s", res.Output)
	}
	raw := filepath.Join(dir, "made.raw")
	if err := srv.WriteSnapshotFile(snap, raw, 0); err != nil {
		t.Fatal(err)
	}
	got := packertest.GuestFiles(t, raw, "/root/ec2-acc-marker", "/etc/hostname")
	if string(got["/root/ec2-acc-marker"]) != marker+"\n" {
		t.Errorf("provisioned file in the new AMI's snapshot = %q", got["/root/ec2-acc-marker"])
	}
	if _, ok := got["/etc/hostname"]; !ok {
		t.Errorf("/etc/hostname missing from the new AMI's snapshot")
	}
}

// seededAMI registers the sample disk as an AMI in the emulator.
func seededAMI(t *testing.T, srv *ec2emu.Server) string {
	t.Helper()
	id, err := srv.AddImage(ec2emu.Image{Name: "debian-12-sample", RootDisk: sampleCopy(t), BootMode: "legacy-bios"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A failing provisioner leaves no new AMI and no new snapshot behind.
func TestAccEC2FailingProvisionerLeavesNothing(t *testing.T) {
	testtier.Acceptance(t, "a packer build against the EC2 emulator")
	env := packertest.Setup(t)
	srv := emulator(t)
	ami := seededAMI(t, srv)
	images, snaps := srv.ImageIDs(), srv.SnapshotIDs()
	dir := t.TempDir()
	res := env.Build(t, dir, buildTemplate, 15*time.Minute, buildArgs(srv, dir, "source_ami", ami,
		"ami_name", "acc-fail", "marker", "x", "command", "exit 7")...)
	if res.Err == nil {
		t.Fatalf("build with a failing provisioner succeeded:\n%s", res.Output)
	}
	if !strings.Contains(res.Output, "non-zero exit status: 7") {
		t.Errorf("the build did not fail at the provisioner:\n%s", res.Output)
	}
	if got := srv.ImageIDs(); !slices.Equal(got, images) {
		t.Errorf("images %v, before the build %v", got, images)
	}
	if got := srv.SnapshotIDs(); !slices.Equal(got, snaps) {
		t.Errorf("snapshots %v, before the build %v", got, snaps)
	}
}

// A CompleteSnapshot checksum mismatch fails the build and leaves no orphan snapshot or AMI.
func TestAccEC2CompleteSnapshotChecksumFails(t *testing.T) {
	testtier.Acceptance(t, "a packer build against the EC2 emulator")
	env := packertest.Setup(t)
	srv := emulator(t)
	ami := seededAMI(t, srv)
	images, snaps := srv.ImageIDs(), srv.SnapshotIDs()
	srv.InjectFault(ec2emu.Fault{Service: "ebs", Action: "CompleteSnapshot", Times: -1, Code: "ValidationException",
		Message: "The aggregated checksum does not match the blocks written"})
	dir := t.TempDir()
	res := env.Build(t, dir, buildTemplate, 15*time.Minute, buildArgs(srv, dir, "source_ami", ami,
		"ami_name", "acc-checksum", "marker", "x")...)
	if res.Err == nil {
		t.Fatalf("build succeeded despite the checksum mismatch:\n%s", res.Output)
	}
	if !strings.Contains(res.Output, "aggregated checksum") {
		t.Errorf("the error does not tell about the checksum:\n%s", res.Output)
	}
	if got := srv.ImageIDs(); !slices.Equal(got, images) {
		t.Errorf("images %v, before the build %v", got, images)
	}
	if got := srv.SnapshotIDs(); !slices.Equal(got, snaps) {
		t.Errorf("snapshots %v, before the build %v", got, snaps)
	}
}

// Against a Eucalyptus cloud controller without the eucalyptus block the build fails at once,
// saying what is missing: the cloud is never guessed from the endpoint.
func TestAccEC2EucalyptusFailsEarly(t *testing.T) {
	testtier.Acceptance(t, "a packer build against the EC2 emulator")
	env := packertest.Setup(t)
	srv := emulator(t, ec2emu.Options{Dialect: ec2emu.Eucalyptus})
	dir := t.TempDir()
	res := env.Build(t, dir, buildTemplate, 2*time.Minute, "-var", "region="+srv.Region, "-var", "ec2_endpoint="+srv.EC2Endpoint,
		"-var", "ebs_endpoint=", "-var", "output_directory="+filepath.Join(dir, "out"), "-var", "instance_id=i-12345678",
		"-var", "ami_name=euca-acc", "-var", "marker=x")
	if res.Err == nil || !strings.Contains(res.Output, "is a Eucalyptus cloud controller: add a eucalyptus block") {
		t.Fatalf("want an early, clear failure: %v\n%s", res.Err, res.Output)
	}
	if n := len(srv.Calls()); n != 0 {
		t.Errorf("%d requests reached the cloud", n)
	}
}

// TestAccEC2InterruptPendingCapture is a user's Ctrl-C while the intermediate AMI is pending
// (the emulator keeps it pending for an hour): packer exits, and neither the AMI nor its
// snapshot is left; the user's own AMI and snapshot (made before, untagged) survive and the
// instance still runs.
func TestAccEC2InterruptPendingCapture(t *testing.T) {
	testtier.Acceptance(t, "a packer build against the EC2 emulator")
	env := packertest.Setup(t)
	srv := emulator(t, ec2emu.Options{ImageDelay: time.Hour})
	iid, err := srv.AddInstance(ec2emu.Instance{Name: "web", RootDisk: sampleCopy(t)})
	if err != nil {
		t.Fatal(err)
	}
	c := ec2Client(srv)
	if _, err := c.CreateImage(t.Context(), &sdkec2.CreateImageInput{InstanceId: aws.String(iid), Name: aws.String("users own"), NoReboot: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	images, snaps := srv.ImageIDs(), srv.SnapshotIDs()
	if len(images) != 1 || len(snaps) != 1 {
		t.Fatalf("the user's own AMI and snapshot: %v %v", images, snaps)
	}
	dir := t.TempDir()
	run := env.Start(t, dir, buildTemplate, buildArgs(srv, dir, "instance_id", iid, "ami_name", "acc-int-pending", "marker", "x", "state_timeout", "20s")...)
	run.Until(t, "the intermediate AMI exists", 3*time.Minute, func() bool { return len(srv.ImageIDs()) > 1 })
	time.Sleep(time.Second)
	run.Interrupt(t, 2*time.Minute)
	output := run.Output.String()
	if !strings.Contains(output, "Deleting the intermediate AMI") {
		t.Errorf("no cleanup of the intermediate AMI reported:\n%s", output)
	}
	if got := srv.ImageIDs(); !slices.Equal(got, images) {
		t.Errorf("images %v, before the build %v\n%s", got, images, output)
	}
	if got := srv.SnapshotIDs(); !slices.Equal(got, snaps) {
		t.Errorf("snapshots %v, before the build %v\n%s", got, snaps, output)
	}
	inst, err := c.DescribeInstances(t.Context(), &sdkec2.DescribeInstancesInput{InstanceIds: []string{iid}})
	if err != nil || len(inst.Reservations) != 1 || inst.Reservations[0].Instances[0].State.Name != types.InstanceStateNameRunning {
		t.Errorf("the instance after the interrupt: %+v %v", inst, err)
	}
}
