package ec2

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

const testKey = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-4333-8444-555555555555"

func openRaw(t *testing.T, p string) diskimage.Image {
	t.Helper()
	img, err := diskimage.OpenFormat(p, "raw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { img.Close() })
	return img
}

// snapshotBytes returns a snapshot's first n bytes as the emulator stores them.
func snapshotBytes(t *testing.T, srv *ec2emu.Server, id string, n int) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "snap.raw")
	if err := srv.WriteSnapshotFile(id, p, int64(n)); err != nil {
		t.Fatal(err)
	}
	return readAll(t, p)
}

func TestPublishEncrypted(t *testing.T) {
	srv := ec2emu.Start(t)
	cl := connect(t, srv)
	ctx := t.Context()
	path, want := testImage(t, 4*BlockSize, map[int64]int{0: 512, 3 * BlockSize: 100})
	for _, c := range []struct {
		name, key, wantKey string
	}{
		{"default-key", "", srv.DefaultKMSKeyID()},
		{"given-key", testKey, testKey},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := Publish(ctx, cl, openRaw(t, path), "disk", PublishOptions{StateTimeout: time.Minute, Name: "enc-" + c.name, Encrypted: true, KMSKeyID: c.key,
				SnapshotTags: map[string]string{"k": "v"}})
			if err != nil {
				t.Fatal(err)
			}
			info, _ := srv.Snapshot(res.SnapshotID)
			if !info.Encrypted || info.KmsKeyID != c.wantKey {
				t.Fatalf("snapshot %+v: want encrypted with %s", info, c.wantKey)
			}
			// Through the API: DescribeSnapshots and the AMI's block device mapping.
			enc, key, err := SnapshotEncryption(ctx, cl.EC2, res.SnapshotID)
			if err != nil || !enc || key != c.wantKey {
				t.Fatalf("SnapshotEncryption = %v %q %v", enc, key, err)
			}
			im, err := GetImage(ctx, cl.EC2, res.ImageID)
			if err != nil || len(im.BlockDeviceMappings) != 1 || !aws.ToBool(im.BlockDeviceMappings[0].Ebs.Encrypted) {
				t.Fatalf("AMI %+v %v: root not encrypted", im, err)
			}
			if got := snapshotBytes(t, srv, res.SnapshotID, len(want)); !bytes.Equal(got, want) {
				t.Fatal("snapshot bytes differ from the image")
			}
		})
	}
	// Unencrypted stays unencrypted.
	res, err := Publish(ctx, cl, openRaw(t, path), "disk", PublishOptions{StateTimeout: time.Minute, Name: "plain"})
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := srv.Snapshot(res.SnapshotID); info.Encrypted || info.KmsKeyID != "" {
		t.Fatalf("plain snapshot %+v", info)
	}
}

// The emulator follows AWS's documented StartSnapshot rules: a key without Encrypted fails.
func TestStartSnapshotKeyWithoutEncrypted(t *testing.T) {
	srv := ec2emu.Start(t)
	cl := connect(t, srv)
	_, err := cl.EBS.StartSnapshot(t.Context(), &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1), KmsKeyArn: aws.String(testKey)})
	if err == nil || APICode(err) != "ValidationException" {
		t.Fatalf("StartSnapshot with KmsKeyArn alone: %v", err)
	}
	if ids := srv.SnapshotIDs(); len(ids) != 0 {
		t.Fatalf("snapshots made: %v", ids)
	}
}

