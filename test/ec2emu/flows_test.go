package ec2emu_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

func TestBadSignatures(t *testing.T) {
	ctx := context.Background()
	srv := ec2emu.Start(t)
	for _, tc := range []struct {
		key, secret, ec2Code, s3Code, ebsCode string
	}{
		{srv.AccessKeyID, "wrong-secret", "AuthFailure", "SignatureDoesNotMatch", "InvalidSignatureException"},
		{"AKIAUNKNOWNKEY000000", srv.SecretAccessKey, "AuthFailure", "InvalidAccessKeyId", "UnrecognizedClientException"},
	} {
		cfg := srv.AWSConfig()
		cfg.Credentials = credentials.NewStaticCredentialsProvider(tc.key, tc.secret, "")
		cfg.RetryMaxAttempts = 1
		e := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(srv.EC2Endpoint) })
		if _, err := e.DescribeImages(ctx, &ec2.DescribeImagesInput{}); apiCode(err) != tc.ec2Code {
			t.Errorf("ec2 with %s/%s: %v", tc.key, tc.secret, err)
		}
		s := s3.NewFromConfig(cfg, func(o *s3.Options) { o.BaseEndpoint = aws.String(srv.S3Endpoint); o.UsePathStyle = true })
		if _, err := s.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), Body: strings.NewReader("x")}); apiCode(err) != tc.s3Code {
			t.Errorf("s3 with %s/%s: %v", tc.key, tc.secret, err)
		}
		b := ebs.NewFromConfig(cfg, func(o *ebs.Options) { o.BaseEndpoint = aws.String(srv.EBSEndpoint) })
		if _, err := b.StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1)}); apiCode(err) != tc.ebsCode {
			t.Errorf("ebs with %s/%s: %v", tc.key, tc.secret, err)
		}
	}
	// Unsigned requests are refused too.
	resp, err := http.Post(srv.EC2Endpoint, "application/x-www-form-urlencoded", strings.NewReader("Action=DescribeImages&Version=2016-11-15"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(body), "<Code>AuthFailure</Code>") || !strings.Contains(string(body), "<RequestID>") {
		t.Fatalf("unsigned: %d %s", resp.StatusCode, body)
	}
	// Presigned S3 URLs work with a plain HTTP client; a tampered one does not.
	c := newClients(srv)
	srv.CreateBucket("pre")
	if _, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("pre"), Key: aws.String("obj"), Body: strings.NewReader("presigned!")}); err != nil {
		t.Fatal(err)
	}
	ps, err := s3.NewPresignClient(c.s3).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pre"), Key: aws.String("obj")})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{ps.URL, strings.Replace(ps.URL, "X-Amz-Signature=", "X-Amz-Signature=0", 1)} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if ok := resp.StatusCode == 200 && string(b) == "presigned!"; ok != (u == ps.URL) {
			t.Fatalf("presigned %s: %d %s", u, resp.StatusCode, b)
		}
	}
}

