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

const multiDiskImportTemplate = `
variable "disk1" { type = string }
variable "disk2" { type = string }
variable "output_directory" { type = string }
variable "region" { type = string }
variable "ec2_endpoint" { type = string }
variable "ebs_endpoint" { type = string }
variable "access_key" { type = string }
variable "secret_key" {
  type      = string
  sensitive = true
}
variable "ami_name" { type = string }

source "chromogenic-local" "multi" {
  source_paths     = [var.disk1, var.disk2]
  output_directory = var.output_directory
  image_name       = "multi.raw"
  mount_path       = "${var.output_directory}/mnt"
}

build {
  sources = ["source.chromogenic-local.multi"]

  provisioner "shell" {
    inline = ["echo imported-disk2 > /srv/import-marker"]
  }

  post-processor "chromogenic-ec2-import" {
    access_key          = var.access_key
    secret_key          = var.secret_key
    region              = var.region
    custom_endpoint_ec2 = var.ec2_endpoint
    custom_endpoint_ebs = var.ebs_endpoint
    ami_name            = var.ami_name
    root_device_name    = "/dev/sda1"
    snapshot_tags = {
      chromogenic = "import-multi"
    }
    keep_input_artifact = true
  }
}
`

// TestAccEC2ImportSeveralDisks pushes a chromogenic-local artifact of two disks (source_paths)
// with chromogenic-ec2-import: one AMI whose root (/dev/sda1) is disk 1's working copy and
// whose /dev/sdb is disk 2's, byte for byte, both snapshots tagged; the "not pushed yet"
// note is gone.
func TestAccEC2ImportSeveralDisks(t *testing.T) {
	testtier.Acceptance(t, "a packer build against the EC2 emulator")
	env := packertest.Setup(t)
	srv := ec2emu.Start(t)
	isolateAWS(t)
	dir := t.TempDir()
	disk1 := testimages.Make(t, "two-disk", dir)
	disk2 := testimages.OtherDisks(disk1)[0]
	out := filepath.Join(dir, "out")
	name := "acc-import-multi"
	res := env.MustBuild(t, dir, multiDiskImportTemplate, 15*time.Minute,
		"-var", "disk1="+disk1, "-var", "disk2="+disk2, "-var", "output_directory="+out, "-var", "region="+srv.Region,
		"-var", "ec2_endpoint="+srv.EC2Endpoint, "-var", "ebs_endpoint="+srv.EBSEndpoint,
		"-var", "access_key="+srv.AccessKeyID, "-var", "secret_key="+srv.SecretAccessKey, "-var", "ami_name="+name)
	if strings.Contains(res.Output, "not pushed yet") {
		t.Errorf("the import still says the other disks are not pushed:\n%s", res.Output)
	}
	c := sdkec2.NewFromConfig(srv.AWSConfig(), func(o *sdkec2.Options) { o.BaseEndpoint = aws.String(srv.EC2Endpoint) })
	imgs, err := c.DescribeImages(t.Context(), &sdkec2.DescribeImagesInput{Owners: []string{"self"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{name}}}})
	if err != nil || len(imgs.Images) != 1 {
		t.Fatalf("AMI %s: %v %v\n%s", name, imgs, err, res.Output)
	}
	im := imgs.Images[0]
	if aws.ToString(im.RootDeviceName) != "/dev/sda1" || len(im.BlockDeviceMappings) != 2 {
		t.Fatalf("AMI root %s, mappings %+v", aws.ToString(im.RootDeviceName), im.BlockDeviceMappings)
	}
	work := map[string]string{"/dev/sda1": filepath.Join(out, "multi.raw"), "/dev/sdb": filepath.Join(out, "multi-disk2.raw")}
	var snaps []string
	for _, b := range im.BlockDeviceMappings {
		dev, snap := aws.ToString(b.DeviceName), aws.ToString(b.Ebs.SnapshotId)
		w := work[dev]
		if w == "" {
			t.Fatalf("unexpected mapping %s", dev)
		}
		snaps = append(snaps, snap)
		fi, err := os.Stat(w)
		if err != nil {
			t.Fatal(err)
		}
		got := filepath.Join(dir, "snap-"+filepath.Base(w))
		if err := srv.WriteSnapshotFile(snap, got, fi.Size()); err != nil {
			t.Fatal(err)
		}
		if o, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", "raw", w, got).CombinedOutput(); err != nil {
			t.Errorf("%s: snapshot %s differs from %s: %v %s", dev, snap, w, err, o)
		}
		os.Remove(got)
	}
	slices.Sort(snaps)
	if ids := srv.SnapshotIDs(); !slices.Equal(ids, snaps) {
		t.Errorf("snapshots %v, want the AMI's %v", ids, snaps)
	}
	for _, s := range snaps {
		out, err := c.DescribeSnapshots(t.Context(), &sdkec2.DescribeSnapshotsInput{SnapshotIds: []string{s}})
		if err != nil || len(out.Snapshots) != 1 || len(out.Snapshots[0].Tags) != 1 {
			t.Errorf("snapshot %s: %+v %v (want the snapshot_tags)", s, out, err)
		}
	}
}
