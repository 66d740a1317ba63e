package ec2emu_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	ebstypes "github.com/aws/aws-sdk-go-v2/service/ebs/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// TestSampleImageRoundTrips uses the project's bootable sample image: captured from a
// "running instance" with CreateImage and read back through the EBS direct API; and uploaded
// block by block through the EBS direct API, registered, and read back.
func TestSampleImageRoundTrips(t *testing.T) {
	ctx := context.Background()
	sample := testimages.Sample(t) // read only: the emulator never writes a root disk
	srv := ec2emu.Start(t, ec2emu.Options{ImageDelay: 50 * time.Millisecond})
	c := newClients(srv)

	t.Run("capture", func(t *testing.T) {
		iid, err := srv.AddInstance(ec2emu.Instance{Name: "sample", RootDisk: sample})
		if err != nil {
			t.Fatal(err)
		}
		ci, err := c.ec2.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(iid), Name: aws.String("sample-capture"), NoReboot: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if err := ec2.NewImageAvailableWaiter(c.ec2, func(o *ec2.ImageAvailableWaiterOptions) {
			o.MinDelay, o.MaxDelay = 100*time.Millisecond, 500*time.Millisecond
		}).Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{aws.ToString(ci.ImageId)}}, time.Minute); err != nil {
			t.Fatal(err)
		}
		di, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{aws.ToString(ci.ImageId)}})
		if err != nil {
			t.Fatal(err)
		}
		snap := aws.ToString(di.Images[0].BlockDeviceMappings[0].Ebs.SnapshotId)
		n := ebsVerify(t, ctx, c.ebs, snap, sample, 1000)
		t.Logf("captured %d non-zero blocks", n)
	})

	t.Run("upload", func(t *testing.T) {
		start := time.Now()
		snap, sent := ebsUpload(t, ctx, c.ebs, sample, 16)
		t.Logf("uploaded %d blocks in %s", sent, time.Since(start).Round(time.Millisecond))
		if err := ec2.NewSnapshotCompletedWaiter(c.ec2, func(o *ec2.SnapshotCompletedWaiterOptions) { o.MinDelay = 50 * time.Millisecond }).
			Wait(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}}, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if info, _ := srv.Snapshot(snap); info.Blocks != sent || info.VolumeSizeGiB != 2 {
			t.Fatalf("snapshot holds %d blocks (sent %d), %d GiB", info.Blocks, sent, info.VolumeSizeGiB)
		}
		if n := ebsVerify(t, ctx, c.ebs, snap, sample, 1000); n != sent {
			t.Fatalf("listed %d blocks, sent %d", n, sent)
		}
		registerFromSnapshot(t, ctx, srv, c, snap)
	})
}

