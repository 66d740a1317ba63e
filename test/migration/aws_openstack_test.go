package migration

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/openstacktest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// TestAccMigrateAWSToOpenStack runs example/migrate-aws-to-openstack.pkr.hcl: a running
// instance of the emulated AWS is captured (CreateImage with a reboot, the root snapshot read
// home through EBS direct with a throttled block on the way), provisioned in the chroot,
// cleaned, and pushed as qcow2 into project B of the all-in-one OpenStack. The Glance image
// holds exactly the working copy's data, which holds the provisioner's marker and the source
// instance's untouched files, and boots in Nova to a login prompt; nothing is left in AWS.
func TestAccMigrateAWSToOpenStack(t *testing.T) {
	accOnly(t)
	env := packertest.Setup(t)
	clouds := openstacktest.CloudsFile(t)
	b := openstacktest.Connect(t, "aio-b")
	srv := migEmulator(t)
	source := migSample(t)
	iid, err := srv.AddInstance(ec2emu.Instance{Name: "web", RootDisk: source, BootMode: "legacy-bios"})
	if err != nil {
		t.Fatal(err)
	}
	srv.InjectFault(ec2emu.Fault{Service: "ebs", Action: "GetSnapshotBlock", Skip: 40, Times: 1, Code: "ThrottlingException", Status: 429})
	images, snaps := srv.ImageIDs(), srv.SnapshotIDs()

	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	name := uniqueName("mig-aws-os")
	buildExample(t, env, dir, "migrate-aws-to-openstack.pkr.hcl", 20*time.Minute, map[string]string{
		"aws_region": srv.Region, "instance_id": iid, "ec2_endpoint": srv.EC2Endpoint, "ebs_endpoint": srv.EBSEndpoint,
		"os_cloud": "aio-b", "clouds_file": clouds, "image_name": name, "output_directory": out,
		"keep_working_copy": "true",
	})

	var id string
	for _, img := range openstacktest.ListImages(t, b) {
		if img.Name != name {
			continue
		}
		id = img.ID
		t.Cleanup(func() { openstacktest.DeleteImage(t, b, img.ID) })
		if img.Status != "active" || img.DiskFormat != "qcow2" || img.Properties["migrated_from"] != "aws" {
			t.Errorf("Glance image: status %s format %s properties %v", img.Status, img.DiskFormat, img.Properties)
		}
	}
	if id == "" {
		t.Fatalf("image %s not in project B", name)
	}
	// The published image boots in Nova to a login prompt, while the data is checked here.
	booted := openstacktest.GoBootToLogin(t, b, name+"-boot", id, openstacktest.BootTimeout)
	work := workingCopy(t, out)
	got := filepath.Join(dir, "glance.qcow2")
	openstacktest.DownloadImage(t, b, id, got)
	qemuCompare(t, work, "raw", got, "qcow2")

	files := packertest.GuestFiles(t, work, "/etc/chromogenic-migration")
	if want := "migrated from AWS " + iid + "\n"; string(files["/etc/chromogenic-migration"]) != want {
		t.Errorf("/etc/chromogenic-migration = %q, want %q", files["/etc/chromogenic-migration"], want)
	}
	sameGuestFiles(t, source, work, "/usr/lib/os-release", "/etc/fstab", "/boot/extlinux/extlinux.conf")

	if srv.FaultsFired() != 1 {
		t.Errorf("%d faults fired, want the throttled block", srv.FaultsFired())
	}
	if n := srv.InstanceReboots(iid); n != 1 {
		t.Errorf("instance rebooted %d times, want 1", n)
	}
	if got := srv.ImageIDs(); !slices.Equal(got, images) {
		t.Errorf("AMIs after the migration %v, before %v: the intermediate AMI must be gone", got, images)
	}
	if got := srv.SnapshotIDs(); !slices.Equal(got, snaps) {
		t.Errorf("snapshots after the migration %v, before %v", got, snaps)
	}
	booted()
}
