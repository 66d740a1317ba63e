package openstackimport

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/openstacktest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

//go:embed test-fixtures/migrate.pkr.hcl
var migrateTemplate string

// TestAccOpenStackMigrate boots a server in project A of the all-in-one cloud from a small
// disk with scattered random data, and runs the real packer: chromogenic-openstack snapshots
// it (snapshot mode, so the artifact has no local copy), and chromogenic-openstack-import
// migrates the snapshot to project B twice: unconverted (qcow2 streamed Glance to Glance,
// glance-direct import) and converted to raw (qcow2 read in place through Range requests).
// Both images in B are private, carry the source's properties plus the added one, hold the
// disk's data (qemu-img compare with the original), and the unconverted one has exactly the
// snapshot's hash.
func TestAccOpenStackMigrate(t *testing.T) {
	testtier.Acceptance(t, "a packer build against the all-in-one OpenStack cloud")
	env := packertest.Setup(t)
	clouds := openstacktest.CloudsFile(t)
	a := openstacktest.Connect(t, "aio-a")
	b := openstacktest.Connect(t, "aio-b")
	dir := t.TempDir()

	// 256 MiB disk, 32 MiB of random data in 1 MiB pieces; not bootable (the guest sits in
	// SeaBIOS and writes nothing, so the snapshot holds exactly this disk).
	disk := filepath.Join(dir, "disk.raw")
	packertest.RandomDisk(t, disk, 256, 32, 11, 1)
	qcow := filepath.Join(dir, "disk.qcow2")
	if out, err := exec.Command("qemu-img", "convert", "-O", "qcow2", disk, qcow).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v %s", err, out)
	}
	name := fmt.Sprintf("acc-migrate-%d", time.Now().UnixNano())
	src := openstacktest.UploadImage(t, a, name+"-src", qcow, "qcow2")
	srv := openstacktest.BootServer(t, a, name, src.ID)

	start := time.Now()
	res := env.Build(t, dir, migrateTemplate, 20*time.Minute,
		"-var", "clouds_file="+clouds, "-var", "instance_id="+srv.ID, "-var", "image_name="+name)
	took := time.Since(start)
	// Whatever happened, delete what the build made.
	var snap *images.Image
	for _, img := range openstacktest.ListImages(t, a) {
		if img.Name == name+"-snap" {
			im := img
			snap = &im
			t.Cleanup(func() { openstacktest.DeleteImage(t, a, im.ID) })
		}
	}
	made := map[string]images.Image{}
	for _, img := range openstacktest.ListImages(t, b) {
		if strings.HasPrefix(img.Name, name+"-") {
			made[img.Name] = img
			id := img.ID
			t.Cleanup(func() { openstacktest.DeleteImage(t, b, id) })
		}
	}
	if res.Err != nil {
		t.Fatalf("packer build: %v\n%s", res.Err, res.Output)
	}
	t.Logf("packer build (snapshot + two migrations) took %s", took.Round(time.Second))
	if snap == nil {
		t.Fatalf("no snapshot %s-snap in project A:\n%s", name, res.Output)
	}
	for _, want := range []struct{ suffix, format string }{{"qcow2", "qcow2"}, {"raw", "raw"}} {
		img, ok := made[name+"-"+want.suffix]
		if !ok {
			t.Errorf("image %s-%s not in project B:\n%s", name, want.suffix, res.Output)
			continue
		}
		if img.Status != "active" || img.Visibility != "private" || img.DiskFormat != want.format ||
			img.Properties["os_distro"] != "debian" || img.Properties["hw_disk_bus"] != "virtio" {
			t.Errorf("%s: status %s visibility %s format %s properties %v", img.Name, img.Status, img.Visibility, img.DiskFormat, img.Properties)
		}
		if want.suffix == "qcow2" {
			if img.Properties["migrated_from"] != "aio-a" {
				t.Errorf("%s: property migrated_from not set: %v", img.Name, img.Properties)
			}
			if img.Properties["os_hash_value"] != snap.Properties["os_hash_value"] || img.SizeBytes != snap.SizeBytes {
				t.Errorf("%s: hash %v size %d, the snapshot's %v %d", img.Name, img.Properties["os_hash_value"], img.SizeBytes, snap.Properties["os_hash_value"], snap.SizeBytes)
			}
		}
		got := filepath.Join(dir, "got."+want.format)
		openstacktest.DownloadImage(t, b, img.ID, got)
		if o, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", want.format, disk, got).CombinedOutput(); err != nil {
			t.Errorf("%s differs from the source disk: %v\n%s", img.Name, err, o)
		}
		os.Remove(got)
	}
	for _, line := range strings.Split(res.Output, "\n") {
		if strings.Contains(line, "range requests") || strings.Contains(line, "Migrating") {
			t.Log(strings.TrimSpace(line))
		}
	}
}
