package ec2emu_test

import (
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// TestSeveralVolumes: an instance with two data volumes besides its root shows three
// mappings in DescribeInstances; CreateImage maps a snapshot of each at its device name
// (with the volume's type and delete-on-termination), each byte-identical to its disk over
// the EBS direct API; RegisterImage takes several mappings back. A seeded image with data
// disks and an instance-store mapping answers them in DescribeImages.
func TestSeveralVolumes(t *testing.T) {
	ctx := t.Context()
	srv := ec2emu.Start(t, ec2emu.Options{ImageDelay: 100 * time.Millisecond, SnapshotDelay: 50 * time.Millisecond})
	c := newClients(srv)
	dir := t.TempDir()
	root := makeDisk(t, dir, 20<<20, 11)
	d1 := makeDisk(t, dir, 9<<20, 12)
	d2 := makeDisk(t, dir, 3<<20+100, 13)
	iid, err := srv.AddInstance(ec2emu.Instance{Name: "multi", RootDisk: root, DataDisks: []ec2emu.Disk{
		{Device: "/dev/sdf", Path: d1, VolumeType: "io1"},
		{Device: "/dev/xvdb", Path: d2, DeleteOnTermination: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AddInstance(ec2emu.Instance{RootDisk: root, DataDisks: []ec2emu.Disk{{Device: "/dev/xvda", Path: d1}}}); err == nil {
		t.Error("a data disk at the root's device was accepted")
	}
	di, err := c.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{iid}})
	if err != nil {
		t.Fatal(err)
	}
	var devs []string
	for _, b := range di.Reservations[0].Instances[0].BlockDeviceMappings {
		devs = append(devs, aws.ToString(b.DeviceName))
	}
	sort.Strings(devs)
	if !slices.Equal(devs, []string{"/dev/sdf", "/dev/xvda", "/dev/xvdb"}) {
		t.Fatalf("instance mappings %v", devs)
	}
	ci, err := c.ec2.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(iid), Name: aws.String("multi-cap"), NoReboot: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	in := &ec2.DescribeImagesInput{ImageIds: []string{aws.ToString(ci.ImageId)}}
	out, err := ec2.NewImageAvailableWaiter(c.ec2, func(o *ec2.ImageAvailableWaiterOptions) { o.MinDelay = 50 * time.Millisecond }).WaitForOutput(ctx, in, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	im := out.Images[0]
	files := map[string]string{"/dev/xvda": root, "/dev/sdf": d1, "/dev/xvdb": d2}
	if len(im.BlockDeviceMappings) != 3 {
		t.Fatalf("image mappings %+v", im.BlockDeviceMappings)
	}
	var mappings []types.BlockDeviceMapping
	for _, b := range im.BlockDeviceMappings {
		dev := aws.ToString(b.DeviceName)
		if files[dev] == "" || b.Ebs == nil {
			t.Fatalf("mapping %s: %+v", dev, b)
		}
		ebsVerify(t, ctx, c.ebs, aws.ToString(b.Ebs.SnapshotId), files[dev], 1000)
		mappings = append(mappings, types.BlockDeviceMapping{DeviceName: b.DeviceName, Ebs: &types.EbsBlockDevice{
			SnapshotId: b.Ebs.SnapshotId, VolumeType: b.Ebs.VolumeType, DeleteOnTermination: b.Ebs.DeleteOnTermination}})
		switch dev {
		case "/dev/sdf":
			if b.Ebs.VolumeType != "io1" || aws.ToBool(b.Ebs.DeleteOnTermination) {
				t.Errorf("/dev/sdf: %+v", b.Ebs)
			}
		case "/dev/xvdb":
			if b.Ebs.VolumeType != "gp3" || !aws.ToBool(b.Ebs.DeleteOnTermination) {
				t.Errorf("/dev/xvdb: %+v", b.Ebs)
			}
		}
	}
	reg, err := c.ec2.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("multi-reg"), RootDeviceName: aws.String("/dev/xvda"),
		Architecture: types.ArchitectureValuesX8664, VirtualizationType: aws.String("hvm"), BlockDeviceMappings: mappings})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{aws.ToString(reg.ImageId)}})
	if err != nil || len(got.Images) != 1 || len(got.Images[0].BlockDeviceMappings) != 3 {
		t.Fatalf("registered: %+v %v", got, err)
	}

	// A seeded image of several disks and an instance-store mapping.
	id, err := srv.AddImage(ec2emu.Image{Name: "seeded-multi", RootDisk: root, RootDeviceName: "/dev/sda1",
		DataDisks: []ec2emu.Disk{{Device: "/dev/sdc", Path: d2}}, EphemeralDevices: []string{"/dev/sdb"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err = c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	if err != nil || len(got.Images) != 1 {
		t.Fatal(err)
	}
	bdm := got.Images[0].BlockDeviceMappings
	if len(bdm) != 3 || aws.ToString(bdm[1].DeviceName) != "/dev/sdc" || aws.ToString(bdm[2].VirtualName) != "ephemeral0" || bdm[2].Ebs != nil {
		t.Fatalf("seeded mappings %+v", bdm)
	}
	ebsVerify(t, ctx, c.ebs, aws.ToString(bdm[1].Ebs.SnapshotId), d2, 1000)
}
