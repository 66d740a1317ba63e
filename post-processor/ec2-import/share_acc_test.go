package ec2import

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
)

//go:embed test-fixtures/import-share.pkr.hcl
var importShareTemplate string

// TestAccEC2ImportShare: one packer build, two chromogenic-ec2-import post-processors. Into
// the AWS dialect: the AMI is shared with an account (ami_users), its snapshot made public
// (snapshot_groups), and copied to eu-west-1 and us-west-2, each copy available in its
// region, tagged and shared alike. Into the Eucalyptus dialect: the EMI's launch
// permission for another account is what Debian's awscli reads with describe-image-attribute.
func TestAccEC2ImportShare(t *testing.T) {
	eucaAccOnly(t)
	if _, err := os.Stat("/usr/bin/aws"); err != nil {
		t.Fatalf("/usr/bin/aws missing: install Debian's awscli package (scripts/install-deps.sh)")
	}
	env := packertest.Setup(t)
	m := newMigration(t) // both dialects; the credentials are in the environment
	srv := m.aws
	dir := t.TempDir()
	src := filepath.Join(dir, "source.raw")
	packertest.CopySparse(t, testimages.Sample(t), src)
	name := fmt.Sprintf("acc-import-share-%d", time.Now().UnixNano())
	kv := []string{"source_path", src, "output_directory", filepath.Join(dir, "out"), "region", srv.Region,
		"ec2_endpoint", srv.EC2Endpoint, "ebs_endpoint", srv.EBSEndpoint, "euca_ec2_endpoint", m.euca.EC2Endpoint,
		"euca_s3_endpoint", m.euca.S3Endpoint, "keys_dir", m.keys, "ami_name", name}
	var args []string
	for i := 0; i < len(kv); i += 2 {
		args = append(args, "-var", kv[i]+"="+kv[i+1])
	}
	res := env.MustBuild(t, dir, importShareTemplate, 20*time.Minute, args...)

	var ids []string
	for _, region := range []string{"eu-west-1", srv.Region, "us-west-2"} {
		cfg := srv.AWSConfig()
		cfg.Region = region
		c := sdkec2.NewFromConfig(cfg, func(o *sdkec2.Options) { o.BaseEndpoint = aws.String(srv.EC2Endpoint) })
		out, err := c.DescribeImages(t.Context(), &sdkec2.DescribeImagesInput{Owners: []string{"self"},
			Filters: []types.Filter{{Name: aws.String("name"), Values: []string{name}}}})
		if err != nil || len(out.Images) != 1 {
			t.Fatalf("%s: AMI %s: %v %+v\n%s", region, name, err, out, res.Output)
		}
		im := out.Images[0]
		ids = append(ids, region+": "+aws.ToString(im.ImageId))
		if im.State != types.ImageStateAvailable || len(im.Tags) != 1 || aws.ToString(im.Tags[0].Value) != "share-acc" {
			t.Errorf("%s: AMI %+v", region, im)
		}
		lp, err := c.DescribeImageAttribute(t.Context(), &sdkec2.DescribeImageAttributeInput{ImageId: im.ImageId, Attribute: types.ImageAttributeNameLaunchPermission})
		if err != nil {
			t.Fatal(err)
		}
		if len(lp.LaunchPermissions) != 1 || aws.ToString(lp.LaunchPermissions[0].UserId) != "210987654321" {
			t.Errorf("%s: launch permissions %+v", region, lp.LaunchPermissions)
		}
		sa, err := c.DescribeSnapshotAttribute(t.Context(), &sdkec2.DescribeSnapshotAttributeInput{SnapshotId: im.BlockDeviceMappings[0].Ebs.SnapshotId,
			Attribute: types.SnapshotAttributeNameCreateVolumePermission})
		if err != nil {
			t.Fatal(err)
		}
		if len(sa.CreateVolumePermissions) != 1 || sa.CreateVolumePermissions[0].Group != types.PermissionGroupAll {
			t.Errorf("%s: createVolumePermission %+v", region, sa.CreateVolumePermissions)
		}
	}
	// The artifact lists every region (packer prints it).
	for _, id := range ids {
		if !strings.Contains(res.Output, id) {
			t.Errorf("the artifact does not list %s:\n%s", id, res.Output)
		}
	}

	// Eucalyptus: awscli reads the EMI's launch permission.
	emis := m.euca.ImageIDs()
	if len(emis) != 1 {
		t.Fatalf("EMIs %v", emis)
	}
	cmd := exec.Command("/usr/bin/aws", "ec2", "describe-image-attribute", "--endpoint-url", m.euca.EC2Endpoint,
		"--image-id", emis[0], "--attribute", "launchPermission", "--output", "json")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "LANG=C.UTF-8", "AWS_ACCESS_KEY_ID=" + m.euca.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + m.euca.SecretAccessKey, "AWS_DEFAULT_REGION=eucalyptus", "AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_MAX_ATTEMPTS=1", "AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER="}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws ec2 describe-image-attribute: %v\n%s", err, out)
	}
	var attr struct {
		ImageID           string `json:"ImageId"`
		LaunchPermissions []struct {
			UserID string `json:"UserId"`
			Group  string `json:"Group"`
		} `json:"LaunchPermissions"`
	}
	if err := json.Unmarshal(out, &attr); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if attr.ImageID != emis[0] || len(attr.LaunchPermissions) != 1 || attr.LaunchPermissions[0].UserID != "000000000042" {
		t.Errorf("EMI launch permissions %s", out)
	}
}
