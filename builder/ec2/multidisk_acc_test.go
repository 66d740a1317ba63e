package ec2

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"golang.org/x/sys/unix"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/ova"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

const multiDiskTemplate = `
variable "region" { type = string }
variable "ec2_endpoint" { type = string }
variable "ebs_endpoint" { type = string }
variable "instance_id" { type = string }
variable "ami_name" { type = string }
variable "output_directory" { type = string }
variable "convert_directory" { type = string }
variable "marker" { type = string }
variable "disk3_uuid" { type = string }
variable "setup" { type = string }

source "chromogenic-ec2" "multi" {
  region              = var.region
  custom_endpoint_ec2 = var.ec2_endpoint
  custom_endpoint_ebs = var.ebs_endpoint
  instance_id         = var.instance_id
  disks               = "all"
  ami_name            = var.ami_name
  tags                = { Name = var.ami_name }
  snapshot_tags       = { chromogenic = "multi" }
  ebs_concurrency     = 8
  state_timeout       = "5m"
  output_directory    = var.output_directory
  mount_path          = "${var.output_directory}/mnt"
}

build {
  sources = ["source.chromogenic-ec2.multi"]

  provisioner "shell" {
    script           = var.setup
    environment_vars = ["MARKER=${var.marker}", "DISK3_UUID=${var.disk3_uuid}"]
  }

  post-processor "chromogenic-convert" {
    formats             = ["ova"]
    output_directory    = var.convert_directory
    file_name           = "multi"
    keep_input_artifact = true
    bootable {}
  }
}
`

// multiDiskSetup is the provisioner's script: the marker on disk 2's /srv, disk 3's filesystem
// in fstab by UUID at /mnt/disk3, and a unit that, once multi-user.target is reached and the
// three mounts are up (RequiresMountsFor), prints what it read through them and where they
// came from on the serial console, then the boot marker.
const multiDiskSetup = `#!/bin/sh
set -eu
echo "$MARKER" > /srv/marker
echo "DATA=$(cat /srv/disk2.txt)"
mkdir -p /mnt/disk3
printf 'UUID=%s /mnt/disk3 ext4 defaults 0 2\n' "$DISK3_UUID" >> /etc/fstab
cat > /usr/local/sbin/chromogenic-disks <<'SCRIPT'
#!/bin/sh
echo "CHROMOGENIC-DISKS root-from=$(findmnt -nro SOURCE /) srv=$(cat /srv/marker) srv-from=$(findmnt -nro SOURCE /srv) data-from=$(findmnt -nro SOURCE /var/lib/data) disk3=$(cat /mnt/disk3/disk3.txt) disk3-from=$(findmnt -nro SOURCE /mnt/disk3)" > /dev/ttyS0
echo CHROMOGENIC-BOOT-OK > /dev/ttyS0
SCRIPT
chmod 755 /usr/local/sbin/chromogenic-disks
cat > /etc/systemd/system/chromogenic-disks.service <<'UNIT'
[Unit]
Description=Print what the other disks hold, then the chromogenic boot marker
After=multi-user.target
RequiresMountsFor=/srv /var/lib/data /mnt/disk3

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/chromogenic-disks

[Install]
WantedBy=multi-user.target
UNIT
mkdir -p /etc/systemd/system/multi-user.target.wants /etc/systemd/system.conf.d
ln -sf /etc/systemd/system/chromogenic-disks.service /etc/systemd/system/multi-user.target.wants/
printf '[Manager]\nDefaultDeviceTimeoutSec=15min\n' > /etc/systemd/system.conf.d/chromogenic-tcg.conf
`

