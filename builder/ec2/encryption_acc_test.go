package ec2

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

const accKey = "arn:aws:kms:us-east-1:123456789012:key/0a0a0a0a-1b1b-4c2c-8d3d-4e4e4e4e4e4e"

// withOptions is the acceptance template with more source options.
func withOptions(hcl string) string {
	const at = "  capture_method      = var.capture_method\n"
	if !strings.Contains(buildTemplate, at) {
		panic("build.pkr.hcl changed")
	}
	return strings.Replace(buildTemplate, at, at+hcl, 1)
}

func snapshotEncryption(t *testing.T, srv *ec2emu.Server, ami string) (bool, string, string) {
	t.Helper()
	out, err := ec2Client(srv).DescribeImages(t.Context(), &sdkec2.DescribeImagesInput{ImageIds: []string{ami}})
	if err != nil || len(out.Images) != 1 {
		t.Fatalf("DescribeImages %s: %v", ami, err)
	}
	ebs := out.Images[0].BlockDeviceMappings[0].Ebs
	snap := aws.ToString(ebs.SnapshotId)
	info, ok := srv.Snapshot(snap)
	if !ok {
		t.Fatalf("snapshot %s of %s missing", snap, ami)
	}
	if aws.ToBool(ebs.Encrypted) != info.Encrypted {
		t.Errorf("DescribeImages says Encrypted %v, the snapshot %v", aws.ToBool(ebs.Encrypted), info.Encrypted)
	}
	return info.Encrypted, info.KmsKeyID, snap
}

// TestAccEC2EncryptedSourceRunTagsForceDeregister captures an instance whose root volume is
// encrypted, through packer, in an account whose policy denies untagged creation, replacing
// the account's AMI of the same name: the new AMI is encrypted with the source's key
// (encrypt_boot unset), run_tags tag what the build makes while it runs, the old AMI is
// deregistered and its snapshot kept (no force_delete_snapshot), and the intermediate AMI is
// gone. Then a name clash without force_deregister fails before any data moves, and a source
// AMI published with encrypt_boot and kms_key_id is encrypted with that key.
func TestAccEC2EncryptedSourceRunTagsForceDeregister(t *testing.T) {
	testtier.Acceptance(t, "packer builds against the EC2 emulator")
	env := packertest.Setup(t)
	srv := emulator(t)
	srcKey := "arn:aws:kms:" + srv.Region + ":123456789012:key/5a5a5a5a-6b6b-4c7c-8d8d-9e9e9e9e9e9e"
	iid, err := srv.AddInstance(ec2emu.Instance{Name: "enc", RootDisk: sampleCopy(t), Encrypted: true, KmsKeyID: srcKey})
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("acc-enc-%d", time.Now().UnixNano())
	old, err := srv.AddImage(ec2emu.Image{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	oldSnap := srv.SnapshotIDs()
	srv.RequireTagsOnCreate(true)
	dir := t.TempDir()
	tmpl := withOptions("  force_deregister = true\n  run_tags = { purpose = \"ci-run\" }\n")
	res := env.MustBuild(t, dir, tmpl, 15*time.Minute, buildArgs(srv, dir, "instance_id", iid, "ami_name", name, "marker", "m1")...)
	made := imageByName(t, srv, name)
	if made == nil || aws.ToString(made.ImageId) == old {
		t.Fatalf("no new AMI %s (old %s):\n%s", name, old, res.Output)
	}
	enc, key, snap := snapshotEncryption(t, srv, aws.ToString(made.ImageId))
	if !enc || key != srcKey {
		t.Errorf("new AMI encrypted=%v key=%q, want the source's %s", enc, key, srcKey)
	}
	if !strings.Contains(res.Output, "The source is encrypted") {
		t.Errorf("no UI message about the kept encryption:\n%s", res.Output)
	}
	if ids := srv.ImageIDs(); !slices.Equal(ids, []string{aws.ToString(made.ImageId)}) {
		t.Errorf("images after the build: %v (the old AMI %s and the intermediate must be gone)", ids, old)
	}
	if ids := srv.SnapshotIDs(); !slices.Equal(ids, sortedPair(oldSnap[0], snap)) {
		t.Errorf("snapshots after the build: %v, want the old AMI's %s (kept) and the new %s", ids, oldSnap[0], snap)
	}
	if n := srv.CallCount("CreateTags"); n != 0 {
		t.Errorf("%d CreateTags calls: everything is tagged at creation on AWS", n)
	}

	// A clash without force_deregister fails before any data moves.
	ebsCalls := srv.CallCount("StartSnapshot") + srv.CallCount("GetSnapshotBlock")
	images := srv.ImageIDs()
	dir2 := t.TempDir()
	res = env.Build(t, dir2, buildTemplate, 10*time.Minute, buildArgs(srv, dir2, "instance_id", iid, "ami_name", name, "marker", "m2")...)
	if res.Err == nil {
		t.Fatalf("a name clash without force_deregister built:\n%s", res.Output)
	}
	if !strings.Contains(res.Output, fmt.Sprintf("ami_name %q is already used by %s", name, aws.ToString(made.ImageId))) {
		t.Errorf("the error does not name ami_name and the AMI:\n%s", res.Output)
	}
	if n := srv.CallCount("StartSnapshot") + srv.CallCount("GetSnapshotBlock"); n != ebsCalls || !slices.Equal(srv.ImageIDs(), images) {
		t.Errorf("data moved or images changed before the name check failed (%d EBS calls, images %v)", n-ebsCalls, srv.ImageIDs())
	}

	// encrypt_boot with kms_key_id from the (encrypted) AMI just made.
	dir3 := t.TempDir()
	name3 := name + "-kms"
	tmpl3 := withOptions(fmt.Sprintf("  encrypt_boot = true\n  kms_key_id = %q\n  run_tags = { purpose = \"ci-run\" }\n", accKey))
	res = env.MustBuild(t, dir3, tmpl3, 15*time.Minute, buildArgs(srv, dir3, "source_ami", aws.ToString(made.ImageId), "ami_name", name3, "marker", "m3")...)
	made3 := imageByName(t, srv, name3)
	if made3 == nil {
		t.Fatalf("no AMI %s:\n%s", name3, res.Output)
	}
	if enc, key, _ := snapshotEncryption(t, srv, aws.ToString(made3.ImageId)); !enc || key != accKey {
		t.Errorf("AMI with kms_key_id: encrypted=%v key=%q, want %s", enc, key, accKey)
	}
	if imageByName(t, srv, name) == nil {
		t.Errorf("the source AMI %s is gone", name)
	}
}

func sortedPair(a, b string) []string {
	s := []string{a, b}
	slices.Sort(s)
	return s
}
