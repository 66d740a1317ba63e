package openstackimport

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/openstacktest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

// rangedTemplate migrates two Glance images of project A, picked by source_image, to project
// B in another format. Packer's file builder only gives the post-processors an artifact to
// ignore.
const rangedTemplate = `
variable "clouds_file" { type = string }
variable "vmdk_id" { type = string }
variable "vhd_id" { type = string }
variable "image_name" { type = string }
variable "target" { type = string }
source "file" "none" {
  content = "unused"
  target  = var.target
}
build {
  sources = ["source.file.none"]
  post-processor "chromogenic-openstack-import" {
    source {
      cloud       = "aio-a"
      clouds_file = var.clouds_file
    }
    source_image        = var.vmdk_id
    cloud               = "aio-b"
    clouds_file         = var.clouds_file
    image_name          = "${var.image_name}-from-vmdk"
    disk_format         = "qcow2"
    keep_input_artifact = true
  }
  post-processor "chromogenic-openstack-import" {
    source {
      cloud       = "aio-a"
      clouds_file = var.clouds_file
    }
    source_image        = var.vhd_id
    cloud               = "aio-b"
    clouds_file         = var.clouds_file
    image_name          = "${var.image_name}-from-vhd"
    disk_format         = "raw"
    keep_input_artifact = true
  }
}
`

// TestAccOpenStackMigrateRanged: VMDK (streamOptimized) and dynamic VHD images in Glance are
// converted on the way to the other project (to qcow2 and raw) by reading them in place
// through HTTP Range requests, with no temporary copy of the source: the output says so,
// the build's directory holds nothing but the file builder's output, and both new images
// hold the original disk's data (qemu-img compare).
func TestAccOpenStackMigrateRanged(t *testing.T) {
	testtier.Acceptance(t, "a packer build against the all-in-one OpenStack cloud")
	env := packertest.Setup(t)
	clouds := openstacktest.CloudsFile(t)
	a := openstacktest.Connect(t, "aio-a")
	b := openstacktest.Connect(t, "aio-b")
	dir := t.TempDir()

	// 64 MiB disk with 12 MiB of random data in 1 MiB pieces.
	disk := filepath.Join(dir, "disk.raw")
	packertest.RandomDisk(t, disk, 64, 12, 23, 0)
	name := fmt.Sprintf("acc-ranged-%d", time.Now().UnixNano())
	ids := map[string]string{}
	for _, v := range []struct{ format, qemu, opts string }{
		{"vmdk", "vmdk", "subformat=streamOptimized"},
		{"vhd", "vpc", "subformat=dynamic"},
	} {
		p := filepath.Join(dir, "src."+v.format)
		if out, err := exec.Command("qemu-img", "convert", "-f", "raw", "-O", v.qemu, "-o", v.opts, disk, p).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img: %v %s", err, out)
		}
		img := openstacktest.UploadImage(t, a, name+"-src-"+v.format, p, v.format)
		ids[v.format] = img.ID
	}
	build := filepath.Join(dir, "build")
	if err := os.Mkdir(build, 0o755); err != nil {
		t.Fatal(err)
	}
	res := env.Build(t, build, rangedTemplate, 10*time.Minute, "-var", "clouds_file="+clouds,
		"-var", "vmdk_id="+ids["vmdk"], "-var", "vhd_id="+ids["vhd"], "-var", "image_name="+name,
		"-var", "target="+filepath.Join(build, "unused.txt"))
	made := map[string]string{}
	for _, img := range openstacktest.ListImages(t, b) {
		if strings.HasPrefix(img.Name, name+"-") {
			made[img.Name] = img.DiskFormat
			id := img.ID
			t.Cleanup(func() { openstacktest.DeleteImage(t, b, id) })
			if img.Status == "active" {
				got := filepath.Join(dir, "got-"+img.ID)
				openstacktest.DownloadImage(t, b, img.ID, got)
				if o, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", img.DiskFormat, disk, got).CombinedOutput(); err != nil {
					t.Errorf("%s differs from the source disk: %v\n%s", img.Name, err, o)
				}
			}
		}
	}
	if res.Err != nil {
		t.Fatalf("packer build: %v\n%s", res.Err, res.Output)
	}
	if made[name+"-from-vmdk"] != "qcow2" || made[name+"-from-vhd"] != "raw" {
		t.Errorf("images in project B: %v", made)
	}
	for _, line := range strings.Split(res.Output, "\n") {
		if strings.Contains(line, "range requests") {
			t.Log(strings.TrimSpace(line))
		}
	}
	if n := strings.Count(res.Output, "range requests"); n != 2 || strings.Contains(res.Output, "temporary file instead") {
		t.Errorf("the sources were not both read through Range requests (%d reports):\n%s", n, res.Output)
	}
	entries, err := os.ReadDir(build)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "unused.txt" && e.Name() != "packer.log" && !strings.HasSuffix(e.Name(), ".pkr.hcl") {
			t.Errorf("left in the build directory: %s", e.Name())
		}
	}
}