// TestAccEC2SeveralDisks captures an emulator instance with three EBS volumes (the two-disk
// guest: its /etc/fstab mounts /srv from disk 2 by UUID and /var/lib/data as /dev/vdb2; a third
// data disk of random bytes with an ext4 in its partition) with disks = "all": three working
// copies, the provisioner's /srv/marker on disk 2's, a new AMI of three mappings at the
// instance's device names (the third keeps its gp2 type and delete-on-termination false)
// whose snapshots, read back over the EBS direct API, equal the working copies; awscli
// describe-images lists the three; the intermediate AMI and its three snapshots are gone.
// chromogenic-convert makes the boot disk bootable and packs an OVA of the three disks: each
// passes qemu-img check, the boot disk's fstab names /, disk 2's /srv and /var/lib/data (the
// /dev/vdb2 entry rewritten) and the provisioner's /mnt/disk3 (disk 3) by UUID, and the three
// disks boot together under qemu TCG on SATA, as the OVA's controller (sda, sdb, sdc: not the
// instance's device names): the guest's unit, which requires the three mounts, prints the
// marker read from /srv, disk 3's file and where each came from on the serial console before
// the boot marker (multiDiskSetup).
func TestAccEC2SeveralDisks(t *testing.T) {
	testtier.Acceptance(t, "a packer build against the EC2 emulator")
	env := packertest.Setup(t)
	srv := emulator(t)
	dir := t.TempDir()
	disk1 := testimages.Make(t, "two-disk", dir)
	disk2 := testimages.OtherDisks(disk1)[0]
	disk3 := filepath.Join(dir, "data3.raw")
	packertest.RandomDisk(t, disk3, 1024, 8, 3, 1)
	cmd := exec.Command("sfdisk", "-q", disk3)
	cmd.Stdin = strings.NewReader("label: dos\nstart=2048, type=83\n")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v %s", err, b)
	}
	disk3UUID := makeDisk3FS(t, disk3)
	setup := filepath.Join(dir, "setup.sh")
	if err := os.WriteFile(setup, []byte(multiDiskSetup), 0o755); err != nil {
		t.Fatal(err)
	}
	iid, err := srv.AddInstance(ec2emu.Instance{Name: "multi", RootDisk: disk1, DataDisks: []ec2emu.Disk{
		{Device: "/dev/xvdc", Path: disk3, VolumeType: "gp2"},
		{Device: "/dev/xvdb", Path: disk2, DeleteOnTermination: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("acc-multi-%d", time.Now().UnixNano())
	marker := fmt.Sprintf("marker-%d", time.Now().UnixNano())
	out, conv := filepath.Join(dir, "out"), filepath.Join(dir, "conv")
	start := time.Now()
	res := env.MustBuild(t, dir, multiDiskTemplate, 20*time.Minute, "-var", "region="+srv.Region, "-var", "ec2_endpoint="+srv.EC2Endpoint,
		"-var", "ebs_endpoint="+srv.EBSEndpoint, "-var", "instance_id="+iid, "-var", "ami_name="+name,
		"-var", "output_directory="+out, "-var", "convert_directory="+conv, "-var", "marker="+marker,
		"-var", "disk3_uuid="+disk3UUID, "-var", "setup="+setup)
	t.Logf("packer build of three disks: %s", time.Since(start).Round(time.Second))
	res.WantOutput(t, "Capturing 3 disks", "DATA=on the second disk")

	// Three working copies; the marker is on disk 2's, seen through the guest's own /srv.
	work := []string{filepath.Join(out, "multi.raw"), filepath.Join(out, "multi-disk2.raw"), filepath.Join(out, "multi-disk3.raw")}
	img, err := chroot.OpenImages(work, chroot.ImageOptions{ReadOnly: true, TempDir: dir, TempPattern: "check-"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := img.Guest.Guest().ReadFileLimit("/srv/marker", 4096)
	srvMount := img.Guest.Mounts.Root + "/srv"
	var srvDev string
	for _, m := range chroot.MountsUnder(img.MountPath) {
		if m.Point == srvMount {
			srvDev = m.Source
		}
	}
	wantDev := img.Disk.Others[0].Partition(1).Device
	// What the boot disk's fstab must name by UUID: / and disk 2's two filesystems (the guest
	// names /var/lib/data /dev/vdb2) and, from the provisioner, disk 3's.
	wantUUIDs := map[string]string{"/": img.Root.UUID, "/srv": img.Disk.Others[0].Partition(1).UUID,
		"/var/lib/data": img.Disk.Others[0].Partition(2).UUID, "/mnt/disk3": disk3UUID}
	if cerr := img.Close(); cerr != nil {
		t.Error(cerr)
	}
	if err != nil || string(got) != marker+"\n" || srvDev != wantDev {
		t.Errorf("/srv/marker = %q %v from %s, want %q from disk 2's partition 1 (%s)", got, err, srvDev, marker, wantDev)
	}

	// The AMI: three mappings at the instance's devices, each snapshot the working copy's bytes.
	made := imageByName(t, srv, name)
	if made == nil {
		t.Fatalf("AMI %s not registered:\n%s", name, res.Output)
	}
	if aws.ToString(made.RootDeviceName) != "/dev/xvda" || len(made.BlockDeviceMappings) != 3 {
		t.Fatalf("AMI root %s, mappings %+v", aws.ToString(made.RootDeviceName), made.BlockDeviceMappings)
	}
	disks, _, err := cloud.ImageDisks(made)
	if err != nil {
		t.Fatal(err)
	}
	var devs, snaps []string
	for _, d := range disks {
		devs, snaps = append(devs, d.Device), append(snaps, d.SnapshotID)
	}
	if !slices.Equal(devs, []string{"/dev/xvda", "/dev/xvdb", "/dev/xvdc"}) {
		t.Fatalf("AMI devices %v", devs)
	}
	if d := disks[2]; d.VolumeType != "gp2" || aws.ToBool(d.DeleteOnTermination) || d.VolumeSizeGiB != 1 {
		t.Errorf("/dev/xvdc mapping %+v: want the source's gp2, 1 GiB, not deleted on termination", d)
	}
	if d := disks[1]; !aws.ToBool(d.DeleteOnTermination) {
		t.Errorf("/dev/xvdb mapping %+v: want deleted on termination as the source's", d)
	}
	ebsc := ebs.NewFromConfig(srv.AWSConfig(), func(o *ebs.Options) { o.BaseEndpoint = aws.String(srv.EBSEndpoint) })
	for i, d := range disks {
		back := filepath.Join(dir, fmt.Sprintf("back%d.raw", i+1))
		f, err := os.Create(back)
		if err != nil {
			t.Fatal(err)
		}
		_, err = cloud.DownloadSnapshot(t.Context(), ebsc, d.SnapshotID, f, cloud.TransferOptions{})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if a, b := packertest.FileSHA256(t, back), packertest.FileSHA256(t, work[i]); a != b {
			t.Errorf("%s: snapshot %s differs from the working copy %s", d.Device, d.SnapshotID, work[i])
		}
		os.Remove(back)
	}
	// The build's record names the AMI and each disk's snapshot.
	rec, err := provenance.Read(provenance.SidecarPath(work[0]))
	if err != nil {
		t.Fatal(err)
	}
	want := published("aws", srv.Region, aws.ToString(made.ImageId), snaps)
	if got := rec.Outputs; !slices.Equal(got, want) {
		t.Errorf("the record's outputs %+v, want %+v", got, want)
	}
	sorted := slices.Sorted(slices.Values(snaps))
	if ids := srv.ImageIDs(); !slices.Equal(ids, []string{aws.ToString(made.ImageId)}) {
		t.Errorf("images after the build: %v (the intermediate AMI must be gone)", ids)
	}
	if ids := srv.SnapshotIDs(); !slices.Equal(ids, sorted) {
		t.Errorf("snapshots after the build: %v, want the AMI's %v (the intermediate ones must be gone)", ids, sorted)
	}
	c := ec2Client(srv)
	for _, s := range snaps {
		tags := map[string]string{}
		out, err := c.DescribeSnapshots(t.Context(), &sdkec2.DescribeSnapshotsInput{SnapshotIds: []string{s}})
		if err == nil && len(out.Snapshots) == 1 {
			for _, tg := range out.Snapshots[0].Tags {
				tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
			}
		}
		if tags["chromogenic"] != "multi" {
			t.Errorf("snapshot %s tags %v %v, want the snapshot_tags", s, tags, err)
		}
	}
	checkCLIMappings(t, srv, dir, aws.ToString(made.ImageId), devs)

	// The OVA holds the three disks, each clean under qemu-img check; its boot disk (made
	// bootable) names the other disks' filesystems by UUID; the three boot together and the
	// guest mounts /srv and /var/lib/data from disk 2 and /mnt/disk3 from disk 3.
	raws := ovaDisksRaw(t, filepath.Join(conv, "multi.ova"), filepath.Join(dir, "ova"), 3)
	checkBootFstab(t, raws[0], wantUUIDs)
	var disksToBoot []testimages.BootDisk
	for _, r := range raws {
		disksToBoot = append(disksToBoot, testimages.BootDisk{Path: r, Format: "raw"})
	}
	// On SATA, as the OVA's controller: the guest's disks are sda, sdb, sdc, no longer the
	// vda, vdb of its fstab as it came from the instance.
	took, serial := testimages.BootDisks(t, disksToBoot, 10*time.Minute, testimages.BootOptions{Disk: "sata"})
	t.Logf("boot of the OVA's three disks (SATA): %.1f s", took)
	// SATA ports are probed in parallel: any of the three disks may come up as sda, sdb or
	// sdc, which fstab by UUID makes no matter. /srv and /var/lib/data must come from one
	// disk (2's partitions 1 and 2), /mnt/disk3 from another, neither from the root's disk.
	re := regexp.MustCompile(`CHROMOGENIC-DISKS root-from=/dev/sd([a-z])1 srv=` + regexp.QuoteMeta(marker) +
		` srv-from=/dev/sd([a-z])1 data-from=/dev/sd([a-z])2 disk3=on the third disk disk3-from=/dev/sd([a-z])1`)
	if m := re.FindStringSubmatch(serial); m == nil || m[2] != m[3] || m[2] == m[4] || m[1] == m[2] || m[1] == m[4] {
		t.Errorf("the booted guest did not print its mounts from disks 2 and 3 (%v); it printed %q; serial console:\n%s",
			m, regexp.MustCompile(`CHROMOGENIC-DISKS.*`).FindString(serial), serial)
	} else {
		t.Logf("the guest printed: %s", m[0])
	}
}

// makeDisk3FS makes an ext4 filesystem (label disk3, holding disk3.txt) in partition 1 of the
// third disk, keeping the random bytes its files do not cover, and returns its UUID.
func makeDisk3FS(t *testing.T, disk string) string {
	t.Helper()
	_, parts, err := chroot.ReadPartitions(disk)
	if err != nil || len(parts) != 1 {
		t.Fatalf("partitions of %s: %v %v", disk, parts, err)
	}
	l, err := chroot.AttachLoop(disk, parts[0].Start, parts[0].Size, false)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Detach()
	if b, err := exec.Command("mkfs.ext4", "-q", "-F", "-E", "nodiscard", "-L", "disk3", l.Path).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v %s", err, b)
	}
	mnt := t.TempDir()
	if err := unix.Mount(l.Path, mnt, "ext4", 0, ""); err != nil {
		t.Fatal(err)
	}
	werr := os.WriteFile(filepath.Join(mnt, "disk3.txt"), []byte("on the third disk\n"), 0o644)
	if err := unix.Unmount(mnt, 0); err != nil || werr != nil {
		t.Fatal(err, werr)
	}
	out, err := exec.Command("blkid", "-p", "-s", "UUID", "-o", "value", l.Path).Output()
	uuid := strings.TrimSpace(string(out))
	if err != nil || uuid == "" {
		t.Fatalf("blkid %s: %q %v", l.Path, out, err)
	}
	return uuid
}

// ovaDisksRaw unpacks the n disks of the OVA at appliance, checks each VMDK with qemu-img
// check, and converts each to raw as base-disk<i>.raw, in the appliance's order.
func ovaDisksRaw(t *testing.T, appliance, base string, n int) []string {
	t.Helper()
	a, err := ova.Open(appliance)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if len(a.Disks) != n {
		t.Fatalf("OVA disks %+v, want %d", a.Disks, n)
	}
	var raws []string
	for i, d := range a.Disks {
		if want := int64(1) << 30; i > 0 && d.Capacity != want {
			t.Errorf("OVA disk %d capacity %d, want %d", i+1, d.Capacity, want)
		}
		vmdk, raw := fmt.Sprintf("%s-disk%d.vmdk", base, i+1), fmt.Sprintf("%s-disk%d.raw", base, i+1)
		f, err := os.Create(vmdk)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.ReadFrom(a.Member(d))
		if cerr := f.Close(); err != nil || cerr != nil {
			t.Fatal(err, cerr)
		}
		if b, err := exec.Command("qemu-img", "check", "-f", "vmdk", vmdk).CombinedOutput(); err != nil {
			t.Errorf("qemu-img check of the OVA's disk %d (%s): %v\n%s", i+1, d.File, err, b)
		}
		if b, err := exec.Command("qemu-img", "convert", "-f", "vmdk", "-O", "raw", vmdk, raw).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img convert: %v\n%s", err, b)
		}
		os.Remove(vmdk)
		raws = append(raws, raw)
	}
	return raws
}

// checkBootFstab reads /etc/fstab from the root (partition 1) of the OVA's boot disk: every
// mount point of want is named by UUID= its filesystem's, so the hypervisor's device order
// and bus do not matter.
func checkBootFstab(t *testing.T, raw string, want map[string]string) {
	t.Helper()
	_, parts, err := chroot.ReadPartitions(raw)
	if err != nil || len(parts) < 1 {
		t.Fatalf("partitions of the OVA's boot disk: %v %v", parts, err)
	}
	l, err := chroot.AttachLoop(raw, parts[0].Start, parts[0].Size, true)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Detach()
	mnt := t.TempDir()
	if err := unix.Mount(l.Path, mnt, "ext4", unix.MS_RDONLY, "noload"); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(mnt, 0)
	b, err := os.ReadFile(filepath.Join(mnt, "etc/fstab"))
	if err != nil {
		t.Fatal(err)
	}
	specs := map[string]string{}
	for _, e := range chroot.ParseFstab(string(b)) {
		specs[e.File] = e.Spec
	}
	for mp, uuid := range want {
		if uuid == "" || specs[mp] != "UUID="+uuid {
			t.Errorf("the boot disk's fstab mounts %s from %q, want UUID=%s", mp, specs[mp], uuid)
		}
	}
	t.Logf("the boot disk's fstab:\n%s", b)
}

// checkCLIMappings runs Debian's awscli describe-images against the emulator: the image lists
// the devices, each with an EBS snapshot.
func checkCLIMappings(t *testing.T, srv *ec2emu.Server, dir, ami string, devs []string) {
	t.Helper()
	const awsCLI = "/usr/bin/aws"
	if _, err := os.Stat(awsCLI); err != nil {
		t.Fatalf("%s missing: install Debian's awscli package (scripts/install-deps.sh)", awsCLI)
	}
	cmd := exec.Command(awsCLI, "ec2", "describe-images", "--endpoint-url", srv.EC2Endpoint, "--image-ids", ami, "--output", "json")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "LANG=C.UTF-8",
		"AWS_ACCESS_KEY_ID=" + srv.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + srv.SecretAccessKey,
		"AWS_DEFAULT_REGION=" + srv.Region, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_MAX_ATTEMPTS=1", "AWS_EC2_METADATA_DISABLED=true", "NO_PROXY=127.0.0.1", "no_proxy=127.0.0.1", "AWS_PAGER="}
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws ec2 describe-images: %v %s", err, b)
	}
	var out struct {
		Images []struct {
			BlockDeviceMappings []struct {
				DeviceName string
				Ebs        struct{ SnapshotId string }
			}
		}
	}
	if err := json.Unmarshal(b, &out); err != nil || len(out.Images) != 1 {
		t.Fatalf("aws ec2 describe-images: %v %s", err, b)
	}
	var got []string
	for _, m := range out.Images[0].BlockDeviceMappings {
		if !strings.HasPrefix(m.Ebs.SnapshotId, "snap-") {
			t.Errorf("awscli: %s has no snapshot", m.DeviceName)
		}
		got = append(got, m.DeviceName)
	}
	slices.Sort(got)
	if !slices.Equal(got, devs) {
		t.Errorf("awscli describe-images lists %v, want %v", got, devs)
	}
}