// registerFromSnapshot: RegisterImage with the modern parameters, launch permissions,
// CopyImage and DeregisterImage(DeleteAssociatedSnapshots).
func registerFromSnapshot(t *testing.T, ctx context.Context, srv *ec2emu.Server, c clients, snap string) {
	ri, err := c.ec2.RegisterImage(ctx, &ec2.RegisterImageInput{
		Name: aws.String("sample-registered"), Architecture: types.ArchitectureValuesX8664, RootDeviceName: aws.String("/dev/xvda"),
		VirtualizationType: aws.String("hvm"), EnaSupport: aws.Bool(true), BootMode: types.BootModeValuesUefi, SriovNetSupport: aws.String("simple"),
		ImdsSupport: types.ImdsSupportValuesV20, TpmSupport: types.TpmSupportValuesV20, Description: aws.String("from EBS direct"),
		BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{
			SnapshotId: aws.String(snap), VolumeType: types.VolumeTypeGp3, DeleteOnTermination: aws.Bool(true)}}},
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeImage, Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ami := aws.ToString(ri.ImageId)
	waitImage(t, ctx, c, ami)
	di, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{ami}})
	if err != nil {
		t.Fatal(err)
	}
	img := di.Images[0]
	if img.BootMode != types.BootModeValuesUefi || !aws.ToBool(img.EnaSupport) || img.ImdsSupport != types.ImdsSupportValuesV20 ||
		img.TpmSupport != types.TpmSupportValuesV20 || aws.ToString(img.SriovNetSupport) != "simple" || aws.ToInt32(img.BlockDeviceMappings[0].Ebs.VolumeSize) != 2 {
		t.Fatalf("registered image: %+v", img)
	}
	checkModel(t, "registered Image", img, "DeprecationTime", "FreeTierEligible", "ImageAllowed", "ImageOwnerAlias",
		"InstanceTypeSpecification", "KernelId", "LastLaunchedTime", "Platform", "ProductCodes", "PublicSsmParameterName",
		"RamdiskId", "ScanResults", "SourceImageId", "SourceImageRegion", "SourceInstanceId", "StateReason", "ImageWatermarks",
		"BlockDeviceMappings[0].NoDevice", "BlockDeviceMappings[0].VirtualName", "BlockDeviceMappings[0].Ebs.AvailabilityZone",
		"BlockDeviceMappings[0].Ebs.AvailabilityZoneId", "BlockDeviceMappings[0].Ebs.EbsCardIndex", "BlockDeviceMappings[0].Ebs.KmsKeyId",
		"BlockDeviceMappings[0].Ebs.OutpostArn", "BlockDeviceMappings[0].Ebs.VolumeInitializationRate")

	// Validation that a builder relies on.
	if _, err := c.ec2.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("bad-root"), RootDeviceName: aws.String("/dev/sda1"),
		VirtualizationType: aws.String("hvm"), BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(snap)}}}}); apiCode(err) != "InvalidBlockDeviceMapping" {
		t.Fatalf("root device outside BDM: %v", err)
	}
	if _, err := c.ec2.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("bad-snap"), RootDeviceName: aws.String("/dev/xvda"),
		VirtualizationType: aws.String("hvm"), BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String("snap-0123456789abcdef0")}}}}); apiCode(err) != "InvalidSnapshot.NotFound" {
		t.Fatalf("missing snapshot: %v", err)
	}

	// Launch permissions.
	if _, err := c.ec2.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(ami), LaunchPermission: &types.LaunchPermissionModifications{
		Add: []types.LaunchPermission{{UserId: aws.String("210987654321")}, {Group: types.PermissionGroupAll}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ec2.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(ami), Attribute: aws.String("launchPermission"),
		OperationType: types.OperationTypeAdd, UserIds: []string{"111122223333"}}); err != nil {
		t.Fatal(err)
	}
	attr, err := c.ec2.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(ami), Attribute: types.ImageAttributeNameLaunchPermission})
	if err != nil {
		t.Fatal(err)
	}
	if len(attr.LaunchPermissions) != 3 || attr.LaunchPermissions[0].Group != types.PermissionGroupAll || aws.ToString(attr.ImageId) != ami {
		t.Fatalf("launch permissions: %+v", attr.LaunchPermissions)
	}
	if _, err := c.ec2.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(ami), LaunchPermission: &types.LaunchPermissionModifications{
		Remove: []types.LaunchPermission{{Group: types.PermissionGroupAll}}}}); err != nil {
		t.Fatal(err)
	}
	attr, _ = c.ec2.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(ami), Attribute: types.ImageAttributeNameLaunchPermission})
	if len(attr.LaunchPermissions) != 2 {
		t.Fatalf("after remove: %+v", attr.LaunchPermissions)
	}
	if d, err := c.ec2.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(ami), Attribute: types.ImageAttributeNameBootMode}); err != nil || aws.ToString(d.BootMode.Value) != "uefi" {
		t.Fatalf("bootMode attribute: %v", err)
	}

	// CopyImage copies snapshots (sharing blocks) and goes pending → available.
	cp, err := c.ec2.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: aws.String(ami), SourceRegion: aws.String(srv.Region), Name: aws.String("sample-copy")})
	if err != nil {
		t.Fatal(err)
	}
	waitImage(t, ctx, c, aws.ToString(cp.ImageId))
	ci, _ := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{aws.ToString(cp.ImageId)}})
	copySnap := aws.ToString(ci.Images[0].BlockDeviceMappings[0].Ebs.SnapshotId)
	if copySnap == snap || aws.ToString(ci.Images[0].SourceImageId) != ami {
		t.Fatalf("copy: %+v", ci.Images[0])
	}
	for _, id := range []string{ami, aws.ToString(cp.ImageId)} {
		out, err := c.ec2.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(id), DeleteAssociatedSnapshots: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.DeleteSnapshotResults) != 1 || out.DeleteSnapshotResults[0].ReturnCode != types.SnapshotReturnCodesSuccess {
			t.Fatalf("DeregisterImage results: %+v", out.DeleteSnapshotResults)
		}
	}
	for _, id := range []string{snap, copySnap} {
		if _, ok := srv.Snapshot(id); ok {
			t.Fatalf("snapshot %s left behind", id)
		}
	}
}

