package ec2import

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2/bundle"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

//go:embed test-fixtures/aws-to-euca.pkr.hcl
var awsToEucaTemplate string

type migration struct {
	aws, euca *ec2emu.Server
	ami, keys string
}

// newMigration starts an AWS-dialect emulator holding the sample image as an AMI and a
// Eucalyptus-dialect one with the user's certificate registered; both accept the same
// static credentials, which packer gets from the environment.
func newMigration(t *testing.T) *migration {
	t.Helper()
	m := &migration{aws: ec2emu.Start(t), euca: ec2emu.Start(t, ec2emu.Options{Dialect: ec2emu.Eucalyptus})}
	t.Setenv("AWS_ACCESS_KEY_ID", m.aws.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", m.aws.SecretAccessKey)
	for _, k := range []string{"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	root := filepath.Join(t.TempDir(), "root.raw")
	packertest.CopySparse(t, testimages.Sample(t), root)
	var err error
	if m.ami, err = m.aws.AddImage(ec2emu.Image{Name: "debian-12-sample", RootDisk: root}); err != nil {
		t.Fatal(err)
	}
	user, err := bundle.NewIdentity("packer-user")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.euca.RegisterUserCertificate(user.CertPEM); err != nil {
		t.Fatal(err)
	}
	m.keys = t.TempDir()
	for name, data := range map[string][]byte{"euca-pk.pem": user.KeyPEM, "euca-cert.pem": user.CertPEM, "cloud-cert.pem": m.euca.CloudCertPEM()} {
		if err := os.WriteFile(filepath.Join(m.keys, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func (m *migration) args(dir, name, marker string) []string {
	kv := []string{"aws_region", m.aws.Region, "aws_ec2_endpoint", m.aws.EC2Endpoint, "aws_ebs_endpoint", m.aws.EBSEndpoint,
		"source_ami", m.ami, "output_directory", filepath.Join(dir, "out"), "euca_ec2_endpoint", m.euca.EC2Endpoint,
		"euca_s3_endpoint", m.euca.S3Endpoint, "keys_dir", m.keys, "ami_name", name, "marker", marker}
	var args []string
	for i := 0; i < len(kv); i += 2 {
		args = append(args, "-var", kv[i]+"="+kv[i+1])
	}
	return args
}

// TestAccAWSToEucalyptus: AWS → Eucalyptus. chromogenic-ec2 reads an AMI out of the AWS
// dialect (EBS direct) and provisions it; chromogenic-ec2-import bundles the working copy,
// uploads the bundle to the Eucalyptus dialect's object storage and registers an
// instance-store EMI. The cloud unbundles it with its own key: the disk is the working copy,
// byte for byte, marker included. The AWS side is left as it was.
func TestAccAWSToEucalyptus(t *testing.T) {
	eucaAccOnly(t)
	env := packertest.Setup(t)
	m := newMigration(t)
	awsImages, awsSnaps := m.aws.ImageIDs(), m.aws.SnapshotIDs()
	dir := t.TempDir()
	name := fmt.Sprintf("from-aws-%d", time.Now().UnixNano())
	marker := fmt.Sprintf("marker-%d", time.Now().UnixNano())
	res := env.MustBuild(t, dir, awsToEucaTemplate, 20*time.Minute, m.args(dir, name, marker)...)
	c := sdkec2.NewFromConfig(m.euca.AWSConfig(), func(o *sdkec2.Options) { o.BaseEndpoint = aws.String(m.euca.EC2Endpoint) })
	out, err := c.DescribeImages(t.Context(), &sdkec2.DescribeImagesInput{Owners: []string{"self"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{name}}}})
	if err != nil || len(out.Images) != 1 {
		t.Fatalf("EMI %s: %v %v\n%s", name, out, err, res.Output)
	}
	im := out.Images[0]
	if im.RootDeviceType != types.DeviceTypeInstanceStore || im.State != types.ImageStateAvailable ||
		!strings.HasPrefix(aws.ToString(im.ImageLocation), "migrated/") || len(im.Tags) != 1 || aws.ToString(im.Tags[0].Value) != "aws" {
		t.Errorf("EMI %+v", im)
	}
	disk, ok := m.euca.ImageDiskPath(aws.ToString(im.ImageId))
	if !ok {
		t.Fatal("no unbundled disk")
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "out", "*.raw"))
	if len(matches) != 1 {
		t.Fatalf("working copy: %v", matches)
	}
	if packertest.FileSHA256(t, disk) != packertest.FileSHA256(t, matches[0]) {
		t.Error("the EMI's disk differs from the working copy")
	}
	if got := packertest.GuestFiles(t, disk, "/etc/chromogenic-migrated"); string(got["/etc/chromogenic-migrated"]) != marker+"\n" {
		t.Errorf("marker %q", got["/etc/chromogenic-migrated"])
	}
	if !slices.Equal(m.aws.ImageIDs(), awsImages) || !slices.Equal(m.aws.SnapshotIDs(), awsSnaps) {
		t.Errorf("the AWS side changed: %v %v", m.aws.ImageIDs(), m.aws.SnapshotIDs())
	}
}

// A failed registration on Eucalyptus leaves no image and no bundle object behind.
func TestAccEucalyptusFailedRegistrationLeavesNothing(t *testing.T) {
	eucaAccOnly(t)
	env := packertest.Setup(t)
	m := newMigration(t)
	m.euca.InjectFault(ec2emu.Fault{Service: "ec2", Action: "RegisterImage", Times: -1, Status: 400, Code: "InvalidManifest",
		Message: "Failed to verify the manifest signature"})
	dir := t.TempDir()
	res := env.Build(t, dir, awsToEucaTemplate, 20*time.Minute, m.args(dir, "never-registered", "x")...)
	if res.Err == nil {
		t.Fatalf("the build succeeded:\n%s", res.Output)
	}
	if !strings.Contains(res.Output, "Failed to verify the manifest signature") {
		t.Errorf("the error does not say why:\n%s", res.Output)
	}
	if !strings.Contains(res.Output, "Bundling") {
		t.Errorf("the bundle was never made:\n%s", res.Output)
	}
	if ids := m.euca.ImageIDs(); len(ids) != 0 {
		t.Errorf("images: %v", ids)
	}
	if keys := m.euca.ObjectKeys("migrated"); len(keys) != 0 {
		t.Errorf("bundle objects left: %v", keys)
	}
}

// eucaAccOnly skips acceptance tests (they run the real packer) unless PACKER_ACC=1.
func eucaAccOnly(t *testing.T) {
	t.Helper()
	testtier.Acceptance(t, "a packer build against the EC2 emulator")
}
