package ec2emu_test

import (
	"context"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// TestCaptureRunningInstance: DescribeInstances → CreateImage → waiters → DescribeImages →
// DescribeSnapshots → EBS direct read of the root snapshot, byte-identical to the disk.
func TestCaptureRunningInstance(t *testing.T) {
	ctx := context.Background()
	srv := ec2emu.Start(t, ec2emu.Options{ImageDelay: 300 * time.Millisecond, SnapshotDelay: 100 * time.Millisecond})
	c := newClients(srv)
	dir := t.TempDir()
	const size = 40<<20 + 3000
	disk := makeDisk(t, dir, size, 1)
	iid, err := srv.AddInstance(ec2emu.Instance{Name: "web-1", RootDisk: disk, EnaSupport: true, BootMode: "uefi", Tags: map[string]string{"env": "test"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AddInstance(ec2emu.Instance{Name: "other", RootDisk: disk, State: "stopped"}); err != nil {
		t.Fatal(err)
	}

	// DescribeInstances with filters.
	di, err := c.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("tag:Name"), Values: []string{"web-*"}},
		{Name: aws.String("instance-state-name"), Values: []string{"running"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(di.Reservations) != 1 || len(di.Reservations[0].Instances) != 1 {
		t.Fatalf("DescribeInstances: %d reservations", len(di.Reservations))
	}
	inst := di.Reservations[0].Instances[0]
	if aws.ToString(inst.InstanceId) != iid || inst.State.Name != types.InstanceStateNameRunning || aws.ToInt32(inst.State.Code) != 16 {
		t.Fatalf("instance: %s %v", aws.ToString(inst.InstanceId), inst.State)
	}
	if aws.ToString(inst.RootDeviceName) != "/dev/xvda" || len(inst.BlockDeviceMappings) != 1 || inst.BootMode != types.BootModeValuesUefi || !aws.ToBool(inst.EnaSupport) {
		t.Fatalf("instance root: %s %d %s", aws.ToString(inst.RootDeviceName), len(inst.BlockDeviceMappings), inst.BootMode)
	}
	checkModel(t, "Instance", inst, instanceNotSent...)
	for _, f := range [][]types.Filter{
		{{Name: aws.String("instance-id"), Values: []string{iid}}},
		{{Name: aws.String("tag:Name"), Values: []string{"web-1", "nope"}}, {Name: aws.String("tag:env"), Values: []string{"test"}}},
	} {
		out, err := c.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: f})
		if err != nil || len(out.Reservations) != 1 {
			t.Fatalf("DescribeInstances(%v): %v, %d", f, err, len(out.Reservations))
		}
	}
	if out, err := c.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("instance-state-name"), Values: []string{"stopped"}}}}); err != nil || len(out.Reservations) != 1 || aws.ToString(out.Reservations[0].Instances[0].InstanceId) == iid {
		t.Fatalf("DescribeInstances(stopped): %v", err)
	}
	if _, err := c.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0000000000000dead"}}); apiCode(err) != "InvalidInstanceID.NotFound" {
		t.Fatalf("missing instance: %v", err)
	}

	// CreateImage.
	ci, err := c.ec2.CreateImage(ctx, &ec2.CreateImageInput{
		InstanceId: aws.String(iid), Name: aws.String("web-1 capture 2026-11-25"), NoReboot: aws.Bool(true),
		Description:         aws.String("captured"),
		BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{VolumeSize: aws.Int32(2), VolumeType: types.VolumeTypeGp3}}},
		TagSpecifications: []types.TagSpecification{
			{ResourceType: types.ResourceTypeImage, Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("capture")}}},
			{ResourceType: types.ResourceTypeSnapshot, Tags: []types.Tag{{Key: aws.String("from"), Value: aws.String(iid)}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	amiID := aws.ToString(ci.ImageId)
	if _, err := c.ec2.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(iid), Name: aws.String("web-1 capture 2026-11-25")}); apiCode(err) != "InvalidAMIName.Duplicate" {
		t.Fatalf("duplicate name: %v", err)
	}
	pending, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{amiID}})
	if err != nil || len(pending.Images) != 1 || pending.Images[0].State != types.ImageStatePending {
		t.Fatalf("new image should be pending: %v %+v", err, pending)
	}
	if err := ec2.NewImageExistsWaiter(c.ec2, func(o *ec2.ImageExistsWaiterOptions) { o.MinDelay = 50 * time.Millisecond }).
		Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{amiID}}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := ec2.NewImageAvailableWaiter(c.ec2, func(o *ec2.ImageAvailableWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, 200*time.Millisecond
	}).Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{amiID}}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	dimg, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: []types.Filter{
		{Name: aws.String("name"), Values: []string{"web-1 capture *"}},
		{Name: aws.String("state"), Values: []string{"available"}},
		{Name: aws.String("tag:Name"), Values: []string{"capture"}},
	}})
	if err != nil || len(dimg.Images) != 1 {
		t.Fatalf("DescribeImages filters: %v %d", err, len(dimg.Images))
	}
	img := dimg.Images[0]
	if img.State != types.ImageStateAvailable || aws.ToString(img.ImageId) != amiID || img.BootMode != types.BootModeValuesUefi ||
		!aws.ToBool(img.EnaSupport) || img.VirtualizationType != types.VirtualizationTypeHvm || img.Architecture != types.ArchitectureValuesX8664 ||
		aws.ToString(img.RootDeviceName) != "/dev/xvda" || img.RootDeviceType != types.DeviceTypeEbs || aws.ToString(img.SourceInstanceId) != iid ||
		aws.ToString(img.OwnerId) != srv.AccountID || len(img.BlockDeviceMappings) != 1 {
		t.Fatalf("image fields: %+v", img)
	}
	if _, err := time.Parse(time.RFC3339, aws.ToString(img.CreationDate)); err != nil {
		t.Fatalf("CreationDate %q: %v", aws.ToString(img.CreationDate), err)
	}
	checkModel(t, "Image", img, imageNotSent...)
	root := img.BlockDeviceMappings[0]
	if aws.ToInt32(root.Ebs.VolumeSize) != 2 || root.Ebs.VolumeType != types.VolumeTypeGp3 {
		t.Fatalf("root bdm: %+v", root.Ebs)
	}
	snapID := aws.ToString(root.Ebs.SnapshotId)

	ds, err := c.ec2.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snapID}})
	if err != nil || len(ds.Snapshots) != 1 {
		t.Fatalf("DescribeSnapshots: %v", err)
	}
	sn := ds.Snapshots[0]
	if sn.State != types.SnapshotStateCompleted || aws.ToInt32(sn.VolumeSize) != 1 || aws.ToString(sn.Progress) != "100%" || len(sn.Tags) != 1 {
		t.Fatalf("snapshot: %+v", sn)
	}
	checkModel(t, "Snapshot", sn, snapshotNotSent...)
	if out, err := c.ec2.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, Filters: []types.Filter{{Name: aws.String("tag:from"), Values: []string{iid}}}}); err != nil || len(out.Snapshots) != 1 {
		t.Fatalf("DescribeSnapshots by tag: %v", err)
	}

	// The snapshot's blocks are the disk's bytes.
	got := filepath.Join(dir, "download.raw")
	n := ebsDownload(t, ctx, c.ebs, snapID, got, size, 100)
	if n == 0 {
		t.Fatal("no blocks")
	}
	if fileSHA(t, got, -1) != fileSHA(t, disk, -1) {
		t.Fatal("EBS download differs from the instance's disk")
	}

	// Cleanup semantics: the snapshot is in use until the image is deregistered.
	if _, err := c.ec2.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(snapID)}); apiCode(err) != "InvalidSnapshot.InUse" {
		t.Fatalf("DeleteSnapshot in use: %v", err)
	}
	if _, err := c.ec2.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(amiID)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ec2.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(snapID)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{amiID}}); apiCode(err) != "InvalidAMIID.NotFound" {
		t.Fatalf("deregistered image: %v", err)
	}
	if ids := srv.SnapshotIDs(); len(ids) != 0 {
		t.Fatalf("leftover snapshots %v", ids)
	}
	if n := srv.InstanceReboots(iid); n != 0 {
		t.Fatalf("NoReboot capture rebooted %d times", n)
	}
	if _, err := c.ec2.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(iid), Name: aws.String("with reboot")}); err != nil {
		t.Fatal(err)
	}
	if n := srv.InstanceReboots(iid); n != 1 {
		t.Fatalf("default capture rebooted %d times", n)
	}
}