func waitImage(t *testing.T, ctx context.Context, c clients, id string) {
	t.Helper()
	if err := ec2.NewImageAvailableWaiter(c.ec2, func(o *ec2.ImageAvailableWaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, 100*time.Millisecond
	}).Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}}, 20*time.Second); err != nil {
		t.Fatalf("image %s: %v", id, err)
	}
}

// TestEBSDirectValidation: checksums, sizes, states and incremental snapshots.
func TestEBSDirectValidation(t *testing.T) {
	ctx := context.Background()
	srv := ec2emu.Start(t)
	c := newClients(srv)
	dir := t.TempDir()
	disk := makeDisk(t, dir, 24<<20, 7)
	base, sent := ebsUpload(t, ctx, c.ebs, disk, 4)

	// Only written blocks are listed; pagination honours MaxResults and StartingBlockIndex.
	all, err := c.ebs.ListSnapshotBlocks(ctx, &ebs.ListSnapshotBlocksInput{SnapshotId: aws.String(base)})
	if err != nil || len(all.Blocks) != sent || all.NextToken != nil {
		t.Fatalf("ListSnapshotBlocks: %v, %d blocks (sent %d)", err, len(all.Blocks), sent)
	}
	from, err := c.ebs.ListSnapshotBlocks(ctx, &ebs.ListSnapshotBlocksInput{SnapshotId: aws.String(base), StartingBlockIndex: all.Blocks[1].BlockIndex})
	if err != nil || len(from.Blocks) != sent-1 {
		t.Fatalf("StartingBlockIndex: %v %d", err, len(from.Blocks))
	}
	if _, err := c.ebs.ListSnapshotBlocks(ctx, &ebs.ListSnapshotBlocksInput{SnapshotId: aws.String(base), MaxResults: aws.Int32(5)}); apiCode(err) != "ValidationException" {
		t.Fatalf("MaxResults < 100: %v", err)
	}
	if _, err := c.ebs.ListSnapshotBlocks(ctx, &ebs.ListSnapshotBlocksInput{SnapshotId: aws.String("snap-0000000000000dead")}); apiCode(err) != "ResourceNotFoundException" {
		t.Fatalf("missing snapshot: %v", err)
	}
	var rnf *ebstypes.ResourceNotFoundException
	if _, err := c.ebs.GetSnapshotBlock(ctx, &ebs.GetSnapshotBlockInput{SnapshotId: aws.String("snap-0000000000000dead"), BlockIndex: aws.Int32(0), BlockToken: aws.String("x")}); !errorsAs(err, &rnf) || rnf.Reason != ebstypes.ResourceNotFoundExceptionReasonSnapshotNotFound {
		t.Fatalf("typed ResourceNotFoundException: %v", err)
	}
	if _, err := c.ebs.GetSnapshotBlock(ctx, &ebs.GetSnapshotBlockInput{SnapshotId: aws.String(base), BlockIndex: all.Blocks[0].BlockIndex, BlockToken: all.Blocks[1].BlockToken}); apiCode(err) != "ValidationException" {
		t.Fatalf("wrong block token: %v", err)
	}

	// Incremental snapshot on a parent, then ListChangedBlocks.
	child, err := c.ebs.StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1), ParentSnapshotId: aws.String(base), Timeout: aws.Int32(10),
		Tags: []ebstypes.Tag{{Key: aws.String("kind"), Value: aws.String("child")}}})
	if err != nil {
		t.Fatal(err)
	}
	checkModel(t, "StartSnapshotOutput", child, "KmsKeyArn", "Description")
	cid := child.SnapshotId
	blk := bytes.Repeat([]byte{0xab}, blockSize)
	put := func(idx int32, data []byte, sum string) error {
		_, err := c.ebs.PutSnapshotBlock(ctx, &ebs.PutSnapshotBlockInput{SnapshotId: cid, BlockIndex: aws.Int32(idx), BlockData: bytes.NewReader(data),
			DataLength: aws.Int32(int32(len(data))), Checksum: aws.String(sum), ChecksumAlgorithm: ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256})
		return err
	}
	var ve *ebstypes.ValidationException
	if err := put(1, blk, b64sha(blk[:10])); !errorsAs(err, &ve) {
		t.Fatalf("bad block checksum: %v", err)
	}
	if err := put(1, blk[:4096], b64sha(blk[:4096])); apiCode(err) != "ValidationException" {
		t.Fatalf("short block: %v", err)
	}
	if err := put(2048, blk, b64sha(blk)); apiCode(err) != "ValidationException" {
		t.Fatalf("index beyond volume: %v", err)
	}
	if err := put(1, blk, b64sha(blk)); err != nil {
		t.Fatal(err)
	}
	if err := put(100, blk, b64sha(blk)); err != nil {
		t.Fatal(err)
	}
	complete := func(count int32, sum string) error {
		_, err := c.ebs.CompleteSnapshot(ctx, &ebs.CompleteSnapshotInput{SnapshotId: cid, ChangedBlocksCount: aws.Int32(count), Checksum: aws.String(sum),
			ChecksumAlgorithm: ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256, ChecksumAggregationMethod: ebstypes.ChecksumAggregationMethodChecksumAggregationLinear})
		return err
	}
	one := sha256.Sum256(blk)
	agg := sha256.Sum256(append(one[:], one[:]...))
	if err := complete(3, base64.StdEncoding.EncodeToString(agg[:])); apiCode(err) != "ValidationException" {
		t.Fatalf("wrong ChangedBlocksCount: %v", err)
	}
	if err := complete(2, b64sha([]byte("nope"))); apiCode(err) != "ValidationException" {
		t.Fatalf("wrong aggregate checksum: %v", err)
	}
	if _, err := c.ebs.ListSnapshotBlocks(ctx, &ebs.ListSnapshotBlocksInput{SnapshotId: cid}); apiCode(err) != "ValidationException" {
		t.Fatalf("listing a pending snapshot: %v", err)
	}
	if err := complete(2, base64.StdEncoding.EncodeToString(agg[:])); err != nil {
		t.Fatal(err)
	}
	if err := put(3, blk, b64sha(blk)); apiCode(err) != "ConflictException" {
		t.Fatalf("write after completion: %v", err)
	}
	ch, err := c.ebs.ListChangedBlocks(ctx, &ebs.ListChangedBlocksInput{FirstSnapshotId: aws.String(base), SecondSnapshotId: cid})
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.ChangedBlocks) != 2 || aws.ToInt32(ch.ChangedBlocks[0].BlockIndex) != 1 || aws.ToInt32(ch.ChangedBlocks[1].BlockIndex) != 100 {
		t.Fatalf("changed blocks: %+v", ch.ChangedBlocks)
	}
	checkModel(t, "ListChangedBlocksOutput", ch, "NextToken", "ChangedBlocks[0].FirstBlockToken")
	gb, err := c.ebs.GetSnapshotBlock(ctx, &ebs.GetSnapshotBlockInput{SnapshotId: cid, BlockIndex: ch.ChangedBlocks[0].BlockIndex, BlockToken: ch.ChangedBlocks[0].SecondBlockToken})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(gb.BlockData)
	if !bytes.Equal(data, blk) {
		t.Fatal("changed block content")
	}
	// The child is the parent plus the two blocks.
	out := filepath.Join(dir, "child.raw")
	ebsDownload(t, ctx, c.ebs, aws.ToString(cid), out, 51<<20, 100)
	wantF := filepath.Join(dir, "want.raw")
	orig, _ := os.ReadFile(disk)
	b := make([]byte, 51<<20)
	copy(b, orig)
	copy(b[1*blockSize:], blk)
	copy(b[100*blockSize:], blk)
	os.WriteFile(wantF, b, 0o644)
	if fileSHA(t, out, -1) != fileSHA(t, wantF, -1) {
		t.Fatal("incremental snapshot content")
	}
	ds, err := c.ec2.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{aws.ToString(cid)}})
	if err != nil || ds.Snapshots[0].State != types.SnapshotStateCompleted || len(ds.Snapshots[0].Tags) != 1 {
		t.Fatalf("EC2 view of the EBS-direct snapshot: %v", err)
	}
}