func TestFaultsThroughSDKRetries(t *testing.T) {
	ctx := context.Background()
	srv := ec2emu.Start(t)
	c := newClients(srv)
	dir := t.TempDir()

	// EC2 throttling (503 RequestLimitExceeded) is retried by the standard retryer.
	srv.FailNext("DescribeImages", 2, "RequestLimitExceeded", 0)
	if _, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}}); err != nil {
		t.Fatal(err)
	}
	if n := srv.CallCount("DescribeImages"); n != 3 {
		t.Fatalf("DescribeImages attempts: %d", n)
	}
	// A non-retryable error is returned at once.
	srv.FailNext("DescribeImages", 1, "InvalidAMIID.NotFound", 400)
	if _, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{}); apiCode(err) != "InvalidAMIID.NotFound" {
		t.Fatalf("eventual-consistency NotFound: %v", err)
	}

	// EBS throttling and 5xx on blocks are retried; the upload still round-trips. Which
	// block gets which of the five faults depends on how the two workers interleave, and one
	// block can get all five: the client allows one attempt more than there are faults, so
	// no interleaving exhausts its retries (with the shared five, one in a few runs did
	// under load).
	srv.InjectFault(ec2emu.Fault{Service: "ebs", Action: "PutSnapshotBlock", Skip: 1, Times: 3, Code: "RequestThrottledException"})
	srv.InjectFault(ec2emu.Fault{Service: "ebs", Action: "PutSnapshotBlock", Times: 2, Code: "InternalServerException"})
	disk := makeDisk(t, dir, 12<<20, 5)
	cfg := srv.AWSConfig()
	cfg.Retryer = func() aws.Retryer { return retry.AddWithMaxAttempts(fastRetryer(), 3+2+1) }
	ebsc := ebs.NewFromConfig(cfg, func(o *ebs.Options) { o.BaseEndpoint = aws.String(srv.EBSEndpoint) })
	snap, _ := ebsUpload(t, ctx, ebsc, disk, 2)
	if srv.FaultsFired() != 2+1+5 {
		t.Fatalf("faults fired: %d", srv.FaultsFired())
	}
	srv.ClearFaults()

	// GetSnapshotBlock: 5xx retried; a cut body and corrupt data reach the caller, whose
	// SHA-256 check catches the corruption.
	lb, err := c.ebs.ListSnapshotBlocks(ctx, &ebs.ListSnapshotBlocksInput{SnapshotId: aws.String(snap)})
	if err != nil {
		t.Fatal(err)
	}
	get := func() ([]byte, string, error) {
		out, err := c.ebs.GetSnapshotBlock(ctx, &ebs.GetSnapshotBlockInput{SnapshotId: aws.String(snap), BlockIndex: lb.Blocks[0].BlockIndex, BlockToken: lb.Blocks[0].BlockToken})
		if err != nil {
			return nil, "", err
		}
		defer out.BlockData.Close()
		b, err := io.ReadAll(out.BlockData)
		return b, aws.ToString(out.Checksum), err
	}
	srv.InjectFault(ec2emu.Fault{Action: "GetSnapshotBlock", Times: 2, Code: "InternalServerException"})
	if b, sum, err := get(); err != nil || b64sha(b) != sum {
		t.Fatalf("after 5xx: %v", err)
	}
	srv.InjectFault(ec2emu.Fault{Action: "GetSnapshotBlock", DropConnection: true})
	if _, _, err := get(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut body: %v", err)
	}
	srv.InjectFault(ec2emu.Fault{Action: "GetSnapshotBlock", CorruptData: true})
	if b, sum, err := get(); err != nil || b64sha(b) == sum {
		t.Fatalf("corrupt block not detectable: %v", err)
	}

	// A response cut mid-body is a deserialization error the SDK does not retry: callers
	// (waiters included) see it and must retry themselves.
	srv.InjectFault(ec2emu.Fault{Action: "DescribeSnapshots", DropConnection: true})
	before := srv.CallCount("DescribeSnapshots")
	if _, err := c.ec2.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}}); err == nil || !strings.Contains(err.Error(), "unexpected EOF") {
		t.Fatalf("DescribeSnapshots after a cut connection: %v", err)
	}
	if n := srv.CallCount("DescribeSnapshots") - before; n != 1 {
		t.Fatalf("DescribeSnapshots attempts: %d", n)
	}

	// Delay: a client deadline shorter than the injected latency expires.
	srv.InjectFault(ec2emu.Fault{Action: "DescribeVolumes", Delay: 300 * time.Millisecond})
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := c.ec2.DescribeVolumes(tctx, &ec2.DescribeVolumesInput{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("delayed call: %v", err)
	}

	// S3: SlowDown is retried; a corrupt GetObject is caught by the SDK's checksum validation.
	srv.CreateBucket("f")
	srv.FailNext("PutObject", 1, "SlowDown", 0)
	if _, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("f"), Key: aws.String("k"), Body: bytes.NewReader(bytes.Repeat([]byte("z"), 100000)),
		ChecksumAlgorithm: "CRC32"}); err != nil {
		t.Fatal(err)
	}
	srv.InjectFault(ec2emu.Fault{Action: "GetObject", CorruptData: true})
	out, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("f"), Key: aws.String("k"), ChecksumMode: "ENABLED"})
	if err == nil {
		_, err = io.ReadAll(out.Body)
		out.Body.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("corrupt GetObject: %v", err)
	}
}

