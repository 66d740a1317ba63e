package ec2emu_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// Encrypted resources fill the SDK models' encryption fields: StartSnapshotOutput's
// KmsKeyArn, Snapshot's Encrypted and KmsKeyId, Volume's KmsKeyId; the StartSnapshot rules
// of AWS's "Encryption outcomes for EBS direct APIs" hold; the require-tags policy refuses
// untagged creation and passes tagged creation.
func TestEncryptionModelsAndRules(t *testing.T) {
	srv := ec2emu.Start(t)
	c := newClients(srv)
	ctx := t.Context()
	key := "arn:aws:kms:" + srv.Region + ":123456789012:key/9a9a9a9a-8b8b-4c7c-8d6d-5e5e5e5e5e5e"
	out, err := c.ebs.StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1), Encrypted: aws.Bool(true), KmsKeyArn: aws.String(key), Description: aws.String("d")})
	if err != nil {
		t.Fatal(err)
	}
	checkModel(t, "encrypted StartSnapshotOutput", out, "ParentSnapshotId", "Tags")
	if aws.ToString(out.KmsKeyArn) != key || out.SseType != "sse-ebs" {
		t.Fatalf("StartSnapshot: %+v", out)
	}
	def, err := c.ebs.StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1), Encrypted: aws.Bool(true)})
	if err != nil || aws.ToString(def.KmsKeyArn) != srv.DefaultKMSKeyID() {
		t.Fatalf("Encrypted without a key: %+v %v (want the default key)", def, err)
	}
	for name, in := range map[string]*ebs.StartSnapshotInput{
		"key without Encrypted": {VolumeSize: aws.Int64(1), KmsKeyArn: aws.String(key)},
		"key id, not an ARN":    {VolumeSize: aws.Int64(1), Encrypted: aws.Bool(true), KmsKeyArn: aws.String("9a9a9a9a-8b8b-4c7c-8d6d-5e5e5e5e5e5e")},
		"Encrypted with parent": {VolumeSize: aws.Int64(1), Encrypted: aws.Bool(true), ParentSnapshotId: out.SnapshotId},
	} {
		if _, err := c.ebs.StartSnapshot(ctx, in); apiCode(err) != "ValidationException" {
			t.Errorf("%s: %v, want ValidationException", name, err)
		}
	}
	ami, err := srv.AddImage(ec2emu.Image{Name: "enc", Encrypted: true, KmsKeyID: key})
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{ami}})
	if err != nil || len(imgs.Images) != 1 || !aws.ToBool(imgs.Images[0].BlockDeviceMappings[0].Ebs.Encrypted) {
		t.Fatalf("DescribeImages of an encrypted AMI: %+v %v", imgs, err)
	}
	snap := aws.ToString(imgs.Images[0].BlockDeviceMappings[0].Ebs.SnapshotId)
	ds, err := c.ec2.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}})
	if err != nil || len(ds.Snapshots) != 1 {
		t.Fatal(err)
	}
	checkModel(t, "encrypted Snapshot", ds.Snapshots[0], "AvailabilityZone", "CompletionDurationMinutes", "DataEncryptionKeyId",
		"OutpostArn", "OwnerAlias", "RestoreExpiryTime", "StateMessage", "TransferType", "FullSnapshotSizeInBytes") // an empty seeded snapshot
	if !aws.ToBool(ds.Snapshots[0].Encrypted) || aws.ToString(ds.Snapshots[0].KmsKeyId) != key {
		t.Fatalf("snapshot %+v", ds.Snapshots[0])
	}

	// The policy: untagged creation refused, tagged creation passes and is encrypted.
	srv.RequireTagsOnCreate(true)
	if _, err := c.ec2.CreateVolume(ctx, &ec2.CreateVolumeInput{SnapshotId: aws.String(snap), AvailabilityZone: aws.String(srv.Region + "a")}); apiCode(err) != "UnauthorizedOperation" {
		t.Fatalf("untagged CreateVolume: %v", err)
	}
	if _, err := c.ebs.StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1)}); apiCode(err) != "AccessDeniedException" {
		t.Fatalf("untagged StartSnapshot: %v", err)
	}
	v, err := c.ec2.CreateVolume(ctx, &ec2.CreateVolumeInput{SnapshotId: aws.String(snap), AvailabilityZone: aws.String(srv.Region + "a"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVolume, Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}}})
	if err != nil || !aws.ToBool(v.Encrypted) || aws.ToString(v.KmsKeyId) != key {
		t.Fatalf("tagged CreateVolume of an encrypted snapshot: %+v %v", v, err)
	}
	srv.RequireTagsOnCreate(false)
	if _, err := c.ebs.StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1)}); err != nil {
		t.Fatalf("untagged StartSnapshot with the policy off: %v", err)
	}
}