// Fields of the SDK types the emulator does not send (everything else must round-trip).
var (
	imageNotSent = []string{"DeprecationTime", "FreeTierEligible", "ImageAllowed", "ImageOwnerAlias",
		"ImdsSupport", "InstanceTypeSpecification", "KernelId", "LastLaunchedTime", "Platform", "ProductCodes",
		"PublicSsmParameterName", "RamdiskId", "ScanResults", "SourceImageId", "SourceImageRegion", "SriovNetSupport",
		"StateReason", "TpmSupport", "ImageWatermarks", "ProductCodes",
		"BlockDeviceMappings[0].NoDevice", "BlockDeviceMappings[0].VirtualName", "BlockDeviceMappings[0].Ebs.AvailabilityZone",
		"BlockDeviceMappings[0].Ebs.AvailabilityZoneId", "BlockDeviceMappings[0].Ebs.EbsCardIndex", "BlockDeviceMappings[0].Ebs.KmsKeyId",
		"BlockDeviceMappings[0].Ebs.OutpostArn", "BlockDeviceMappings[0].Ebs.VolumeInitializationRate"}
	instanceNotSent = []string{"BlockDeviceMappings[0].Ebs.AssociatedResource", "BlockDeviceMappings[0].Ebs.EbsCardIndex",
		"BlockDeviceMappings[0].Ebs.Operator", "BlockDeviceMappings[0].Ebs.VolumeOwnerId", "CapacityBlockId", "CapacityReservationId",
		"CapacityReservationSpecification", "ClientToken", "CpuOptions", "ElasticGpuAssociations", "ElasticInferenceAcceleratorAssociations",
		"EnclaveOptions", "HibernationOptions", "IamInstanceProfile", "InstanceLifecycle", "Ipv6Address", "KernelId", "KeyName", "Licenses",
		"MaintenanceOptions", "NetworkInterfaces", "NetworkPerformanceOptions", "Operator", "OutpostArn", "Placement.Affinity",
		"Placement.AvailabilityZoneId", "Placement.GroupId", "Placement.HostId", "Placement.HostResourceGroupArn",
		"Placement.PartitionNumber", "Placement.SpreadDomain", "Platform", "PrivateDnsNameOptions", "ProductCodes", "RamdiskId",
		"SecondaryInterfaces", "SpotInstanceRequestId", "SriovNetSupport", "StateReason", "TpmSupport"}
	snapshotNotSent = []string{"AvailabilityZone", "CompletionDurationMinutes", "DataEncryptionKeyId", "KmsKeyId", "OutpostArn",
		"OwnerAlias", "RestoreExpiryTime", "StateMessage", "TransferType"}
)