// TestLatency: Options.Latency delays every request (for AWS-like benchmark settings).
func TestLatency(t *testing.T) {
	srv := ec2emu.Start(t, ec2emu.Options{Latency: 80 * time.Millisecond})
	c := newClients(srv)
	start := time.Now()
	if _, err := c.ec2.DescribeImages(context.Background(), &ec2.DescribeImagesInput{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Fatalf("request took %s", d)
	}
}

// TestImportFromS3: ImportSnapshot and ImportImage read a RAW disk from the emulated bucket.
func TestImportFromS3(t *testing.T) {
	ctx := context.Background()
	srv := ec2emu.Start(t, ec2emu.Options{ImportDelay: 200 * time.Millisecond})
	c := newClients(srv)
	dir := t.TempDir()
	disk := makeDisk(t, dir, 30<<20, 11)
	if _, err := c.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("vmimport")}); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(disk)
	defer f.Close()
	if _, err := manager.NewUploader(c.s3).Upload(ctx, &s3.PutObjectInput{Bucket: aws.String("vmimport"), Key: aws.String("disk.raw"), Body: io.NopCloser(f)}); err != nil {
		t.Fatal(err)
	}
	bucket := &types.UserBucket{S3Bucket: aws.String("vmimport"), S3Key: aws.String("disk.raw")}

	is, err := c.ec2.ImportSnapshot(ctx, &ec2.ImportSnapshotInput{Description: aws.String("raw import"),
		DiskContainer: &types.SnapshotDiskContainer{Format: aws.String("raw"), UserBucket: bucket}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(is.SnapshotTaskDetail.Status) != "active" {
		t.Fatalf("new import task: %+v", is.SnapshotTaskDetail)
	}
	task := aws.ToString(is.ImportTaskId)
	if err := ec2.NewSnapshotImportedWaiter(c.ec2, func(o *ec2.SnapshotImportedWaiterOptions) {
		o.MinDelay = 50 * time.Millisecond
		o.MaxDelay = 100 * time.Millisecond
	}).
		Wait(ctx, &ec2.DescribeImportSnapshotTasksInput{ImportTaskIds: []string{task}}, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	dt, err := c.ec2.DescribeImportSnapshotTasks(ctx, &ec2.DescribeImportSnapshotTasksInput{ImportTaskIds: []string{task}})
	if err != nil {
		t.Fatal(err)
	}
	d := dt.ImportSnapshotTasks[0].SnapshotTaskDetail
	checkModel(t, "SnapshotTaskDetail", d, "KmsKeyId", "Progress", "StatusMessage", "Url")
	ebsVerify(t, ctx, c.ebs, aws.ToString(d.SnapshotId), disk, 100)

	ii, err := c.ec2.ImportImage(ctx, &ec2.ImportImageInput{Description: aws.String("image import"), BootMode: types.BootModeValuesLegacyBios,
		DiskContainers: []types.ImageDiskContainer{{Format: aws.String("RAW"), UserBucket: bucket}}})
	if err != nil {
		t.Fatal(err)
	}
	var done types.ImportImageTask
	for deadline := time.Now().Add(20 * time.Second); ; {
		out, err := c.ec2.DescribeImportImageTasks(ctx, &ec2.DescribeImportImageTasksInput{ImportTaskIds: []string{aws.ToString(ii.ImportTaskId)}})
		if err != nil {
			t.Fatal(err)
		}
		done = out.ImportImageTasks[0]
		if aws.ToString(done.Status) == "completed" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if aws.ToString(done.Status) != "completed" || done.ImageId == nil || len(done.SnapshotDetails) != 1 {
		t.Fatalf("import image task: %+v", done)
	}
	di, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{aws.ToString(done.ImageId)}})
	if err != nil || di.Images[0].State != types.ImageStateAvailable {
		t.Fatalf("imported image: %v", err)
	}
	ebsVerify(t, ctx, c.ebs, aws.ToString(di.Images[0].BlockDeviceMappings[0].Ebs.SnapshotId), disk, 100)

	// Failures are reported by the task, as AWS does.
	for _, dc := range []*types.SnapshotDiskContainer{
		{Format: aws.String("VMDK"), UserBucket: bucket},
		{Format: aws.String("RAW"), UserBucket: &types.UserBucket{S3Bucket: aws.String("vmimport"), S3Key: aws.String("missing.raw")}},
	} {
		is, err := c.ec2.ImportSnapshot(ctx, &ec2.ImportSnapshotInput{DiskContainer: dc})
		if err != nil {
			t.Fatal(err)
		}
		err = ec2.NewSnapshotImportedWaiter(c.ec2, func(o *ec2.SnapshotImportedWaiterOptions) {
			o.MinDelay = 50 * time.Millisecond
			o.MaxDelay = 100 * time.Millisecond
		}).
			Wait(ctx, &ec2.DescribeImportSnapshotTasksInput{ImportTaskIds: []string{aws.ToString(is.ImportTaskId)}}, 10*time.Second)
		if err == nil {
			t.Fatalf("import of %s/%s should fail", aws.ToString(dc.Format), aws.ToString(dc.UserBucket.S3Key))
		}
	}
}

// TestVolumesAndTags: the chroot-style path (volume from a snapshot, attached to a helper
// instance, modified, snapshotted, registered) and the tag calls.
func TestVolumesAndTags(t *testing.T) {
	volumeFlow(t, ec2emu.Options{SnapshotDelay: 100 * time.Millisecond})
}

func volumeFlow(t *testing.T, opts ec2emu.Options) {
	ctx := context.Background()
	srv := ec2emu.Start(t, opts)
	c := newClients(srv)
	dir := t.TempDir()
	disk := makeDisk(t, dir, 20<<20, 21)
	helper, err := srv.AddInstance(ec2emu.Instance{Name: "packer-helper", RootDisk: makeDisk(t, dir, 4<<20, 22)})
	if err != nil {
		t.Fatal(err)
	}
	src, err := srv.AddImage(ec2emu.Image{Name: "source", RootDisk: disk})
	if err != nil {
		t.Fatal(err)
	}
	di, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	snap := aws.ToString(di.Images[0].BlockDeviceMappings[0].Ebs.SnapshotId)
	cv, err := c.ec2.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(srv.Region + "a"), SnapshotId: aws.String(snap), VolumeType: types.VolumeTypeGp3})
	if err != nil {
		t.Fatal(err)
	}
	vol := aws.ToString(cv.VolumeId)
	if err := ec2.NewVolumeAvailableWaiter(c.ec2, func(o *ec2.VolumeAvailableWaiterOptions) { o.MinDelay = 20 * time.Millisecond }).
		Wait(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{vol}}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ec2.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(vol), InstanceId: aws.String(helper), Device: aws.String("/dev/sdf")}); err != nil {
		t.Fatal(err)
	}
	if err := ec2.NewVolumeInUseWaiter(c.ec2, func(o *ec2.VolumeInUseWaiterOptions) { o.MinDelay = 20 * time.Millisecond }).
		Wait(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{vol}}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	dv, err := c.ec2.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []types.Filter{{Name: aws.String("attachment.instance-id"), Values: []string{helper}}}})
	if err != nil || len(dv.Volumes) != 2 {
		t.Fatalf("volumes attached to the helper: %v %d", err, len(dv.Volumes))
	}
	// The "device" is a local file: modify it as a chroot step would.
	dev, ok := srv.VolumePath(vol)
	if !ok {
		t.Fatal("no volume path")
	}
	if fileSHA(t, dev, 20<<20) != fileSHA(t, disk, -1) {
		t.Fatal("volume content differs from the snapshot")
	}
	df, _ := os.OpenFile(dev, os.O_RDWR, 0)
	df.WriteAt([]byte("provisioned"), 5<<20)
	df.Close()
	if _, err := c.ec2.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: aws.String(vol)}); apiCode(err) != "VolumeInUse" {
		t.Fatalf("deleting an attached volume: %v", err)
	}
	if _, err := c.ec2.DetachVolume(ctx, &ec2.DetachVolumeInput{VolumeId: aws.String(vol)}); err != nil {
		t.Fatal(err)
	}
	cs, err := c.ec2.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String(vol), Description: aws.String("chroot result")})
	if err != nil {
		t.Fatal(err)
	}
	if err := ec2.NewSnapshotCompletedWaiter(c.ec2, func(o *ec2.SnapshotCompletedWaiterOptions) { o.MinDelay = 50 * time.Millisecond }).
		Wait(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{aws.ToString(cs.SnapshotId)}}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	out := dir + "/result.raw"
	if err := srv.WriteSnapshotFile(aws.ToString(cs.SnapshotId), out, 0); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 11)
	rf, _ := os.Open(out)
	rf.ReadAt(b, 5<<20)
	rf.Close()
	if string(b) != "provisioned" {
		t.Fatalf("snapshot of the modified volume: %q", b)
	}
	if _, err := c.ec2.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: aws.String(vol)}); err != nil {
		t.Fatal(err)
	}
	ri, err := c.ec2.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("chrooted"), RootDeviceName: aws.String("/dev/sda1"), VirtualizationType: aws.String("hvm"),
		Architecture: types.ArchitectureValuesX8664, BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/sda1"), Ebs: &types.EbsBlockDevice{SnapshotId: cs.SnapshotId}}}})
	if err != nil {
		t.Fatal(err)
	}
	ami := aws.ToString(ri.ImageId)

	// Tags.
	if _, err := c.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{ami, aws.ToString(cs.SnapshotId)},
		Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("chrooted")}, {Key: aws.String("build"), Value: aws.String("42")}}}); err != nil {
		t.Fatal(err)
	}
	dt, err := c.ec2.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{{Name: aws.String("resource-id"), Values: []string{ami}}}})
	if err != nil || len(dt.Tags) != 2 || dt.Tags[0].ResourceType != types.ResourceTypeImage {
		t.Fatalf("DescribeTags: %v %+v", err, dt)
	}
	checkModel(t, "TagDescription", dt.Tags[0])
	if _, err := c.ec2.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{ami}, Tags: []types.Tag{{Key: aws.String("build")}}}); err != nil {
		t.Fatal(err)
	}
	dt, _ = c.ec2.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{{Name: aws.String("key"), Values: []string{"build"}}}})
	if len(dt.Tags) != 1 || aws.ToString(dt.Tags[0].ResourceId) != aws.ToString(cs.SnapshotId) {
		t.Fatalf("after DeleteTags: %+v", dt.Tags)
	}
	if _, err := c.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{"ami-0000000000000dead"}, Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}}); apiCode(err) != "InvalidAMIID.NotFound" {
		t.Fatalf("tagging a missing image: %v", err)
	}
}

