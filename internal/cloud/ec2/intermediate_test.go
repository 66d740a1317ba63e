package ec2

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// TestCreateIntermediateRootOnly: RootOnly leaves the instance's data volumes out of the
// intermediate AMI (no snapshot of them is made); without it the AMI maps every volume.
func TestCreateIntermediateRootOnly(t *testing.T) {
	srv := ec2emu.Start(t, ec2emu.Options{ImageDelay: 50 * time.Millisecond})
	cl := connect(t, srv)
	ctx := t.Context()
	root, _ := testImage(t, 2*BlockSize, map[int64]int{0: 10})
	data, _ := testImage(t, 2*BlockSize, map[int64]int{1: 20})
	iid, err := srv.AddInstance(ec2emu.Instance{RootDisk: root, DataDisks: []ec2emu.Disk{{Device: "/dev/sdf", Path: data}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, rootOnly := range []bool{true, false} {
		im, err := CreateIntermediate(ctx, cl, iid, IntermediateOptions{NoReboot: true, Timeout: time.Minute, RootOnly: rootOnly})
		if err != nil {
			t.Fatal(err)
		}
		var devs []string
		for _, m := range im.Image.BlockDeviceMappings {
			devs = append(devs, aws.ToString(m.DeviceName))
		}
		slices.Sort(devs)
		want := []string{"/dev/sdf", "/dev/xvda"}
		if rootOnly {
			want = []string{"/dev/xvda"}
		}
		if !slices.Equal(devs, want) || len(srv.SnapshotIDs()) != len(want) {
			t.Errorf("RootOnly %v: the AMI maps %v (snapshots %v), want %v", rootOnly, devs, srv.SnapshotIDs(), want)
		}
		if err := im.Delete(ctx); err != nil || len(srv.SnapshotIDs()) != 0 {
			t.Fatal(err, srv.SnapshotIDs())
		}
	}
}