// TestDescribeImagesLikeADatasource: owners, aliases, public images, wildcards, paging and
// the creation dates a most_recent choice sorts on.
func TestDescribeImagesLikeADatasource(t *testing.T) {
	ctx := context.Background()
	srv := ec2emu.Start(t)
	c := newClients(srv)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, im := range []ec2emu.Image{
		{Name: "debian-12-amd64-20260101", OwnerID: "136693071363", OwnerAlias: "", Public: true, CreationDate: base},
		{Name: "debian-12-amd64-20260301", OwnerID: "136693071363", Public: true, CreationDate: base.AddDate(0, 2, 0)},
		{Name: "debian-12-arm64-20260301", OwnerID: "136693071363", Public: true, Architecture: "arm64", BootMode: "uefi", CreationDate: base.AddDate(0, 2, 0)},
		{Name: "amzn2-ami-hvm-2.0", OwnerID: "137112412989", OwnerAlias: "amazon", Public: true, CreationDate: base},
		{Name: "private-of-other", OwnerID: "999999999999", CreationDate: base},
		{Name: "mine", Tags: map[string]string{"team": "img"}, CreationDate: base.AddDate(0, 0, 5)},
	} {
		if _, err := srv.AddImage(im); err != nil {
			t.Fatal(err)
		}
	}
	names := func(in *ec2.DescribeImagesInput) []string {
		t.Helper()
		var out []string
		p := ec2.NewDescribeImagesPaginator(c.ec2, in)
		for p.HasMorePages() {
			pg, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, im := range pg.Images {
				out = append(out, aws.ToString(im.Name))
			}
		}
		sort.Strings(out)
		return out
	}
	for _, tc := range []struct {
		in   *ec2.DescribeImagesInput
		want string
	}{
		{&ec2.DescribeImagesInput{Owners: []string{"136693071363"}, Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"debian-12-amd64-*"}}}},
			"debian-12-amd64-20260101,debian-12-amd64-20260301"},
		{&ec2.DescribeImagesInput{Owners: []string{"amazon"}}, "amzn2-ami-hvm-2.0"},
		{&ec2.DescribeImagesInput{Owners: []string{"self"}}, "mine"},
		{&ec2.DescribeImagesInput{Filters: []types.Filter{{Name: aws.String("architecture"), Values: []string{"arm64"}}, {Name: aws.String("is-public"), Values: []string{"true"}}}},
			"debian-12-arm64-20260301"},
		{&ec2.DescribeImagesInput{Filters: []types.Filter{{Name: aws.String("tag-key"), Values: []string{"team"}}}}, "mine"},
		{&ec2.DescribeImagesInput{Owners: []string{"999999999999"}}, "private-of-other"},
		{&ec2.DescribeImagesInput{MaxResults: aws.Int32(2), Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"debian-1?-*"}}}},
			"debian-12-amd64-20260101,debian-12-amd64-20260301,debian-12-arm64-20260301"},
	} {
		if got := strings.Join(names(tc.in), ","); got != tc.want {
			t.Errorf("DescribeImages(owners %v, filters %v): %s, want %s", tc.in.Owners, len(tc.in.Filters), got, tc.want)
		}
	}
	out, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"136693071363"}})
	if err != nil {
		t.Fatal(err)
	}
	var newest types.Image
	for _, im := range out.Images {
		if aws.ToString(im.CreationDate) > aws.ToString(newest.CreationDate) {
			newest = im
		}
	}
	if !strings.HasSuffix(aws.ToString(newest.Name), "20260301") || aws.ToString(newest.CreationDate) != "2026-03-01T00:00:00.000Z" {
		t.Fatalf("most recent: %s %s", aws.ToString(newest.Name), aws.ToString(newest.CreationDate))
	}
	if _, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{Filters: []types.Filter{{Name: aws.String("no-such-filter"), Values: []string{"x"}}}}); apiCode(err) != "InvalidParameterValue" {
		t.Fatalf("unknown filter: %v", err)
	}
}
