package ec2import

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// TestAccEC2ImportEncryptedForceDeregister pushes the provisioned sample with encrypt_boot and
// kms_key_id over an AMI of the same name (force_deregister, force_delete_snapshot), in an
// account whose policy denies untagged creation: the new snapshot is encrypted with the key
// and holds the working copy's bytes, the old AMI and its snapshot are gone.
func TestAccEC2ImportEncryptedForceDeregister(t *testing.T) {
	testtier.Acceptance(t, "a packer build against the EC2 emulator")
	env := packertest.Setup(t)
	srv := ec2emu.Start(t)
	isolateAWS(t)
	name := "acc-import-enc"
	old, err := srv.AddImage(ec2emu.Image{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	srv.RequireTagsOnCreate(true)
	key := "arn:aws:kms:" + srv.Region + ":123456789012:key/7c7c7c7c-8d8d-4e9e-8f0f-101010101010"
	const at = "    ami_name            = var.ami_name\n"
	if !strings.Contains(importTemplate, at) {
		t.Fatal("import.pkr.hcl changed")
	}
	tmpl := strings.Replace(importTemplate, at, at+"    encrypt_boot = true\n    kms_key_id = \""+key+"\"\n    force_deregister = true\n    force_delete_snapshot = true\n", 1)
	dir := t.TempDir()
	src := filepath.Join(dir, "source.raw")
	packertest.CopySparse(t, testimages.Sample(t), src)
	out := filepath.Join(dir, "out")
	res := env.MustBuild(t, dir, tmpl, 15*time.Minute,
		"-var", "source_path="+src, "-var", "output_directory="+out, "-var", "region="+srv.Region,
		"-var", "ec2_endpoint="+srv.EC2Endpoint, "-var", "ebs_endpoint="+srv.EBSEndpoint,
		"-var", "access_key="+srv.AccessKeyID, "-var", "secret_key="+srv.SecretAccessKey, "-var", "ami_name="+name)
	c := sdkec2.NewFromConfig(srv.AWSConfig(), func(o *sdkec2.Options) { o.BaseEndpoint = aws.String(srv.EC2Endpoint) })
	imgs, err := c.DescribeImages(t.Context(), &sdkec2.DescribeImagesInput{Owners: []string{"self"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{name}}}})
	if err != nil || len(imgs.Images) != 1 || aws.ToString(imgs.Images[0].ImageId) == old {
		t.Fatalf("AMI %s: %v %v\n%s", name, imgs, err, res.Output)
	}
	im := imgs.Images[0]
	snap := aws.ToString(im.BlockDeviceMappings[0].Ebs.SnapshotId)
	if !aws.ToBool(im.BlockDeviceMappings[0].Ebs.Encrypted) {
		t.Errorf("AMI root not encrypted: %+v", im.BlockDeviceMappings[0].Ebs)
	}
	if info, _ := srv.Snapshot(snap); !info.Encrypted || info.KmsKeyID != key {
		t.Errorf("snapshot %+v, want encrypted with %s", info, key)
	}
	if ids := srv.ImageIDs(); !slices.Equal(ids, []string{aws.ToString(im.ImageId)}) {
		t.Errorf("images %v: the old %s must be gone", ids, old)
	}
	if ids := srv.SnapshotIDs(); !slices.Equal(ids, []string{snap}) {
		t.Errorf("snapshots %v: the old AMI's must be gone (force_delete_snapshot)", ids)
	}
	checkSnapshotIsWorkingCopy(t, srv, snap, out, dir)
}

// isolateAWS keeps the developer's own AWS settings out of a test's packer runs.
func isolateAWS(t *testing.T) {
	t.Helper()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
}

// checkSnapshotIsWorkingCopy compares the snapshot with the one working copy in out
// (qemu-img compare) and returns the snapshot's bytes as a file in dir.
func checkSnapshotIsWorkingCopy(t *testing.T, srv *ec2emu.Server, snap, out, dir string) string {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(out, "*.raw"))
	if len(matches) != 1 {
		t.Fatalf("working copy in %s: %v", out, matches)
	}
	fi, err := os.Stat(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	got := filepath.Join(dir, "snapshot.raw")
	if err := srv.WriteSnapshotFile(snap, got, fi.Size()); err != nil {
		t.Fatal(err)
	}
	if o, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", "raw", matches[0], got).CombinedOutput(); err != nil {
		t.Fatalf("snapshot differs from the working copy: %v %s", err, o)
	}
	return got
}
