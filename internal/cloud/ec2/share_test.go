package ec2

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// TestCopyImagesShared: through an assumed role (every EC2 call signed with the temporary
// key STS handed out), an AMI is shared and copied to two regions; each copy is available in
// its region only, tagged, and shared with its snapshot. A failed third copy deletes the
// copies made before it (images and snapshots), and the source stays.
func TestCopyImagesShared(t *testing.T) {
	srv := ec2emu.Start(t, ec2emu.Options{ImageDelay: 200 * time.Millisecond})
	isolate(t)
	ctx := t.Context()
	disk, _ := testImage(t, 4<<20, map[int64]int{0: 4096, 2 << 20: 8192})
	ami, err := srv.AddImage(ec2emu.Image{Name: "to-share", RootDisk: disk})
	if err != nil {
		t.Fatal(err)
	}
	role := "arn:aws:iam::210987654321:role/publisher"
	cl, err := Connect(ctx, Access{AccessKey: srv.AccessKeyID, SecretKey: srv.SecretAccessKey, Region: srv.Region,
		EC2Endpoint: srv.EC2Endpoint, EBSEndpoint: srv.EBSEndpoint, STSEndpoint: srv.STSEndpoint,
		AssumeRole: &AssumeRole{RoleARN: role, SessionName: "copy-test", ExternalID: "ext", Tags: map[string]string{"team": "images"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateRegions(ctx, cl.EC2, "us-east-1", "eu-west-1"); err != nil {
		t.Fatal(err)
	}
	if err := ValidateRegions(ctx, cl.EC2, "eu-west-1", "mars-north-1"); err == nil || !strings.Contains(err.Error(), `"mars-north-1"`) {
		t.Errorf("unknown region: %v", err)
	}
	share := Share{Users: []string{"210987654321"}, Groups: []string{"all"}, SnapshotUsers: []string{"333344445555"}}
	src, err := GetImage(ctx, cl.EC2, ami)
	if err != nil {
		t.Fatal(err)
	}
	if err := ShareImage(ctx, cl.EC2, ami, Snapshots(src), share); err != nil {
		t.Fatal(err)
	}
	opts := func(string) CopyOptions {
		return CopyOptions{Name: "to-share", Tags: map[string]string{"Name": "to-share"}, SnapshotTags: map[string]string{"snap": "yes"},
			Share: share, Timeout: time.Minute}
	}
	copies, err := CopyImages(ctx, cl, ami, []string{"eu-west-1", "ap-south-2"}, opts, Report{})
	if err != nil {
		t.Fatal(err)
	}
	for _, region := range []string{srv.Region, "eu-west-1", "ap-south-2"} {
		id, snap := ami, Snapshots(src)[0]
		if region != srv.Region {
			id, snap = copies[region].ImageID, copies[region].SnapshotID
			if srv.ImageRegion(id) != region || srv.ImageRegion(snap) != region {
				t.Errorf("%s: copy %s/%s in %s/%s", region, id, snap, srv.ImageRegion(id), srv.ImageRegion(snap))
			}
			im, err := GetImage(ctx, cl.EC2In(region), id)
			if err != nil {
				t.Fatal(err)
			}
			if im.State != types.ImageStateAvailable || len(im.Tags) != 1 || aws.ToString(im.SourceImageId) != ami {
				t.Errorf("%s: copy %+v", region, im)
			}
			if _, err := GetImage(ctx, cl.EC2, id); err == nil {
				t.Errorf("%s: the copy %s is visible in %s", region, id, srv.Region)
			}
		}
		c := cl.EC2In(region)
		la, err := c.DescribeImageAttribute(ctx, &sdkec2.DescribeImageAttributeInput{ImageId: aws.String(id), Attribute: types.ImageAttributeNameLaunchPermission})
		if err != nil {
			t.Fatal(err)
		}
		var who []string
		for _, lp := range la.LaunchPermissions {
			who = append(who, aws.ToString(lp.UserId)+string(lp.Group))
		}
		if strings.Join(who, ",") != "all,210987654321" {
			t.Errorf("%s: launch permissions %v", region, who)
		}
		sa, err := c.DescribeSnapshotAttribute(ctx, &sdkec2.DescribeSnapshotAttributeInput{SnapshotId: aws.String(snap), Attribute: types.SnapshotAttributeNameCreateVolumePermission})
		if err != nil {
			t.Fatal(err)
		}
		if len(sa.CreateVolumePermissions) != 1 || aws.ToString(sa.CreateVolumePermissions[0].UserId) != "333344445555" {
			t.Errorf("%s: createVolumePermission %+v", region, sa.CreateVolumePermissions)
		}
	}
	roles := srv.AssumedRoles()
	if len(roles) != 1 || roles[0].RoleARN != role || roles[0].ExternalID != "ext" || roles[0].Tags["team"] != "images" {
		t.Fatalf("assumed roles %+v", roles)
	}
	for _, c := range srv.Calls() {
		if c.Service == "ec2" && c.AccessKey != roles[0].AccessKeyID {
			t.Errorf("%s in %s signed with %s, not the role's key", c.Action, c.Region, c.AccessKey)
		}
	}

	// A failure on the third copy: the two before it are deleted.
	before := srv.ImageIDs()
	beforeSnaps := srv.SnapshotIDs()
	srv.InjectFault(ec2emu.Fault{Service: "ec2", Action: "CopyImage", Skip: 2, Times: 1, Code: "InvalidRequest", Status: 400})
	o2 := func(string) CopyOptions { return CopyOptions{Name: "second-round", Timeout: time.Minute} }
	if _, err := CopyImages(ctx, cl, ami, []string{"eu-west-1", "eu-west-2", "eu-west-3"}, o2, Report{}); err == nil || !strings.Contains(err.Error(), "eu-west-3") {
		t.Fatalf("third copy: %v", err)
	}
	if after := srv.ImageIDs(); !slices.Equal(after, before) {
		t.Errorf("images after the failed copies %v, want %v", after, before)
	}
	if after := srv.SnapshotIDs(); !slices.Equal(after, beforeSnaps) {
		t.Errorf("snapshots after the failed copies %v, want %v", after, beforeSnaps)
	}
}
