package ec2emu_test

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// TestEucalyptusDialect: one port with /services/compute and /services/objectstorage, emi-
// ids, no EBS direct API, UnknownParameter for post-2016-09-15 parameters, import stubs.
func TestEucalyptusDialect(t *testing.T) {
	ctx := context.Background()
	srv := ec2emu.Start(t, ec2emu.Options{Dialect: ec2emu.Eucalyptus})
	if !strings.HasSuffix(srv.EC2Endpoint, "/services/compute") || !strings.HasSuffix(srv.S3Endpoint, "/services/objectstorage") ||
		srv.EBSEndpoint != "" || srv.Region != "eucalyptus" {
		t.Fatalf("endpoints: %s %s %q %s", srv.EC2Endpoint, srv.S3Endpoint, srv.EBSEndpoint, srv.Region)
	}
	c := newClients(srv)
	dir := t.TempDir()
	disk := makeDisk(t, dir, 8<<20, 31)
	iid, err := srv.AddInstance(ec2emu.Instance{Name: "euca-vm", RootDisk: disk, RootDeviceName: "/dev/sda"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ec2.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(iid), Name: aws.String("tagged"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeImage, Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}}}}); apiCode(err) != "UnknownParameter" {
		t.Fatalf("TagSpecifications on Eucalyptus: %v", err)
	}
	ci, err := c.ec2.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(iid), Name: aws.String("euca-capture"), NoReboot: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	emi := aws.ToString(ci.ImageId)
	if !strings.HasPrefix(emi, "emi-") || len(emi) != len("emi-")+8 {
		t.Fatalf("image id %q", emi)
	}
	if _, err := c.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{emi}, Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}}); err != nil {
		t.Fatal(err)
	}
	waitImage(t, ctx, c, emi)
	if _, err := c.ec2.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("x"), BootMode: types.BootModeValuesUefi}); apiCode(err) != "UnknownParameter" {
		t.Fatalf("BootMode on Eucalyptus: %v", err)
	}
	ii, err := c.ec2.ImportImage(ctx, &ec2.ImportImageInput{DiskContainers: []types.ImageDiskContainer{{Format: aws.String("RAW"),
		UserBucket: &types.UserBucket{S3Bucket: aws.String("b"), S3Key: aws.String("k")}}}})
	if err != nil || ii.ImportTaskId != nil {
		t.Fatalf("ImportImage stub: %v %+v", err, ii)
	}

	// Out of an EBS-backed Eucalyptus instance: snapshot → volume → attach to a helper.
	di, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{emi}})
	if err != nil {
		t.Fatal(err)
	}
	snap := di.Images[0].BlockDeviceMappings[0].Ebs.SnapshotId
	cv, err := c.ec2.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("eucalyptusa"), SnapshotId: snap})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ec2.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: cv.VolumeId, InstanceId: aws.String(iid), Device: aws.String("/dev/sdf")}); err != nil {
		t.Fatal(err)
	}
	dev, _ := srv.VolumePath(aws.ToString(cv.VolumeId))
	if fileSHA(t, dev, 8<<20) != fileSHA(t, disk, -1) {
		t.Fatal("attached volume differs from the instance's disk")
	}

	// Object storage under /services/objectstorage, SigV4 (Eucalyptus 4.4+).
	if _, err := c.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bundles")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bundles"), Key: aws.String("img.manifest.xml"), Body: strings.NewReader("<manifest/>")}); err != nil {
		t.Fatal(err)
	}
	g, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bundles"), Key: aws.String("img.manifest.xml")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(g.Body)
	g.Body.Close()
	if string(b) != "<manifest/>" {
		t.Fatalf("object: %q", b)
	}

	// Into Eucalyptus: ImportVolume from parts + an import manifest of presigned URLs,
	// then CreateSnapshot and RegisterImage.
	vol := importVolume(t, ctx, srv, c, disk)
	dev, _ = srv.VolumePath(vol)
	if fileSHA(t, dev, 8<<20) != fileSHA(t, disk, -1) {
		t.Fatal("imported volume differs from the disk")
	}
	cs, err := c.ec2.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String(vol)})
	if err != nil {
		t.Fatal(err)
	}
	if err := ec2.NewSnapshotCompletedWaiter(c.ec2, func(o *ec2.SnapshotCompletedWaiterOptions) { o.MinDelay = 20 * time.Millisecond }).
		Wait(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{aws.ToString(cs.SnapshotId)}}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	ri, err := c.ec2.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("imported"), RootDeviceName: aws.String("/dev/sda"),
		VirtualizationType: aws.String("hvm"), Architecture: types.ArchitectureValuesX8664,
		BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/sda"), Ebs: &types.EbsBlockDevice{SnapshotId: cs.SnapshotId}}}})
	if err != nil || !strings.HasPrefix(aws.ToString(ri.ImageId), "emi-") {
		t.Fatalf("RegisterImage: %v", err)
	}
}

