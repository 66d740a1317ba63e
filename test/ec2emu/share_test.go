package ec2emu_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// TestShareAttributes: launch permissions (accounts, all, organization and OU ARNs) and
// snapshot createVolumePermission, added and removed through the SDK and read back; bad
// account ids and groups refused.
func TestShareAttributes(t *testing.T) {
	srv := ec2emu.Start(t)
	c := newClients(srv).ec2
	ctx := t.Context()
	ami, err := srv.AddImage(ec2emu.Image{Name: "shared"})
	if err != nil {
		t.Fatal(err)
	}
	org := "arn:aws:organizations::111122223333:organization/o-abcdefghij"
	ou := "arn:aws:organizations::111122223333:ou/o-abcdefghij/ou-ab12-cdefgh34"
	if _, err := c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(ami), LaunchPermission: &types.LaunchPermissionModifications{
		Add: []types.LaunchPermission{{UserId: aws.String("210987654321")}, {Group: types.PermissionGroupAll}, {OrganizationArn: aws.String(org)}, {OrganizationalUnitArn: aws.String(ou)}},
	}}); err != nil {
		t.Fatal(err)
	}
	out, err := c.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(ami), Attribute: types.ImageAttributeNameLaunchPermission})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, lp := range out.LaunchPermissions {
		got[aws.ToString(lp.UserId)+string(lp.Group)+aws.ToString(lp.OrganizationArn)+aws.ToString(lp.OrganizationalUnitArn)] = true
	}
	if len(got) != 4 || !got["210987654321"] || !got["all"] || !got[org] || !got[ou] {
		t.Fatalf("launch permissions %v", got)
	}
	if _, err := c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(ami), LaunchPermission: &types.LaunchPermissionModifications{
		Add: []types.LaunchPermission{{UserId: aws.String("12345")}}}}); apiCode(err) != "InvalidUserID.Malformed" {
		t.Errorf("short account id: %v", err)
	}
	if _, err := c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(ami), LaunchPermission: &types.LaunchPermissionModifications{
		Add: []types.LaunchPermission{{OrganizationArn: aws.String("arn:aws:iam::111122223333:root")}}}}); apiCode(err) != "InvalidParameterValue" {
		t.Errorf("bad organization ARN: %v", err)
	}

	img, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{ami}})
	if err != nil {
		t.Fatal(err)
	}
	snap := aws.ToString(img.Images[0].BlockDeviceMappings[0].Ebs.SnapshotId)
	if _, err := c.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{SnapshotId: aws.String(snap), Attribute: types.SnapshotAttributeNameCreateVolumePermission,
		CreateVolumePermission: &types.CreateVolumePermissionModifications{Add: []types.CreateVolumePermission{{UserId: aws.String("210987654321")}, {UserId: aws.String("333344445555")}, {Group: types.PermissionGroupAll}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{SnapshotId: aws.String(snap), Attribute: types.SnapshotAttributeNameCreateVolumePermission,
		OperationType: types.OperationTypeRemove, UserIds: []string{"333344445555"}}); err != nil {
		t.Fatal(err)
	}
	sa, err := c.DescribeSnapshotAttribute(ctx, &ec2.DescribeSnapshotAttributeInput{SnapshotId: aws.String(snap), Attribute: types.SnapshotAttributeNameCreateVolumePermission})
	if err != nil {
		t.Fatal(err)
	}
	var perms []string
	for _, p := range sa.CreateVolumePermissions {
		perms = append(perms, aws.ToString(p.UserId)+string(p.Group))
	}
	checkModel(t, "DescribeSnapshotAttributeOutput", sa, "ProductCodes", "CreateVolumePermissions[0].UserId")
	if aws.ToString(sa.SnapshotId) != snap || len(perms) != 2 || perms[0] != "all" || perms[1] != "210987654321" {
		t.Fatalf("createVolumePermission %v", perms)
	}
	if _, err := c.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{SnapshotId: aws.String(snap),
		CreateVolumePermission: &types.CreateVolumePermissionModifications{Add: []types.CreateVolumePermission{{Group: "friends"}}}}); apiCode(err) != "InvalidParameterValue" {
		t.Errorf("group friends: %v", err)
	}
}

