package ec2

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/ova"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
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
    inline = ["echo ${var.marker} > /srv/marker", "echo DATA=$(cat /srv/disk2.txt)"]
  }

  post-processor "chromogenic-convert" {
    formats             = ["ova"]
    output_directory    = var.convert_directory
    file_name           = "multi"
    keep_input_artifact = true
  }
}
`

// TestAccEC2SeveralDisks captures an emulator instance with three EBS volumes (the two-disk
// guest: its /etc/fstab mounts /srv from disk 2 by UUID; a third data disk) with disks = "all":
// three working copies, the provisioner's /srv/marker on disk 2's, a new AMI of three mappings
// at the instance's device names (the third keeps its gp2 type and delete-on-termination
// false) whose snapshots, read back over the EBS direct API, equal the working copies; awscli
// describe-images lists the three; the intermediate AMI and its three snapshots are gone; and
// chromogenic-convert's OVA of the artifact lists three disks. (The OVA is not booted here: a
// TCG boot takes minutes on this machine; TestAccLocalSeveralDisks checks the OVA's disks
// with virt-v2v.)
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
		"-var", "output_directory="+out, "-var", "convert_directory="+conv, "-var", "marker="+marker)
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

	// The OVA holds the three disks.
	a, err := ova.Open(filepath.Join(conv, "multi.ova"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if len(a.Disks) != 3 {
		t.Fatalf("OVA disks %+v, want 3", a.Disks)
	}
	for i, d := range a.Disks {
		if want := int64(1) << 30; i > 0 && d.Capacity != want {
			t.Errorf("OVA disk %d capacity %d, want %d", i+1, d.Capacity, want)
		}
	}
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
