package ec2

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func ebsMapping(dev, snap string, gib int32) types.BlockDeviceMapping {
	return types.BlockDeviceMapping{DeviceName: aws.String(dev), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(snap), VolumeSize: aws.Int32(gib), VolumeType: "gp3"}}
}

// The disks of an image come root first, then in the kernel's order of their letters
// (sdz before sdaa, xvd and sd spellings together); ephemeral, NoDevice and snapshot-less
// mappings are skipped with a reason each.
func TestImageDisksOrder(t *testing.T) {
	im := &types.Image{ImageId: aws.String("ami-1"), RootDeviceName: aws.String("/dev/sda1"), BlockDeviceMappings: []types.BlockDeviceMapping{
		ebsMapping("/dev/sdaa", "snap-aa", 1),
		ebsMapping("/dev/xvdc", "snap-c", 1),
		{DeviceName: aws.String("/dev/sdb"), VirtualName: aws.String("ephemeral0")},
		ebsMapping("/dev/sdz", "snap-z", 1),
		{DeviceName: aws.String("/dev/sdh"), NoDevice: aws.String("")},
		ebsMapping("/dev/sda1", "snap-root", 8),
		{DeviceName: aws.String("/dev/sdi"), Ebs: &types.EbsBlockDevice{VolumeSize: aws.Int32(4)}},
		ebsMapping("/dev/sdf", "snap-f", 2),
	}}
	disks, skipped, err := ImageDisks(im)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range disks {
		got = append(got, d.Device+"="+d.SnapshotID)
	}
	want := []string{"/dev/sda1=snap-root", "/dev/xvdc=snap-c", "/dev/sdf=snap-f", "/dev/sdz=snap-z", "/dev/sdaa=snap-aa"}
	if !slices.Equal(got, want) {
		t.Errorf("disks %v, want %v", got, want)
	}
	if !disks[0].Root || disks[0].VolumeSizeGiB != 8 || disks[1].Root {
		t.Errorf("root flags or size: %+v", disks)
	}
	if len(skipped) != 3 || !strings.Contains(skipped[0], "ephemeral0") || !strings.Contains(skipped[1], "NoDevice") || !strings.Contains(skipped[2], "without a snapshot") {
		t.Errorf("skipped %q", skipped)
	}
}

func TestImageDisksNoRoot(t *testing.T) {
	im := &types.Image{ImageId: aws.String("ami-1"), RootDeviceName: aws.String("/dev/xvda"), BlockDeviceMappings: []types.BlockDeviceMapping{
		ebsMapping("/dev/xvdb", "snap-b", 1)}}
	if _, _, err := ImageDisks(im); err == nil || !strings.Contains(err.Error(), "/dev/xvda") {
		t.Errorf("want an error naming the root device, got %v", err)
	}
}

func TestOtherDeviceNames(t *testing.T) {
	for _, c := range []struct {
		root string
		want []string
	}{
		{"/dev/xvda", []string{"/dev/xvdb", "/dev/xvdc"}},
		{"", []string{"/dev/xvdb", "/dev/xvdc"}},
		{"/dev/sda1", []string{"/dev/sdb", "/dev/sdc"}},
		{"/dev/sda", []string{"/dev/sdb", "/dev/sdc"}},
		{"/dev/vdy", []string{"/dev/vdz", "/dev/vdaa"}},
	} {
		if got := OtherDeviceNames(c.root, 2); !slices.Equal(got, c.want) {
			t.Errorf("OtherDeviceNames(%q) = %v, want %v", c.root, got, c.want)
		}
	}
	if !DeviceLess("/dev/sdz", "/dev/sdaa") || DeviceLess("/dev/xvdc", "/dev/sdb") || !DeviceLess("/dev/sda1", "/dev/sda2") {
		t.Error("DeviceLess")
	}
}