// TestCopyImageAcrossRegions: a CopyImage sent to eu-west-1 (the region of the signature)
// from us-east-1 makes an image and snapshot found in eu-west-1 only, with the same blocks;
// the source region keeps its image; DescribeRegions lists both and refuses an unknown name.
func TestCopyImageAcrossRegions(t *testing.T) {
	srv := ec2emu.Start(t, ec2emu.Options{ImageDelay: 300 * time.Millisecond})
	dir := t.TempDir()
	disk := makeDisk(t, dir, 3<<20, 7)
	ami, err := srv.AddImage(ec2emu.Image{Name: "regional", RootDisk: disk})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	east := newClients(srv).ec2
	cfg := srv.AWSConfig()
	cfg.Region = "eu-west-1"
	west := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(srv.EC2Endpoint) })

	if _, err := west.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: aws.String(ami), SourceRegion: aws.String("eu-west-2"), Name: aws.String("regional")}); apiCode(err) != "InvalidAMIID.NotFound" {
		t.Errorf("copy from the wrong source region: %v", err)
	}
	cp, err := west.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: aws.String(ami), SourceRegion: aws.String(srv.Region), Name: aws.String("regional"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeImage, Tags: []types.Tag{{Key: aws.String("copy"), Value: aws.String("yes")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	copyID := aws.ToString(cp.ImageId)
	if r := srv.ImageRegion(copyID); r != "eu-west-1" {
		t.Fatalf("copy in %q", r)
	}
	if _, err := east.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{copyID}}); apiCode(err) != "InvalidAMIID.NotFound" {
		t.Errorf("the copy is visible in %s: %v", srv.Region, err)
	}
	if _, err := west.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{ami}}); apiCode(err) != "InvalidAMIID.NotFound" {
		t.Errorf("the source is visible in eu-west-1: %v", err)
	}
	w := ec2.NewImageAvailableWaiter(west, func(o *ec2.ImageAvailableWaiterOptions) {
		o.MinDelay = 100 * time.Millisecond
		o.MaxDelay = 200 * time.Millisecond
	})
	if err := w.Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{copyID}}, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	img, err := west.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{copyID}})
	if err != nil {
		t.Fatal(err)
	}
	im := img.Images[0]
	snap := aws.ToString(im.BlockDeviceMappings[0].Ebs.SnapshotId)
	if aws.ToString(im.SourceImageId) != ami || aws.ToString(im.SourceImageRegion) != srv.Region || len(im.Tags) != 1 {
		t.Errorf("copy %+v", im)
	}
	if _, err := east.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}}); apiCode(err) != "InvalidSnapshot.NotFound" {
		t.Errorf("the copy's snapshot is visible in %s: %v", srv.Region, err)
	}
	if _, err := west.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}}); err != nil {
		t.Errorf("the copy's snapshot in eu-west-1: %v", err)
	}
	a, b := dir+"/a.raw", dir+"/b.raw"
	if err := srv.WriteSnapshotFile(snap, a, 3<<20); err != nil {
		t.Fatal(err)
	}
	if err := srv.WriteSnapshotFile(snapOf(t, east, ami), b, 3<<20); err != nil {
		t.Fatal(err)
	}
	if fileSHA(t, a, 3<<20) != fileSHA(t, disk, 3<<20) || fileSHA(t, b, 3<<20) != fileSHA(t, disk, 3<<20) {
		t.Error("the copy's snapshot differs from the source disk")
	}
	// A second copy of the same name into eu-west-1 is a duplicate there.
	if _, err := west.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: aws.String(ami), SourceRegion: aws.String(srv.Region), Name: aws.String("regional")}); apiCode(err) != "InvalidAMIName.Duplicate" {
		t.Errorf("duplicate name in eu-west-1: %v", err)
	}
	if _, err := west.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: aws.String(ami), SourceRegion: aws.String(srv.Region), Name: aws.String("kms copy"), KmsKeyId: aws.String("alias/x")}); apiCode(err) != "InvalidParameterCombination" {
		t.Errorf("KmsKeyId without Encrypted: %v", err)
	}
	if _, err := west.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(copyID)}); err != nil {
		t.Fatal(err)
	}

	rs, err := east.DescribeRegions(ctx, &ec2.DescribeRegionsInput{RegionNames: []string{"us-east-1", "eu-west-1"}})
	if err != nil || len(rs.Regions) != 2 {
		t.Fatalf("DescribeRegions: %v %+v", err, rs)
	}
	checkModel(t, "DescribeRegionsOutput", rs)
	if _, err := east.DescribeRegions(ctx, &ec2.DescribeRegionsInput{RegionNames: []string{"mars-north-1"}}); apiCode(err) != "InvalidParameterValue" {
		t.Errorf("unknown region: %v", err)
	}
}