func TestSourceEncryption(t *testing.T) {
	srv := ec2emu.Start(t, ec2emu.Options{ImageDelay: 50 * time.Millisecond})
	cl := connect(t, srv)
	ctx := t.Context()
	path, _ := testImage(t, 2*BlockSize, map[int64]int{0: 10})
	iid, err := srv.AddInstance(ec2emu.Instance{RootDisk: path, Encrypted: true, KmsKeyID: testKey})
	if err != nil {
		t.Fatal(err)
	}
	plainID, err := srv.AddInstance(ec2emu.Instance{RootDisk: path})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := FindInstance(ctx, cl.EC2, iid, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if enc, key, err := SourceEncryption(ctx, cl.EC2, inst, nil); err != nil || !enc || key != testKey {
		t.Fatalf("instance: %v %q %v", enc, key, err)
	}
	plain, _ := FindInstance(ctx, cl.EC2, plainID, Filter{})
	if enc, key, err := SourceEncryption(ctx, cl.EC2, plain, nil); err != nil || enc || key != "" {
		t.Fatalf("plain instance: %v %q %v", enc, key, err)
	}
	// The intermediate AMI of an encrypted instance has encrypted snapshots of the same key.
	im, err := CreateIntermediate(ctx, cl, iid, IntermediateOptions{NoReboot: true, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if enc, key, err := SourceEncryption(ctx, cl.EC2, nil, im.Image); err != nil || !enc || key != testKey {
		t.Fatalf("intermediate: %v %q %v", enc, key, err)
	}
	if err := im.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	ami, err := srv.AddImage(ec2emu.Image{Name: "enc-src", Encrypted: true})
	if err != nil {
		t.Fatal(err)
	}
	img, _ := GetImage(ctx, cl.EC2, ami)
	if enc, key, err := SourceEncryption(ctx, cl.EC2, nil, img); err != nil || !enc || key != srv.DefaultKMSKeyID() {
		t.Fatalf("image: %v %q %v", enc, key, err)
	}
}

func TestReplaceByName(t *testing.T) {
	srv := ec2emu.Start(t)
	cl := connect(t, srv)
	ctx := t.Context()
	path, _ := testImage(t, 2*BlockSize, map[int64]int{0: 10})
	mine, err := srv.AddImage(ec2emu.Image{Name: "app"})
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := srv.AddImage(ec2emu.Image{Name: "app", OwnerID: "999999999999", Public: true})
	if err != nil {
		t.Fatal(err)
	}
	oldImg, _ := GetImage(ctx, cl.EC2, mine)
	oldSnap, _, _ := RootSnapshot(oldImg)

	// Without force: an error naming ami_name and the AMI, before anything is made.
	_, err = CheckName(ctx, cl.EC2, "app", Replace{})
	if err == nil || !strings.Contains(err.Error(), `ami_name "app"`) || !strings.Contains(err.Error(), mine) {
		t.Fatalf("CheckName without force: %v", err)
	}
	// The source is never deregistered, even with force; nothing is touched.
	_, err = Publish(ctx, cl, openRaw(t, path), "disk", PublishOptions{StateTimeout: time.Minute, Name: "app", Replace: Replace{Force: true, DeleteSnapshots: true, Protect: []string{mine}}})
	if err == nil || !strings.Contains(err.Error(), "source AMI") {
		t.Fatalf("Publish over the protected source: %v", err)
	}
	if _, ok := srv.Snapshot(oldSnap); !ok || len(srv.ImageIDs()) != 2 || len(srv.SnapshotIDs()) != 2 {
		t.Fatalf("protected replace left %v / %v", srv.ImageIDs(), srv.SnapshotIDs())
	}
	// Force: the old AMI is gone, its snapshot kept; the other account's image untouched.
	res, err := Publish(ctx, cl, openRaw(t, path), "disk", PublishOptions{StateTimeout: time.Minute, Name: "app", Replace: Replace{Force: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := GetImage(ctx, cl.EC2, mine); err == nil {
		t.Fatalf("%s still registered", mine)
	}
	if _, ok := srv.Snapshot(oldSnap); !ok {
		t.Fatalf("snapshot %s of the old AMI deleted without force_delete_snapshot", oldSnap)
	}
	if _, err := GetImage(ctx, cl.EC2, theirs); err != nil {
		t.Fatalf("the other account's %s: %v", theirs, err)
	}
	// Force with DeleteSnapshots: replaced again, and its snapshot goes too.
	res2, err := Publish(ctx, cl, openRaw(t, path), "disk", PublishOptions{StateTimeout: time.Minute, Name: "app", Replace: Replace{Force: true, DeleteSnapshots: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := srv.Snapshot(res.SnapshotID); ok {
		t.Fatalf("snapshot %s of the replaced AMI kept with force_delete_snapshot", res.SnapshotID)
	}
	if _, ok := srv.Snapshot(oldSnap); !ok {
		t.Fatalf("unrelated snapshot %s deleted", oldSnap)
	}
	if ids := srv.ImageIDs(); len(ids) != 2 || !contains(ids, res2.ImageID) || !contains(ids, theirs) {
		t.Fatalf("images %v, want %s and %s", ids, res2.ImageID, theirs)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestRequireTagsOnCreate(t *testing.T) {
	srv := ec2emu.Start(t, ec2emu.Options{ImageDelay: 50 * time.Millisecond})
	cl := connect(t, srv)
	ctx := t.Context()
	path, want := testImage(t, 2*BlockSize, map[int64]int{BlockSize: 10})
	iid, err := srv.AddInstance(ec2emu.Instance{RootDisk: path})
	if err != nil {
		t.Fatal(err)
	}
	srv.RequireTagsOnCreate(true)
	// The policy really rejects untagged creation, and tags set afterwards do not help.
	if _, err := cl.EC2.CreateImage(ctx, &sdkec2.CreateImageInput{InstanceId: aws.String(iid), Name: aws.String("untagged"), NoReboot: aws.Bool(true)}); APICode(err) != "UnauthorizedOperation" {
		t.Fatalf("untagged CreateImage: %v", err)
	}
	if _, err := Publish(ctx, cl, openRaw(t, path), "disk", PublishOptions{StateTimeout: time.Minute, Name: "untagged"}); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("untagged Publish: %v", err)
	}
	if len(srv.ImageIDs()) != 0 || len(srv.SnapshotIDs()) != 0 {
		t.Fatalf("denied calls made %v %v", srv.ImageIDs(), srv.SnapshotIDs())
	}
	// Tagged at creation, everything goes through: the intermediate AMI, a volume of its
	// snapshot, the new snapshot and the AMI.
	run := map[string]string{"owner": "ci"}
	im, err := CreateIntermediate(ctx, cl, iid, IntermediateOptions{NoReboot: true, Tags: run, SnapshotTags: run, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	snap, _, _ := RootSnapshot(im.Image)
	vol, err := CreateVolume(ctx, cl.EC2, snap, srv.Region+"a", run, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := WaitVolume(ctx, cl.EC2, vol, "available", time.Minute, VolumeAvailable); err != nil {
		t.Fatal(err)
	}
	if err := DeleteVolume(ctx, cl.EC2, vol); err != nil {
		t.Fatal(err)
	}
	if err := im.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := Publish(ctx, cl, openRaw(t, path), "disk", PublishOptions{StateTimeout: time.Minute, Name: "tagged", Tags: run, SnapshotTags: run})
	if err != nil {
		t.Fatal(err)
	}
	if got := snapshotBytes(t, srv, res.SnapshotID, len(want)); !bytes.Equal(got, want) {
		t.Fatal("snapshot bytes differ")
	}
	if tagged, _, err := FindTagged(ctx, cl.EC2, "owner", "ci"); err != nil || len(tagged) != 1 || aws.ToString(tagged[0].ImageId) != res.ImageID {
		t.Fatalf("AMI tagged at registration: %v %v", tagged, err)
	}
}

// force_delete_snapshot: a snapshot another AMI still uses is reported and kept; the new AMI
// is registered all the same (the old one is already gone).
func TestReplaceKeepsSharedSnapshot(t *testing.T) {
	srv := ec2emu.Start(t)
	cl := connect(t, srv)
	ctx := t.Context()
	path, _ := testImage(t, 2*BlockSize, map[int64]int{0: 10})
	old, err := srv.AddImage(ec2emu.Image{Name: "shared"})
	if err != nil {
		t.Fatal(err)
	}
	oldImg, _ := GetImage(ctx, cl.EC2, old)
	snap, _, _ := RootSnapshot(oldImg)
	other, err := RegisterImage(ctx, cl.EC2, NewImage{Name: "other", SnapshotID: snap})
	if err != nil {
		t.Fatal(err)
	}
	var reported []string
	res, err := Publish(ctx, cl, openRaw(t, path), "disk", PublishOptions{StateTimeout: time.Minute, Name: "shared",
		Replace: Replace{Force: true, DeleteSnapshots: true}, Report: Report{Error: func(s string) { reported = append(reported, s) }}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := srv.Snapshot(snap); !ok {
		t.Fatalf("snapshot %s, still used by %s, deleted", snap, other)
	}
	if len(reported) != 1 || !strings.Contains(reported[0], snap) {
		t.Errorf("reported %q, want the kept snapshot %s", reported, snap)
	}
	if ids := srv.ImageIDs(); len(ids) != 2 || !contains(ids, res.ImageID) || !contains(ids, other) {
		t.Errorf("images %v", ids)
	}
}
