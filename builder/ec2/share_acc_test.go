package ec2

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

//go:embed test-fixtures/share.pkr.hcl
var shareTemplate string

// regionClient is an EC2 client of the emulator for one region (the region is the
// signature's scope).
func regionClient(srv *ec2emu.Server, region string) *sdkec2.Client {
	cfg := srv.AWSConfig()
	cfg.Region = region
	return sdkec2.NewFromConfig(cfg, func(o *sdkec2.Options) { o.BaseEndpoint = aws.String(srv.EC2Endpoint) })
}

func shareArgs(srv *ec2emu.Server, dir, ami, name string) []string {
	return []string{"-var", "region=" + srv.Region, "-var", "ec2_endpoint=" + srv.EC2Endpoint, "-var", "ebs_endpoint=" + srv.EBSEndpoint,
		"-var", "sts_endpoint=" + srv.STSEndpoint, "-var", "source_ami=" + ami, "-var", "ami_name=" + name,
		"-var", "output_directory=" + filepath.Join(dir, "out"), "-var", "marker=shared"}
}

// TestAccEC2ShareAndCopy: a packer build through an assumed role (assume_role: every EC2
// and EBS call after STS AssumeRole is signed with the role's temporary key) registers an
// AMI shared with an account and the public (ami_users, ami_groups), its snapshot shared
// with another account (snapshot_users), and copies it to eu-west-1 and ap-south-2
// (ami_regions): each copy is available in its region, tagged and shared as the AMI is, and
// the artifact's ID (the manifest) lists the three regions.
func TestAccEC2ShareAndCopy(t *testing.T) {
	testtier.Acceptance(t, "a packer build against the EC2 emulator")
	env := packertest.Setup(t)
	srv := emulator(t, ec2emu.Options{ImageDelay: 500 * time.Millisecond})
	src, err := srv.AddImage(ec2emu.Image{Name: "share-source", RootDisk: sampleCopy(t), BootMode: "uefi"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	name := fmt.Sprintf("acc-share-%d", time.Now().UnixNano())
	res := env.MustBuild(t, dir, shareTemplate, 15*time.Minute, shareArgs(srv, dir, src, name)...)

	roles := srv.AssumedRoles()
	if len(roles) != 1 || roles[0].RoleARN != "arn:aws:iam::210987654321:role/image-publisher" || roles[0].SessionName != "chromogenic-acc" || roles[0].ExternalID != "acc-external-id" {
		t.Fatalf("assumed roles %+v", roles)
	}
	for _, c := range srv.Calls() {
		if (c.Service == "ec2" || c.Service == "ebs") && c.AccessKey != roles[0].AccessKeyID {
			t.Errorf("%s %s signed with %q, not the role's key", c.Service, c.Action, c.AccessKey)
		}
	}

	amis := map[string]string{}
	for _, region := range []string{srv.Region, "eu-west-1", "ap-south-2"} {
		c := regionClient(srv, region)
		out, err := c.DescribeImages(t.Context(), &sdkec2.DescribeImagesInput{Owners: []string{"self"},
			Filters: []types.Filter{{Name: aws.String("name"), Values: []string{name}}}})
		if err != nil || len(out.Images) != 1 {
			t.Fatalf("%s: AMI %s: %v %+v\n%s", region, name, err, out, res.Output)
		}
		im := out.Images[0]
		amis[region] = aws.ToString(im.ImageId)
		tags := map[string]string{}
		for _, tg := range im.Tags {
			tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
		}
		if im.State != types.ImageStateAvailable || tags["Name"] != name || tags["chromogenic"] != "acc" {
			t.Errorf("%s: AMI %+v", region, im)
		}
		lp, err := c.DescribeImageAttribute(t.Context(), &sdkec2.DescribeImageAttributeInput{ImageId: im.ImageId, Attribute: types.ImageAttributeNameLaunchPermission})
		if err != nil {
			t.Fatal(err)
		}
		var who []string
		for _, p := range lp.LaunchPermissions {
			who = append(who, aws.ToString(p.UserId)+string(p.Group))
		}
		if strings.Join(who, ",") != "all,210987654321" {
			t.Errorf("%s: launch permissions %v", region, who)
		}
		snap := im.BlockDeviceMappings[0].Ebs.SnapshotId
		sa, err := c.DescribeSnapshotAttribute(t.Context(), &sdkec2.DescribeSnapshotAttributeInput{SnapshotId: snap, Attribute: types.SnapshotAttributeNameCreateVolumePermission})
		if err != nil {
			t.Fatal(err)
		}
		if len(sa.CreateVolumePermissions) != 1 || aws.ToString(sa.CreateVolumePermissions[0].UserId) != "333344445555" {
			t.Errorf("%s: createVolumePermission %+v", region, sa.CreateVolumePermissions)
		}
	}
	// The build's record names the AMI and its copies, each with its snapshot.
	recs, _ := filepath.Glob(filepath.Join(dir, "out", "*"+provenance.Suffix))
	if len(recs) != 1 {
		t.Fatalf("records in the output directory: %v", recs)
	}
	rec, err := provenance.Read(recs[0])
	if err != nil {
		t.Fatal(err)
	}
	for region, id := range amis {
		snap := snapshotOf(t, regionClient(srv, region), id)
		var image, snapshot bool
		for _, o := range rec.Outputs {
			image = image || (o.Cloud == "aws" && o.Region == region && o.Kind == "image" && o.ID == id)
			snapshot = snapshot || (o.Region == region && o.Kind == "snapshot" && o.ID == snap && o.Disk == 0)
		}
		if !image || !snapshot {
			t.Errorf("the record does not name %s's AMI %s (%v) and snapshot %s (%v): %+v", region, id, image, snap, snapshot, rec.Outputs)
		}
	}
	// The copies hold the new AMI's bytes (the marker the provisioner wrote).
	newSnap := snapshotOf(t, regionClient(srv, "ap-south-2"), amis["ap-south-2"])
	got := filepath.Join(dir, "copy.raw")
	if err := srv.WriteSnapshotFile(newSnap, got, 0); err != nil {
		t.Fatal(err)
	}
	if f := packertest.GuestFiles(t, got, "/root/ec2-acc-marker"); !strings.Contains(string(f["/root/ec2-acc-marker"]), "shared") {
		t.Errorf("the ap-south-2 copy lacks the provisioner's marker")
	}
	var manifest struct {
		Builds []struct {
			ArtifactID string `json:"artifact_id"`
		} `json:"builds"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "out", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &manifest); err != nil || len(manifest.Builds) != 1 {
		t.Fatalf("manifest %s: %v", b, err)
	}
	var want []string
	for r, id := range amis {
		want = append(want, r+":"+id)
	}
	sort.Strings(want)
	if manifest.Builds[0].ArtifactID != strings.Join(want, ",") {
		t.Errorf("artifact id %q, want %q", manifest.Builds[0].ArtifactID, strings.Join(want, ","))
	}
}

func snapshotOf(t *testing.T, c *sdkec2.Client, ami string) string {
	t.Helper()
	out, err := c.DescribeImages(t.Context(), &sdkec2.DescribeImagesInput{ImageIds: []string{ami}})
	if err != nil || len(out.Images) != 1 {
		t.Fatalf("DescribeImages %s: %v", ami, err)
	}
	return aws.ToString(out.Images[0].BlockDeviceMappings[0].Ebs.SnapshotId)
}

// TestAccEC2CopyFailureCleansUp: the second region copy fails (CopyImage refused): the build
// fails and leaves no AMI and no snapshot, neither the new AMI in the build region nor the
// copy already made in eu-west-1; the source image and its snapshot stay.
func TestAccEC2CopyFailureCleansUp(t *testing.T) {
	testtier.Acceptance(t, "a packer build against the EC2 emulator")
	env := packertest.Setup(t)
	srv := emulator(t)
	src, err := srv.AddImage(ec2emu.Image{Name: "copy-fail-source", RootDisk: sampleCopy(t)})
	if err != nil {
		t.Fatal(err)
	}
	images, snaps := srv.ImageIDs(), srv.SnapshotIDs()
	srv.InjectFault(ec2emu.Fault{Service: "ec2", Action: "CopyImage", Skip: 1, Times: 1, Code: "InvalidRequest", Status: 400, Message: "injected copy failure"})
	dir := t.TempDir()
	res := env.Build(t, dir, shareTemplate, 15*time.Minute, shareArgs(srv, dir, src, "acc-copy-fail")...)
	if res.Err == nil {
		t.Fatalf("the build succeeded:\n%s", res.Output)
	}
	if !strings.Contains(res.Output, "injected copy failure") || !strings.Contains(res.Output, "ap-south-2") {
		t.Errorf("the failure is not reported:\n%s", res.Output)
	}
	if got := srv.ImageIDs(); !slices.Equal(got, images) {
		t.Errorf("images left %v, want %v\n%s", got, images, res.Output)
	}
	if got := srv.SnapshotIDs(); !slices.Equal(got, snaps) {
		t.Errorf("snapshots left %v, want %v\n%s", got, snaps, res.Output)
	}
}
