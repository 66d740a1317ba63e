package openstack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/openstacktest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/ova"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

const severalDisksTemplate = `
variable "clouds_file" { type = string }
variable "instance_id" { type = string }
variable "output_directory" { type = string }
variable "marker" { type = string }
variable "fail" { type = string }

source "chromogenic-openstack" "multi" {
  cloud            = "aio-a"
  clouds_file      = var.clouds_file
  instance_id      = var.instance_id
  disks            = "all"
  skip_upload      = true
  state_timeout    = "10m"
  output_directory = var.output_directory
  mount_path       = "${var.output_directory}/mnt"
}

build {
  sources = ["source.chromogenic-openstack.multi"]
  provisioner "shell" {
    inline = ["echo '${var.marker}' > /srv/marker", "echo DATA=$(cat /srv/disk2.txt)", "echo history > /root/.bash_history", "${var.fail}"]
  }
  provisioner "chromogenic-clean" {
    operations = ["defaults"]
  }
  post-processor "chromogenic-convert" {
    formats             = ["ova"]
    output_directory    = "${var.output_directory}/export"
    file_name           = "multi"
    keep_input_artifact = true
  }
}
`

// TestAccOpenStackSeveralDisks captures a server of the two-disk guest (testimages: its
// /etc/fstab mounts /srv from disk 2 by UUID and /var/lib/data as /dev/vdb2) whose disk 2 is
// a Cinder volume (RBD) attached to it, with disks = "all", through the real packer with a
// shell provisioner, chromogenic-clean and an OVA: two working copies, the provisioner's
// /srv/marker written through the guest's own /srv onto disk 2's working copy (its
// disk2.txt kept), clean's work on the root; the OVA holds two disks, each clean under
// qemu-img check, disk 2 the volume's bytes plus the marker; the provenance record lists both
// disks and the volume; the user's volume is still attached to the server with the same
// bytes (rbd export), and no temporary snapshot, volume or image is left. A second build that
// fails in its provisioner leaves no temporary either. The server is stopped before the
// volume is attached (cold), so that no guest writes to it during the test.
func TestAccOpenStackSeveralDisks(t *testing.T) {
	testtier.Acceptance(t, "a packer build against the all-in-one OpenStack cloud with Cinder")
	env := packertest.Setup(t)
	clouds := openstacktest.CloudsFile(t)
	a := openstacktest.Connect(t, "aio-a")
	dir := t.TempDir()
	disk1 := testimages.Make(t, "two-disk", dir)
	disk2 := testimages.OtherDisks(disk1)[0]
	stamp := time.Now().UnixNano()
	qcow := filepath.Join(dir, "root.qcow2")
	if out, err := exec.Command("qemu-img", "convert", "-O", "qcow2", disk1, qcow).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v %s", err, out)
	}
	start := time.Now()
	rootImg := openstacktest.UploadImage(t, a, fmt.Sprintf("acc-multi-root-%d", stamp), qcow, "qcow2")
	ctx := context.Background()
	// no 60 s ACPI grace on stop: the test only needs the server's disk, not a clean shutdown
	if err := cloud.UpdateImage(ctx, a.Image, rootImg.ID, nil, map[string]string{"os_shutdown_timeout": "0"}); err != nil {
		t.Fatal(err)
	}
	dataImg := openstacktest.UploadImage(t, a, fmt.Sprintf("acc-multi-disk2-%d", stamp), disk2, "raw")
	vol := openstacktest.VolumeFromImage(t, a, fmt.Sprintf("acc-multi-vol-%d", stamp), dataImg.ID, 1)
	openstacktest.DeleteImage(t, a, dataImg.ID)
	srv := openstacktest.BootServer(t, a, fmt.Sprintf("acc-multi-%d", stamp), rootImg.ID)
	openstacktest.StopServer(t, a, srv.ID)
	openstacktest.AttachVolume(t, a, srv.ID, vol.ID)
	before := openstacktest.VolumeSHA256(t, vol.ID)
	t.Logf("server %s with volume %s ready in %s", srv.ID, vol.ID, time.Since(start).Round(time.Second))
	images0 := map[string]bool{}
	for _, img := range openstacktest.ListImages(t, a) {
		images0[img.ID] = true
	}

	out := filepath.Join(dir, "out")
	marker := fmt.Sprintf("marker-%d", stamp)
	start = time.Now()
	res := env.MustBuild(t, dir, severalDisksTemplate, 30*time.Minute, "-var", "clouds_file="+clouds,
		"-var", "instance_id="+srv.ID, "-var", "output_directory="+out, "-var", "marker="+marker, "-var", "fail=true")
	t.Logf("packer build of two disks: %s", time.Since(start).Round(time.Second))
	res.WantOutput(t, "Snapshotting volume "+vol.ID, "DATA=on the second disk")
	checkNoTemporaries(t, a, images0, vol.ID)

	// Two working copies; the marker reached disk 2 through the guest's /srv.
	work := []string{filepath.Join(out, "multi.raw"), filepath.Join(out, "multi-disk2.raw")}
	img, err := chroot.OpenImages(work, chroot.ImageOptions{ReadOnly: true, TempDir: dir, TempPattern: "check-"})
	if err != nil {
		t.Fatal(err)
	}
	g := img.Guest.Guest()
	got, err := g.ReadFileLimit("/srv/marker", 4096)
	kept, kerr := g.ReadFileLimit("/srv/disk2.txt", 4096)
	_, herr := g.ReadFileLimit("/root/.bash_history", 4096)
	srvMount := img.Guest.Mounts.Root + "/srv"
	var srvDev string
	for _, m := range chroot.MountsUnder(img.MountPath) {
		if m.Point == srvMount {
			srvDev = m.Source
		}
	}
	wantDev := img.Disk.Others[0].Partition(1).Device
	if cerr := img.Close(); cerr != nil {
		t.Error(cerr)
	}
	if err != nil || string(got) != marker+"\n" || srvDev != wantDev {
		t.Errorf("/srv/marker = %q %v from %s, want %q from disk 2's partition 1 (%s)", got, err, srvDev, marker, wantDev)
	}
	if kerr != nil || string(kept) != "on the second disk\n" {
		t.Errorf("/srv/disk2.txt on disk 2 = %q %v", kept, kerr)
	}
	if herr == nil {
		t.Errorf("chromogenic-clean left /root/.bash_history")
	}

	// The OVA: two disks, each clean under qemu-img check, the same bytes as the working copies.
	appliance := filepath.Join(out, "export", "multi.ova")
	oa, err := ova.Open(appliance)
	if err != nil {
		t.Fatal(err)
	}
	if len(oa.Disks) != 2 {
		t.Fatalf("OVA disks %+v, want 2", oa.Disks)
	}
	for i, d := range oa.Disks {
		vmdk := filepath.Join(dir, fmt.Sprintf("ova-disk%d.vmdk", i+1))
		f, err := os.Create(vmdk)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.ReadFrom(oa.Member(d))
		if cerr := f.Close(); err != nil || cerr != nil {
			t.Fatal(err, cerr)
		}
		if b, err := exec.Command("qemu-img", "check", "-f", "vmdk", vmdk).CombinedOutput(); err != nil {
			t.Errorf("qemu-img check of the OVA's disk %d (%s): %v\n%s", i+1, d.File, err, b)
		}
		if b, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", "vmdk", work[i], vmdk).CombinedOutput(); err != nil {
			t.Errorf("OVA disk %d differs from the working copy %s: %v\n%s", i+1, work[i], err, b)
		}
	}
	oa.Close()

	// The record lists both disks and the volume with its snapshot.
	rec, err := provenance.Read(provenance.SidecarPath(work[0]))
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.OtherDisks) != 1 || rec.OtherDisks[0] == nil || !strings.HasSuffix(rec.OtherDisks[0].Path, "multi-disk2.raw") ||
		len(rec.Source.Volumes) != 1 || rec.Source.Volumes[0] != vol.ID || len(rec.Source.Snapshots) != 2 || rec.Source.Instance != srv.ID {
		t.Errorf("provenance: other disks %+v, source %+v", rec.OtherDisks, rec.Source)
	}

	// The user's volume: still attached to the server, the same bytes.
	bs, err := cloud.BlockStorage(a)
	if err != nil {
		t.Fatal(err)
	}
	v, err := cloud.WaitVolume(ctx, bs, vol.ID, "in-use", nil)
	if err != nil || len(v.Attachments) != 1 || v.Attachments[0].ServerID != srv.ID {
		t.Errorf("user's volume after the build: %+v %v", v, err)
	}
	if after := openstacktest.VolumeSHA256(t, vol.ID); after != before {
		t.Errorf("user's volume changed: sha256 %s before the build, %s after", before, after)
	}

	// A build that fails in its provisioner (after every copy is made) deletes them all too.
	start = time.Now()
	res = env.Build(t, dir, severalDisksTemplate, 30*time.Minute, "-var", "clouds_file="+clouds,
		"-var", "instance_id="+srv.ID, "-var", "output_directory="+filepath.Join(dir, "out-fail"),
		"-var", "marker="+marker, "-var", "fail=exit 3")
	t.Logf("failing packer build: %s", time.Since(start).Round(time.Second))
	if res.Err == nil {
		t.Errorf("the build with a failing provisioner succeeded:\n%s", res.Output)
	}
	res.WantOutput(t, "Deleting volume snapshot", "Deleting temporary volume", "Deleting temporary image")
	checkNoTemporaries(t, a, images0, vol.ID)
}

// checkNoTemporaries fails when the project holds what a build makes to copy the volume keep
// (a snapshot of it, a volume or image named chromogenic-copy-of-<keep>) or a new image named
// chromogenic-... (the root's Nova snapshot). Other test packages may make images and volumes
// of their own in the project meanwhile: only these names count.
func checkNoTemporaries(t *testing.T, a *cloud.Clients, before map[string]bool, keep string) {
	t.Helper()
	copyName := "chromogenic-copy-of-" + keep
	for _, v := range openstacktest.ListVolumes(t, a) {
		if v.Name == copyName {
			t.Errorf("volume left behind: %s %s (%s)", v.ID, v.Name, v.Status)
		}
	}
	for _, s := range openstacktest.ListVolumeSnapshots(t, a) {
		if s.VolumeID == keep {
			t.Errorf("volume snapshot left behind: %s %s (%s)", s.ID, s.Name, s.Status)
		}
	}
	for _, img := range openstacktest.ListImages(t, a) {
		if img.Name == copyName || (!before[img.ID] && strings.HasPrefix(img.Name, "chromogenic-")) {
			t.Errorf("image left behind: %s %s (%s)", img.ID, img.Name, img.Status)
		}
	}
}