// An AfterHandle fault loses the answer of a request that took effect: the CreateImage
// retried by the SDK after the lost answer finds its name taken by the AMI the first one made,
// which carries the TagSpecifications (image and snapshot) it was asked for.
func TestFaultAfterHandle(t *testing.T) {
	ctx := context.Background()
	srv := ec2emu.Start(t, ec2emu.Options{ImageDelay: time.Hour})
	c := newClients(srv)
	iid, err := srv.AddInstance(ec2emu.Instance{Name: "vm", RootDisk: makeDisk(t, t.TempDir(), 1<<20, 3)})
	if err != nil {
		t.Fatal(err)
	}
	srv.InjectFault(ec2emu.Fault{Service: "ec2", Action: "CreateImage", AfterHandle: true, Code: "InternalError"})
	_, err = c.ec2.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(iid), Name: aws.String("lost"), NoReboot: aws.Bool(true),
		TagSpecifications: []types.TagSpecification{
			{ResourceType: types.ResourceTypeImage, Tags: []types.Tag{{Key: aws.String("b"), Value: aws.String("1")}}},
			{ResourceType: types.ResourceTypeSnapshot, Tags: []types.Tag{{Key: aws.String("b"), Value: aws.String("1")}}},
		}})
	if apiCode(err) != "InvalidAMIName.Duplicate" || srv.CallCount("CreateImage") != 2 {
		t.Fatalf("CreateImage after a lost answer: %v, %d calls", err, srv.CallCount("CreateImage"))
	}
	f := []types.Filter{{Name: aws.String("tag:b"), Values: []string{"1"}}}
	imgs, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: f})
	if err != nil || len(imgs.Images) != 1 || imgs.Images[0].State != types.ImageStatePending {
		t.Fatalf("images made behind the lost answer: %+v %v", imgs, err)
	}
	snaps, err := c.ec2.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, Filters: f})
	if err != nil || len(snaps.Snapshots) != 1 {
		t.Fatalf("snapshots made behind the lost answer: %+v %v", snaps, err)
	}
}
