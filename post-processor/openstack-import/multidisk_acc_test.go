package openstackimport

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/openstacktest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

const severalDisksTemplate = `
variable "disk1" { type = string }
variable "disk2" { type = string }
variable "output_directory" { type = string }
variable "clouds_file" { type = string }
variable "image_name" { type = string }
variable "marker" { type = string }

source "chromogenic-local" "multi" {
  source_paths     = [var.disk1, var.disk2]
  output_directory = var.output_directory
  mount_path       = "${var.output_directory}/mnt"
}

build {
  sources = ["source.chromogenic-local.multi"]
  provisioner "shell" {
    inline = ["echo '${var.marker}' > /srv/marker"]
  }
  post-processor "chromogenic-openstack-import" {
    cloud               = "aio-b"
    clouds_file         = var.clouds_file
    image_name          = var.image_name
    keep_input_artifact = true
  }
}
`

// TestAccOpenStackImportSeveralDisks provisions the two-disk guest locally (the marker goes
// to disk 2 through the guest's /srv) and pushes it to project B: the boot disk becomes the
// image, disk 2 a Cinder volume <image_name>-disk2 (1 GiB, available) whose bytes, read from
// its RBD image, are the working copy's (qemu-img compare: the rest of the GiB is zeros);
// the temporary image the volume was made from is gone.
func TestAccOpenStackImportSeveralDisks(t *testing.T) {
	testtier.Acceptance(t, "a packer build against the all-in-one OpenStack cloud with Cinder")
	env := packertest.Setup(t)
	clouds := openstacktest.CloudsFile(t)
	b := openstacktest.Connect(t, "aio-b")
	dir := t.TempDir()
	disk1 := testimages.Make(t, "two-disk", dir)
	disk2 := testimages.OtherDisks(disk1)[0]
	out := filepath.Join(dir, "out")
	name := fmt.Sprintf("acc-import-multi-%d", time.Now().UnixNano())
	before := map[string]bool{}
	for _, img := range openstacktest.ListImages(t, b) {
		before[img.ID] = true
	}
	start := time.Now()
	res := env.MustBuild(t, dir, severalDisksTemplate, 20*time.Minute, "-var", "disk1="+disk1, "-var", "disk2="+disk2,
		"-var", "output_directory="+out, "-var", "clouds_file="+clouds, "-var", "image_name="+name,
		"-var", "marker=m-"+name)
	t.Logf("packer build and import of two disks: %s", time.Since(start).Round(time.Second))
	bs, err := cloud.BlockStorage(b)
	if err != nil {
		t.Fatal(err)
	}
	var vols, volIDs []string
	for _, v := range openstacktest.ListVolumes(t, b) {
		if strings.HasPrefix(v.Name, name) {
			id := v.ID
			vols, volIDs = append(vols, v.Name), append(volIDs, v.ID)
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				if err := cloud.DeleteVolume(ctx, bs, id); err != nil {
					t.Error(err)
				}
			})
			if v.Name != name+"-disk2" || v.Size != 1 || v.Status != "available" {
				t.Errorf("volume %s: size %d status %s", v.Name, v.Size, v.Status)
			}
			got := filepath.Join(dir, "volume.raw")
			if o, err := exec.Command("rbd", "-c", openstacktest.CephConf(), "export", "volumes/volume-"+id, got).CombinedOutput(); err != nil {
				t.Fatalf("rbd export: %v\n%s", err, o)
			}
			if o, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", "raw", filepath.Join(out, "multi-disk2.raw"), got).CombinedOutput(); err != nil {
				t.Errorf("volume differs from disk 2's working copy: %v\n%s", err, o)
			}
		}
	}
	var made []string
	for _, img := range openstacktest.ListImages(t, b) {
		if before[img.ID] {
			continue
		}
		made = append(made, img.Name)
		// the import's record names the image and the volume (disk 1, counting from 0)
		rec, err := provenance.Read(provenance.SidecarPath(filepath.Join(out, "openstack-image-"+img.ID)))
		if err != nil {
			t.Error(err)
		} else if len(rec.Outputs) != 2 || rec.Outputs[0].ID != img.ID || rec.Outputs[1].Kind != "volume" ||
			len(volIDs) != 1 || rec.Outputs[1].ID != volIDs[0] || rec.Outputs[1].Disk != 1 {
			t.Errorf("import record outputs %+v (volumes %v)", rec.Outputs, volIDs)
		}
		t.Cleanup(func() { openstacktest.DeleteImage(t, b, img.ID) })
		if img.Name != name || img.Status != images.ImageStatusActive {
			t.Errorf("image %s (%s) %s: want only %s, active", img.Name, img.ID, img.Status, name)
		}
	}
	if len(vols) != 1 || len(made) != 1 {
		t.Errorf("volumes %v and images %v in project B, want one of each:\n%s", vols, made, res.Output)
	}
	res.WantOutput(t, "The guest has 2 disks: the boot disk becomes the image, the other 1 Cinder volumes")
}