// importVolume uploads disk in two parts plus an import manifest (what euca-import-volume
// does) and runs ImportVolume to completion; it returns the new volume id.
func importVolume(t *testing.T, ctx context.Context, srv *ec2emu.Server, c clients, disk string) string {
	t.Helper()
	data, err := os.ReadFile(disk)
	if err != nil {
		t.Fatal(err)
	}
	ps := s3.NewPresignClient(c.s3)
	presign := func(key string) string {
		r, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bundles"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		return r.URL
	}
	var parts strings.Builder
	cut := []int{0, 5 << 20, len(data)}
	for i := 0; i < 2; i++ {
		key := fmt.Sprintf("import/disk.raw.part%d", i)
		if _, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bundles"), Key: aws.String(key), Body: bytes.NewReader(data[cut[i]:cut[i+1]])}); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&parts, `<part index="%d"><byte-range start="%d" end="%d"/><key>%s</key><get-url>%s</get-url></part>`,
			i, cut[i], cut[i+1]-1, key, html.EscapeString(presign(key)))
	}
	manifest := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?><manifest><version>2010-11-15</version><file-format>RAW</file-format>`+
		`<importer><name>test</name><version>1</version><release>1</release></importer>`+
		`<import><size>%d</size><volume-size>1</volume-size><parts count="2">%s</parts></import></manifest>`, len(data), parts.String())
	if _, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bundles"), Key: aws.String("import/disk.raw.manifest.xml"), Body: strings.NewReader(manifest)}); err != nil {
		t.Fatal(err)
	}
	iv, err := c.ec2.ImportVolume(ctx, &ec2.ImportVolumeInput{AvailabilityZone: aws.String(srv.Region + "a"),
		Image:  &types.DiskImageDetail{Format: types.DiskImageFormatRaw, Bytes: aws.Int64(int64(len(data))), ImportManifestUrl: aws.String(presign("import/disk.raw.manifest.xml"))},
		Volume: &types.VolumeDetail{Size: aws.Int64(1)}})
	if err != nil {
		t.Fatal(err)
	}
	task := aws.ToString(iv.ConversionTask.ConversionTaskId)
	if err := ec2.NewConversionTaskCompletedWaiter(c.ec2, func(o *ec2.ConversionTaskCompletedWaiterOptions) { o.MinDelay = 20 * time.Millisecond }).
		Wait(ctx, &ec2.DescribeConversionTasksInput{ConversionTaskIds: []string{task}}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	dc, err := c.ec2.DescribeConversionTasks(ctx, &ec2.DescribeConversionTasksInput{ConversionTaskIds: []string{task}})
	if err != nil {
		t.Fatal(err)
	}
	ct := dc.ConversionTasks[0]
	checkModel(t, "ConversionTask", ct, "ImportInstance", "StatusMessage", "ImportVolume.AvailabilityZoneId",
		"ImportVolume.Description", "ImportVolume.Image.Checksum")
	// A manifest URL with a bad signature is refused.
	bad := strings.Replace(presign("import/disk.raw.manifest.xml"), "X-Amz-Signature=", "X-Amz-Signature=00", 1)
	if _, err := c.ec2.ImportVolume(ctx, &ec2.ImportVolumeInput{AvailabilityZone: aws.String(srv.Region + "a"),
		Image:  &types.DiskImageDetail{Format: types.DiskImageFormatRaw, Bytes: aws.Int64(int64(len(data))), ImportManifestUrl: aws.String(bad)},
		Volume: &types.VolumeDetail{Size: aws.Int64(1)}}); apiCode(err) != "InvalidParameter" {
		t.Fatalf("tampered manifest URL: %v", err)
	}
	return aws.ToString(ct.ImportVolume.Volume.Id)
}
