package ec2

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// TestCreateImageLeavesNothing runs StepCreateImage against the emulator when the capture
// does not get as far as an available AMI: CreateImage's answer lost (EC2 made the
// AMI and its snapshot, the build never learnt its id), and the build interrupted while the
// AMI is pending. Cleanup deletes the AMI and snapshot CreateImage made and nothing else:
// the user's own AMI and snapshot, and a snapshot tagged by another build, survive, and the
// instance is untouched.
func TestCreateImageLeavesNothing(t *testing.T) {
	poll := cloud.WaitPoll
	cloud.WaitPoll.Min, cloud.WaitPoll.Max = 10*time.Millisecond, 50*time.Millisecond
	defer func() { cloud.WaitPoll = poll }()
	for _, name := range []string{"lost-answer", "interrupted-pending"} {
		t.Run(name, func(t *testing.T) {
			srv := emulator(t, ec2emu.Options{ImageDelay: time.Hour})
			disk := filepath.Join(t.TempDir(), "root.raw")
			if err := os.WriteFile(disk, bytes.Repeat([]byte("root "), 200000), 0o644); err != nil {
				t.Fatal(err)
			}
			iid, err := srv.AddInstance(ec2emu.Instance{Name: "web", RootDisk: disk})
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			cl, err := cloud.Connect(ctx, cloud.Access{AccessKey: srv.AccessKeyID, SecretKey: srv.SecretAccessKey, Region: srv.Region,
				EC2Endpoint: srv.EC2Endpoint, EBSEndpoint: srv.EBSEndpoint, S3Endpoint: srv.S3Endpoint})
			if err != nil {
				t.Fatal(err)
			}
			// The user's own: an AMI and its snapshot (no tag), a snapshot of another build.
			own, err := cl.EC2.CreateImage(ctx, &sdkec2.CreateImageInput{InstanceId: aws.String(iid), Name: aws.String("users own"), NoReboot: aws.Bool(true)})
			if err != nil {
				t.Fatal(err)
			}
			ownImg, err := cloud.GetImage(ctx, cl.EC2, aws.ToString(own.ImageId))
			if err != nil {
				t.Fatal(err)
			}
			other, err := cloud.CreateImage(ctx, cl.EC2, cloud.ImageCapture{InstanceID: iid, Name: "another build", NoReboot: true, SnapshotTags: map[string]string{BuildTag: "another"}})
			if err != nil {
				t.Fatal(err)
			}
			otherImg, err := cloud.GetImage(ctx, cl.EC2, other)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cl.EC2.DeregisterImage(ctx, &sdkec2.DeregisterImageInput{ImageId: aws.String(other)}); err != nil {
				t.Fatal(err)
			}
			keepImages := srv.ImageIDs()
			keepSnaps := append(cloud.Snapshots(ownImg), cloud.Snapshots(otherImg)...)
			slices.Sort(keepSnaps)
			if got := srv.SnapshotIDs(); !slices.Equal(got, keepSnaps) {
				t.Fatalf("snapshots before the build %v, want %v", got, keepSnaps)
			}
			inst, err := cloud.FindInstance(ctx, cl.EC2, iid, cloud.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			reboots := srv.InstanceReboots(iid)

			var out bytes.Buffer
			state := new(multistep.BasicStateBag)
			state.Put("ui", &packersdk.BasicUi{Reader: strings.NewReader(""), Writer: &out, ErrorWriter: &out})
			state.Put("clients", cl)
			state.Put("instance", inst)
			state.Put(stateCaptureMethod, CaptureEBSDirect)
			c := &Config{NoReboot: true}
			c.StateTimeout = 2 * time.Second
			c.Tags = map[string]string{"team": "infra"}
			step := &StepCreateImage{Config: c}
			runCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			switch name {
			case "lost-answer":
				srv.InjectFault(ec2emu.Fault{Service: "ec2", Action: "CreateImage", AfterHandle: true, Code: "InternalError"})
			case "interrupted-pending":
				go func() {
					for len(srv.ImageIDs()) == len(keepImages) {
						time.Sleep(10 * time.Millisecond)
					}
					time.Sleep(200 * time.Millisecond)
					state.Put(multistep.StateCancelled, true)
					cancel()
				}()
			}
			if action := step.Run(runCtx, state); action != multistep.ActionHalt {
				t.Fatalf("Run: %v, want halt\n%s", action, out.String())
			}
			if name == "lost-answer" && srv.FaultsFired() != 1 {
				t.Fatalf("the fault fired %d times", srv.FaultsFired())
			}
			if len(srv.ImageIDs()) != len(keepImages)+1 {
				t.Fatalf("CreateImage made no AMI: %v\n%s", srv.ImageIDs(), out.String())
			}
			made, snaps, err := cloud.FindTagged(ctx, cl.EC2, BuildTag, step.build)
			if err != nil || len(made) != 1 || made[0].State != types.ImageStatePending || len(snaps) != 1 {
				t.Fatalf("tagged at creation: %v %v %v", made, snaps, err)
			}
			tags := map[string]string{}
			for _, tg := range made[0].Tags {
				tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
			}
			if tags["team"] != "infra" {
				t.Errorf("the user's tags are not on the intermediate AMI: %v", tags)
			}
			step.Cleanup(state)
			if got := srv.ImageIDs(); !slices.Equal(got, keepImages) {
				t.Errorf("images after the cleanup %v, want %v\n%s", got, keepImages, out.String())
			}
			if got := srv.SnapshotIDs(); !slices.Equal(got, keepSnaps) {
				t.Errorf("snapshots after the cleanup %v, want %v\n%s", got, keepSnaps, out.String())
			}
			after, err := cloud.FindInstance(ctx, cl.EC2, iid, cloud.Filter{})
			if err != nil || after.State.Name != types.InstanceStateNameRunning || srv.InstanceReboots(iid) != reboots {
				t.Errorf("instance after the cleanup: %v %v, %d reboots (before %d)", after, err, srv.InstanceReboots(iid), reboots)
			}
			t.Logf("%s", out.String())
		})
	}
}

// TestCreateImageRootOnly: an instance with two data volumes. With disks = "root" the
// intermediate AMI maps the root volume only and CreateImage snapshots nothing else; with
// disks = "all", or when the user keeps the intermediate AMI, it maps all three. The
// instance keeps its volumes either way.
func TestCreateImageRootOnly(t *testing.T) {
	fastPoll(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, bytes.Repeat([]byte(content), 300000), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	root, sdf, sdg := write("root.raw", "root "), write("sdf.raw", "data1"), write("sdg.raw", "data2")
	for _, tc := range []struct {
		name  string
		disks string
		keep  bool
		want  []string
	}{
		{"root", DisksRoot, false, []string{"/dev/xvda"}},
		{"all", DisksAll, false, []string{"/dev/sdf", "/dev/sdg", "/dev/xvda"}},
		{"root-kept", DisksRoot, true, []string{"/dev/sdf", "/dev/sdg", "/dev/xvda"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := emulator(t)
			iid, err := srv.AddInstance(ec2emu.Instance{Name: "db", RootDisk: root,
				DataDisks: []ec2emu.Disk{{Device: "/dev/sdf", Path: sdf}, {Device: "/dev/sdg", Path: sdg}}})
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			state, cl, out := stepState(t, srv)
			inst, err := cloud.FindInstance(ctx, cl.EC2, iid, cloud.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			volumes := len(srv.VolumeIDs())
			state.Put("instance", inst)
			c := &Config{NoReboot: true, Disks: tc.disks, KeepIntermediateImage: tc.keep}
			c.StateTimeout = 30 * time.Second
			step := &StepCreateImage{Config: c}
			if action := step.Run(ctx, state); action != multistep.ActionContinue {
				t.Fatalf("Run: %v\n%s", action, out.String())
			}
			img := state.Get("source_image").(*types.Image)
			var devs []string
			for _, m := range img.BlockDeviceMappings {
				devs = append(devs, aws.ToString(m.DeviceName))
			}
			slices.Sort(devs)
			if !slices.Equal(devs, tc.want) {
				t.Errorf("the intermediate AMI maps %v, want %v\n%s", devs, tc.want, out.String())
			}
			if got := len(srv.SnapshotIDs()); got != len(tc.want) {
				t.Errorf("%d snapshots made, want %d", got, len(tc.want))
			}
			after, err := cloud.FindInstance(ctx, cl.EC2, iid, cloud.Filter{})
			if err != nil || len(after.BlockDeviceMappings) != 3 || len(srv.VolumeIDs()) != volumes {
				t.Errorf("the instance after the capture: %v %v", after, err)
			}
			step.Cleanup(state)
			if !tc.keep && (len(srv.ImageIDs()) != 0 || len(srv.SnapshotIDs()) != 0) {
				t.Errorf("left after the cleanup: images %v, snapshots %v", srv.ImageIDs(), srv.SnapshotIDs())
			}
		})
	}
}
