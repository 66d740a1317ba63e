package migration

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/openstacktest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
)

// TestAccMigrateOpenStackToAWS runs example/migrate-openstack-to-aws.pkr.hcl: the sample
// image, uploaded to project A of the all-in-one OpenStack as qcow2, is brought home from
// Glance (image mode, no server booted, nothing uploaded back), provisioned and cleaned, and
// pushed into the emulated AWS through EBS direct and RegisterImage. The new AMI's snapshot,
// read back block by block with GetSnapshotBlock, holds exactly the working copy's data,
// which holds the provisioner's marker and the source's untouched files.
func TestAccMigrateOpenStackToAWS(t *testing.T) {
	accOnly(t)
	env := packertest.Setup(t)
	clouds := openstacktest.CloudsFile(t)
	a := openstacktest.Connect(t, "aio-a")
	dir := t.TempDir()
	qcow := filepath.Join(dir, "sample.qcow2")
	if o, err := exec.Command("qemu-img", "convert", "-O", "qcow2", testimages.Sample(t), qcow).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v %s", err, o)
	}
	src := openstacktest.UploadImage(t, a, uniqueName("mig-os-src"), qcow, "qcow2")
	os.Remove(qcow)
	srv := migEmulator(t)

	out := filepath.Join(dir, "out")
	name := uniqueName("mig-os-aws")
	buildExample(t, env, dir, "migrate-openstack-to-aws.pkr.hcl", 20*time.Minute, map[string]string{
		"os_cloud": "aio-a", "clouds_file": clouds, "source_image": src.ID,
		"aws_region": srv.Region, "ec2_endpoint": srv.EC2Endpoint, "ebs_endpoint": srv.EBSEndpoint,
		"ami_name": name, "output_directory": out, "keep_working_copy": "true",
	})

	ami := amiByName(t, srv, name)
	if ami == nil {
		t.Fatalf("AMI %s not registered", name)
	}
	tags := map[string]string{}
	for _, tg := range ami.Tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if ami.State != types.ImageStateAvailable || ami.BootMode != "legacy-bios" || !aws.ToBool(ami.EnaSupport) ||
		aws.ToString(ami.RootDeviceName) != "/dev/xvda" || tags["migrated_from"] != "openstack" || tags["Name"] != name {
		t.Errorf("AMI %+v, tags %v", ami, tags)
	}
	snap := aws.ToString(ami.BlockDeviceMappings[0].Ebs.SnapshotId)
	if ids := srv.SnapshotIDs(); !slices.Equal(ids, []string{snap}) {
		t.Errorf("snapshots %v, want only the AMI's %s", ids, snap)
	}
	got := filepath.Join(dir, "snapshot.raw")
	blocks := readSnapshotEBS(t, srv, snap, got)
	t.Logf("read %d blocks of %s back through GetSnapshotBlock", blocks, snap)
	work := workingCopy(t, out)
	qemuCompare(t, work, "raw", got, "raw")

	files := packertest.GuestFiles(t, got, "/etc/chromogenic-migration")
	if want := "migrated from OpenStack " + src.ID + "\n"; string(files["/etc/chromogenic-migration"]) != want {
		t.Errorf("/etc/chromogenic-migration = %q, want %q", files["/etc/chromogenic-migration"], want)
	}
	sameGuestFiles(t, testimages.Sample(t), got, "/usr/lib/os-release", "/etc/fstab", "/boot/extlinux/extlinux.conf")
}