func snapOf(t *testing.T, c *ec2.Client, ami string) string {
	t.Helper()
	out, err := c.DescribeImages(t.Context(), &ec2.DescribeImagesInput{ImageIds: []string{ami}})
	if err != nil || len(out.Images) != 1 {
		t.Fatalf("DescribeImages %s: %v", ami, err)
	}
	return aws.ToString(out.Images[0].BlockDeviceMappings[0].Ebs.SnapshotId)
}

// TestAssumeRole: STS AssumeRole through the SDK's stscreds provider; the EC2 calls made
// with it carry the temporary key (the request log says so) and its session token; a
// temporary key without its token, and a malformed role ARN, are refused.
func TestAssumeRole(t *testing.T) {
	srv := ec2emu.Start(t)
	ctx := t.Context()
	cfg := srv.AWSConfig()
	stsc := sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(srv.STSEndpoint) })
	arn := "arn:aws:iam::210987654321:role/builder"
	prov := stscreds.NewAssumeRoleProvider(stsc, arn, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName, o.ExternalID = "chromogenic-test", aws.String("ext-42")
		o.Tags = []ststypes.Tag{{Key: aws.String("team"), Value: aws.String("images")}}
	})
	assumed := cfg.Copy()
	assumed.Credentials = aws.NewCredentialsCache(prov)
	c := ec2.NewFromConfig(assumed, func(o *ec2.Options) { o.BaseEndpoint = aws.String(srv.EC2Endpoint) })
	if _, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}}); err != nil {
		t.Fatal(err)
	}
	roles := srv.AssumedRoles()
	if len(roles) != 1 || roles[0].RoleARN != arn || roles[0].SessionName != "chromogenic-test" || roles[0].ExternalID != "ext-42" ||
		roles[0].Tags["team"] != "images" || roles[0].CallerKey != srv.AccessKeyID {
		t.Fatalf("assumed roles %+v", roles)
	}
	var described []ec2emu.Call
	for _, call := range srv.Calls() {
		if call.Action == "DescribeImages" {
			described = append(described, call)
		}
	}
	if len(described) != 1 || described[0].AccessKey != roles[0].AccessKeyID || described[0].Region != srv.Region {
		t.Fatalf("DescribeImages calls %+v, want the key %s", described, roles[0].AccessKeyID)
	}
	creds, err := assumed.Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	noToken := cfg.Copy()
	noToken.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey}, nil
	})
	nc := ec2.NewFromConfig(noToken, func(o *ec2.Options) { o.BaseEndpoint = aws.String(srv.EC2Endpoint); o.Retryer = aws.NopRetryer{} })
	if _, err := nc.DescribeImages(ctx, &ec2.DescribeImagesInput{}); apiCode(err) != "AuthFailure" {
		t.Errorf("temporary key without its token: %v", err)
	}
	direct, err := stsc.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(arn), RoleSessionName: aws.String("direct")})
	if err != nil {
		t.Fatal(err)
	}
	checkModel(t, "AssumeRoleOutput", direct, "SourceIdentity")
	if _, err := stsc.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("builder"), RoleSessionName: aws.String("x1")}); apiCode(err) != "ValidationError" {
		t.Errorf("malformed role ARN: %v", err)
	}
}
