package ec2

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

const liveTemplate = `
variable "source_ami" { type = string }
variable "ami_name" { type = string }
variable "output_directory" { type = string }

source "chromogenic-ec2" "live" {
  source_ami       = var.source_ami
  ami_name         = var.ami_name
  tags             = { chromogenic = "live-acc" }
  output_directory = var.output_directory
  mount_path       = "${var.output_directory}/mnt"
}

build {
  sources = ["source.chromogenic-ec2.live"]
  provisioner "shell" {
    inline = ["echo live > /root/chromogenic-live-marker"]
  }
}
`

// TestAccEC2LiveSourceAMI runs the builder against real AWS: the AMI in
// CHROMOGENIC_EC2_SOURCE_AMI (an EBS-backed Linux image of the region in AWS_REGION) is read
// through EBS direct, provisioned and registered again; the new AMI and its snapshot are
// deleted afterwards. It runs only with PACKER_ACC=1 and AWS credentials in the environment.
func TestAccEC2LiveSourceAMI(t *testing.T) {
	testtier.Acceptance(t, "a packer build against real AWS")
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
		t.Skip("no AWS credentials (AWS_ACCESS_KEY_ID or AWS_PROFILE): skipping the live AWS test")
	}
	ami := os.Getenv("CHROMOGENIC_EC2_SOURCE_AMI")
	if ami == "" {
		t.Skip("CHROMOGENIC_EC2_SOURCE_AMI names no source AMI: skipping the live AWS test")
	}
	env := packertest.Setup(t)
	dir := t.TempDir()
	name := fmt.Sprintf("chromogenic-live-acc-%d", time.Now().Unix())
	res := env.Build(t, dir, liveTemplate, 60*time.Minute, "-var", "source_ami="+ami, "-var", "ami_name="+name,
		"-var", "output_directory="+filepath.Join(dir, "out"))
	m := regexp.MustCompile(`AMI (ami-[0-9a-f]+) \(` + regexp.QuoteMeta(name) + `\) is available`).FindStringSubmatch(res.Output)
	if m != nil {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cl, err := cloud.Connect(ctx, cloud.Access{})
			if err == nil {
				err = cloud.DeleteImage(ctx, cl.EC2, m[1])
			}
			if err != nil {
				t.Errorf("delete %s: %v", m[1], err)
			}
		})
	}
	if res.Err != nil {
		t.Fatalf("packer build: %v\n%s", res.Err, res.Output)
	}
	if m == nil {
		t.Fatalf("no AMI reported:\n%s", res.Output)
	}
}
