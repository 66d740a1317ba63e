package ec2emu_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // upload policy signature
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2/bundle"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

func uploadPolicy(bucket, secret string) ([]byte, string) {
	pol := fmt.Sprintf(`{"expiration":%q,"conditions":[{"bucket":%q},{"acl":"ec2-bundle-read"},["starts-with","$key",""]]}`,
		time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05Z"), bucket)
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(base64.StdEncoding.EncodeToString([]byte(pol)))) // the SDK sends the policy base64-encoded
	return []byte(pol), base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func getObject(t *testing.T, ctx context.Context, c clients, bucket, key string) []byte {
	t.Helper()
	out, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBundleInstanceAndRegister: an instance-store instance is bundled by BundleInstance
// (pending → bundling → storing → complete) into S3; the bundle, read through S3 and opened
// with the user's key, holds the instance's disk; RegisterImage of the manifest makes an
// instance-store EMI whose unbundled disk is that disk; a tampered part fails the image, a
// tampered manifest is refused, a cancelled task leaves no objects.
func TestBundleInstanceAndRegister(t *testing.T) {
	ctx := context.Background()
	srv := ec2emu.Start(t, ec2emu.Options{Dialect: ec2emu.Eucalyptus, ImageDelay: 100 * time.Millisecond})
	c := newClients(srv)
	user, err := bundle.NewIdentity("user")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.RegisterUserCertificate(user.CertPEM); err != nil {
		t.Fatal(err)
	}
	cloudCert, err := bundle.ParseCertificate(srv.CloudCertPEM())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// Incompressible data, so that the bundle has three 10 MiB parts.
	disk := filepath.Join(dir, "is.raw")
	data := make([]byte, 24<<20)
	rand.NewChaCha8([32]byte{7}).Read(data)
	clear(data[4<<20 : 5<<20])
	if err := os.WriteFile(disk, data, 0o644); err != nil {
		t.Fatal(err)
	}
	iid, err := srv.AddInstance(ec2emu.Instance{Name: "is", RootDisk: disk, RootDeviceType: "instance-store", RootDeviceName: "/dev/sda"})
	if err != nil {
		t.Fatal(err)
	}
	di, err := c.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{iid}})
	if err != nil || di.Reservations[0].Instances[0].RootDeviceType != types.DeviceTypeInstanceStore {
		t.Fatalf("DescribeInstances: %v %+v", err, di)
	}
	if _, err := c.ec2.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(iid), Name: aws.String("nope")}); apiCode(err) != "InvalidParameterValue" {
		t.Errorf("CreateImage of an instance-store instance: %v", err)
	}
	pol, sig := uploadPolicy("bundles", srv.SecretAccessKey)
	storage := func(prefix, sig string) *types.Storage {
		return &types.Storage{S3: &types.S3Storage{Bucket: aws.String("bundles"), Prefix: aws.String(prefix),
			AWSAccessKeyId: aws.String(srv.AccessKeyID), UploadPolicy: pol, UploadPolicySignature: aws.String(sig)}}
	}
	if _, err := c.ec2.BundleInstance(ctx, &ec2.BundleInstanceInput{InstanceId: aws.String(iid), Storage: storage("x", "AAAA")}); apiCode(err) != "InvalidParameterValue" {
		t.Errorf("bad upload policy signature: %v", err)
	}
	bi, err := c.ec2.BundleInstance(ctx, &ec2.BundleInstanceInput{InstanceId: aws.String(iid), Storage: storage("snap1", sig)})
	if err != nil {
		t.Fatal(err)
	}
	task := aws.ToString(bi.BundleTask.BundleId)
	if bi.BundleTask.State != types.BundleTaskStatePending || !strings.HasPrefix(task, "bun-") {
		t.Errorf("new task %+v", bi.BundleTask)
	}
	seen := map[types.BundleTaskState]bool{}
	deadline := time.Now().Add(time.Minute)
	for {
		d, err := c.ec2.DescribeBundleTasks(ctx, &ec2.DescribeBundleTasksInput{BundleIds: []string{task}})
		if err != nil {
			t.Fatal(err)
		}
		st := d.BundleTasks[0].State
		seen[st] = true
		if st == types.BundleTaskStateComplete || st == types.BundleTaskStateFailed || time.Now().After(deadline) {
			if st != types.BundleTaskStateComplete {
				t.Fatalf("bundle task: %+v", d.BundleTasks[0])
			}
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !seen[types.BundleTaskStatePending] || !seen[types.BundleTaskStateBundling] {
		t.Errorf("states seen %v", seen)
	}
	if err := ec2.NewBundleTaskCompleteWaiter(c.ec2).Wait(ctx, &ec2.DescribeBundleTasksInput{BundleIds: []string{task}}, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	// Read the bundle back through S3 with the user's key; BundleInstance signs with the cloud key.
	raw := getObject(t, ctx, c, "bundles", "snap1.manifest.xml")
	m, err := bundle.ParseManifest(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Verify(cloudCert); err != nil {
		t.Fatal(err)
	}
	key, iv, err := m.Keys(user.Key)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.raw")
	f, _ := os.Create(out)
	f.Truncate(m.Size)
	err = bundle.Read(ctx, m, key, iv, func(ctx context.Context, p bundle.Part) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(getObject(t, ctx, c, "bundles", p.Filename))), nil
	}, f, bundle.ReadOptions{})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if fileSHA(t, out, -1) != fileSHA(t, disk, -1) {
		t.Fatal("the bundle does not hold the instance's disk")
	}

	// Register it.
	ri, err := c.ec2.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("from-bundle"), ImageLocation: aws.String("bundles/snap1.manifest.xml"),
		Architecture: types.ArchitectureValuesX8664, VirtualizationType: aws.String("hvm")})
	if err != nil {
		t.Fatal(err)
	}
	emi := aws.ToString(ri.ImageId)
	waitImage(t, ctx, c, emi)
	dim, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{emi}})
	if err != nil {
		t.Fatal(err)
	}
	im := dim.Images[0]
	if !strings.HasPrefix(emi, "emi-") || im.RootDeviceType != types.DeviceTypeInstanceStore || aws.ToString(im.ImageLocation) != "bundles/snap1.manifest.xml" {
		t.Errorf("image %+v", im)
	}
	if p, ok := srv.ImageDiskPath(emi); !ok || fileSHA(t, p, -1) != fileSHA(t, disk, -1) {
		t.Fatalf("registered image's disk differs (%v)", ok)
	}

	// A tampered part: the manifest still verifies, the unbundling fails the image.
	p1 := getObject(t, ctx, c, "bundles", m.Parts[1].Filename)
	p1[1000] ^= 0x40
	if _, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bundles"), Key: aws.String(m.Parts[1].Filename), Body: bytes.NewReader(p1)}); err != nil {
		t.Fatal(err)
	}
	ri2, err := c.ec2.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("tampered"), ImageLocation: aws.String("bundles/snap1.manifest.xml")})
	if err != nil {
		t.Fatal(err)
	}
	err = ec2.NewImageAvailableWaiter(c.ec2, func(o *ec2.ImageAvailableWaiterOptions) { o.MinDelay = 20 * time.Millisecond }).
		Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{aws.ToString(ri2.ImageId)}}, 10*time.Second)
	d2, _ := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{aws.ToString(ri2.ImageId)}})
	if err == nil || d2.Images[0].State != types.ImageStateFailed || !strings.Contains(aws.ToString(d2.Images[0].StateReason.Message), "part 1") {
		t.Errorf("tampered part: %v %+v", err, d2.Images[0].StateReason)
	}
	// A tampered manifest is refused at once.
	alt := bytes.Replace(raw, []byte("<architecture>x86_64"), []byte("<architecture>i386"), 1)
	if _, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bundles"), Key: aws.String("alt.manifest.xml"), Body: bytes.NewReader(alt)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ec2.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("alt"), ImageLocation: aws.String("bundles/alt.manifest.xml")}); apiCode(err) != "InvalidManifest" {
		t.Errorf("tampered manifest: %v", err)
	}
	if _, err := c.ec2.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(emi)}); err != nil {
		t.Fatal(err)
	}
	if _, ok := srv.ImageDiskPath(emi); ok {
		t.Error("deregistered image still has a disk")
	}

	// Cancel a task: it fails and leaves nothing under its prefix.
	slow := ec2emu.Start(t, ec2emu.Options{Dialect: ec2emu.Eucalyptus, ImageDelay: 2 * time.Second})
	sc := newClients(slow)
	iid2, _ := slow.AddInstance(ec2emu.Instance{RootDisk: disk, RootDeviceType: "instance-store"})
	pol2, sig2 := uploadPolicy("bundles", slow.SecretAccessKey)
	bi2, err := sc.ec2.BundleInstance(ctx, &ec2.BundleInstanceInput{InstanceId: aws.String(iid2), Storage: &types.Storage{S3: &types.S3Storage{
		Bucket: aws.String("bundles"), Prefix: aws.String("cancelled"), AWSAccessKeyId: aws.String(slow.AccessKeyID), UploadPolicy: pol2, UploadPolicySignature: aws.String(sig2)}}})
	if err != nil {
		t.Fatal(err)
	}
	cb, err := sc.ec2.CancelBundleTask(ctx, &ec2.CancelBundleTaskInput{BundleId: bi2.BundleTask.BundleId})
	if err != nil || cb.BundleTask.State != types.BundleTaskStateCancelling {
		t.Fatalf("CancelBundleTask: %v %+v", err, cb)
	}
	err = ec2.NewBundleTaskCompleteWaiter(sc.ec2, func(o *ec2.BundleTaskCompleteWaiterOptions) { o.MinDelay = 50 * time.Millisecond }).
		Wait(ctx, &ec2.DescribeBundleTasksInput{BundleIds: []string{aws.ToString(bi2.BundleTask.BundleId)}}, 20*time.Second)
	if err == nil {
		t.Error("a cancelled task completed")
	}
	for _, k := range slow.ObjectKeys("bundles") {
		t.Errorf("object %s left by the cancelled task", k)
	}
}
