package ec2

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"golang.org/x/sys/unix"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// attachHost makes the emulator's Packer host (the instance packer "runs on": its metadata
// service is the emulator's, through the SDK's standard endpoint variable) with real loop
// devices for attached volumes, and records what the host holds before the build.
type attachHost struct {
	srv     *ec2emu.Server
	dir     string // the emulator's data directory (volume files)
	id      string
	volumes []string
	nodes   []string
}

func newAttachHost(t *testing.T, dialect ec2emu.Dialect) *attachHost {
	t.Helper()
	eucaAccOnly(t)
	if os.Geteuid() != 0 {
		t.Skip("capture_method attach needs root (loop devices)")
	}
	dir := t.TempDir()
	srv := emulator(t, ec2emu.Options{Dialect: dialect, Dir: dir, VolumeDelay: 300 * time.Millisecond, ImageDelay: 200 * time.Millisecond})
	id, err := srv.AddPackerHost(ec2emu.PackerHost{LoopDevices: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "false")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", srv.IMDSEndpoint)
	return &attachHost{srv: srv, dir: dir, id: id, volumes: srv.VolumeIDs(), nodes: sdNodes(t)}
}

// sdNodes lists the /dev/sd[f-p] and /dev/xvd[f-p] nodes present.
func sdNodes(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, g := range []string{"/dev/sd[f-p]", "/dev/xvd[f-p]"} {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	return out
}

// loopBacking returns the file behind the loop device a node points at, or "".
func loopBacking(node string) string {
	var st syscall.Stat_t
	if err := syscall.Stat(node, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFBLK {
		return ""
	}
	b, err := os.ReadFile(fmt.Sprintf("/sys/dev/block/%d:%d/loop/backing_file", unix.Major(st.Rdev), unix.Minor(st.Rdev)))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// checkNothingLeft: no volume but the host's root, no device node, no loop over an emulator
// file, no mount under the build's directory, no detach that found the device busy.
func (h *attachHost) checkNothingLeft(t *testing.T, buildDir string) {
	t.Helper()
	if got := h.srv.VolumeIDs(); !slices.Equal(got, h.volumes) {
		t.Errorf("volumes after the build %v, before %v", got, h.volumes)
	}
	if got := h.srv.HostDevices(); len(got) != 0 {
		t.Errorf("the emulator still holds %v", got)
	}
	// Other test processes on this host may attach volumes of their own emulators at the same
	// time: only a node over a loop of this emulator's files is a leak.
	for _, n := range sdNodes(t) {
		if !slices.Contains(h.nodes, n) && strings.HasPrefix(loopBacking(n), h.dir) {
			t.Errorf("device node %s left over %s", n, loopBacking(n))
		}
	}
	out, err := exec.Command("losetup", "-a").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, h.dir) || strings.Contains(l, buildDir) {
			t.Errorf("loop device left: %s", l)
		}
	}
	mounts, err := os.ReadFile("/proc/mounts")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(mounts, []byte(buildDir)) {
		t.Errorf("mounts left under %s:\n%s", buildDir, mounts)
	}
	if n := h.srv.BusyDetaches(); n != 0 {
		t.Errorf("%d detaches found the device still in use", n)
	}
	for _, c := range []string{"AttachVolume", "DetachVolume", "DeleteVolume"} {
		if h.srv.CallCount(c) == 0 {
			t.Errorf("no %s call", c)
		}
	}
}

// TestAccEucaAttachEBSBackedEMI: Eucalyptus, from an EBS-backed EMI, which the bundle path
// cannot read. capture_method is left empty: attach is the default for EBS-backed sources on
// Eucalyptus, and no keys are needed to read. The host is found through the metadata service
// (IMDSv1 only, as Eucalyptus), a volume of the EMI's root snapshot is attached to it as a
// real block device, copied home, detached and deleted; the shell provisioner writes a
// marker. With skip_register (registration is covered by the other Eucalyptus tests) the
// working copy is the artifact: it holds the marker and the source's files unchanged; no
// image or snapshot is made or changed, and nothing of the attach is left on the cloud or
// the host.
func TestAccEucaAttachEBSBackedEMI(t *testing.T) {
	h := newAttachHost(t, ec2emu.Eucalyptus)
	env := packertest.Setup(t)
	e := newEucaCloudOn(t, h.srv)
	sample := sampleCopy(t)
	src, err := h.srv.AddImage(ec2emu.Image{Name: "debian-ebs", RootDisk: sample, RootDeviceName: "/dev/sda"})
	if err != nil {
		t.Fatal(err)
	}
	images, snaps := h.srv.ImageIDs(), h.srv.SnapshotIDs()
	dir := t.TempDir()
	marker := fmt.Sprintf("marker-%d", time.Now().UnixNano())
	res := env.MustBuild(t, dir, eucaTemplate, 15*time.Minute, e.args(dir, "source_ami", src, "ami_name", "unused", "marker", marker,
		"skip_register", "true")...)
	res.WantOutput(t, `capture_method "attach"`, "This host is instance "+h.id, "Deleting volume vol-")
	h.checkNothingLeft(t, dir)
	if got := h.srv.ImageIDs(); !slices.Equal(got, images) {
		t.Errorf("images %v, before %v", got, images)
	}
	if got := h.srv.SnapshotIDs(); !slices.Equal(got, snaps) {
		t.Errorf("snapshots %v, before %v", got, snaps)
	}
	working := filepath.Join(dir, "out", "euca.raw")
	paths := []string{"/root/ec2-acc-marker", "/usr/lib/os-release", "/etc/hostname", "/usr/bin/true"}
	got := packertest.GuestFiles(t, working, paths...)
	want := packertest.GuestFiles(t, sample, paths...)
	if string(got["/root/ec2-acc-marker"]) != marker+"\n" {
		t.Errorf("marker in the working copy = %q", got["/root/ec2-acc-marker"])
	}
	if _, ok := want["/root/ec2-acc-marker"]; ok {
		t.Error("the source image was changed")
	}
	for _, p := range paths[1:] {
		if len(want[p]) == 0 || !bytes.Equal(got[p], want[p]) {
			t.Errorf("%s differs from the source (%d bytes, source %d)", p, len(got[p]), len(want[p]))
		}
	}
}

// TestAccEC2AttachCaptureInstance: AWS, capture_method "attach" from a running instance:
// CreateImage first (the instance is rebooted once, its disk untouched), the intermediate
// AMI's root snapshot read through a volume attached to the Packer host (IMDSv2; the first
// device name is refused as in use, the next is taken), provisioned, and registered through
// the EBS direct API. No EBS direct read happens; the intermediate AMI,
// its snapshot and the volume are gone.
func TestAccEC2AttachCaptureInstance(t *testing.T) {
	h := newAttachHost(t, ec2emu.AWS)
	env := packertest.Setup(t)
	disk := sampleCopy(t)
	before := packertest.FileSHA256(t, disk)
	iid, err := h.srv.AddInstance(ec2emu.Instance{Name: "web", RootDisk: disk, BootMode: "uefi", EnaSupport: true})
	if err != nil {
		t.Fatal(err)
	}
	volumes := h.srv.VolumeIDs()
	// The first free name turns out to be taken on the cloud's side: the next one is used.
	h.srv.InjectFault(ec2emu.Fault{Service: "ec2", Action: "AttachVolume", Times: 1, Code: "InvalidParameterValue",
		Message: "Invalid value '/dev/sdX' for unixDevice. Attachment point /dev/sdX is already in use"})
	dir := t.TempDir()
	name := fmt.Sprintf("acc-attach-%d", time.Now().UnixNano())
	marker := fmt.Sprintf("marker-%d", time.Now().UnixNano())
	res := env.MustBuild(t, dir, buildTemplate, 15*time.Minute, buildArgs(h.srv, dir, "instance_id", iid, "ami_name", name, "marker", marker,
		"capture_method", "attach")...)
	h.volumes = volumes
	h.checkNothingLeft(t, dir)
	if n := h.srv.CallCount("AttachVolume"); n != 2 || !strings.Contains(res.Output, "is in use: trying the next name") {
		t.Errorf("%d AttachVolume calls; the name in use was not skipped:\n%s", n, res.Output)
	}
	if n := h.srv.CallCount("ListSnapshotBlocks") + h.srv.CallCount("GetSnapshotBlock"); n != 0 {
		t.Errorf("%d EBS direct reads with capture_method attach", n)
	}
	made := imageByName(t, h.srv, name)
	if made == nil {
		t.Fatalf("AMI %s not registered:\n%s", name, res.Output)
	}
	if made.BootMode != "uefi" || !aws.ToBool(made.EnaSupport) {
		t.Errorf("new AMI %+v", made)
	}
	snap := aws.ToString(made.BlockDeviceMappings[0].Ebs.SnapshotId)
	if ids := h.srv.ImageIDs(); !slices.Equal(ids, []string{aws.ToString(made.ImageId)}) {
		t.Errorf("images %v (the intermediate AMI must be gone)", ids)
	}
	if ids := h.srv.SnapshotIDs(); !slices.Equal(ids, []string{snap}) {
		t.Errorf("snapshots %v", ids)
	}
	if n := h.srv.InstanceReboots(iid); n != 1 {
		t.Errorf("instance rebooted %d times", n)
	}
	if packertest.FileSHA256(t, disk) != before {
		t.Error("the instance's disk changed")
	}
	raw := filepath.Join(dir, "made.raw")
	if err := h.srv.WriteSnapshotFile(snap, raw, 0); err != nil {
		t.Fatal(err)
	}
	got := packertest.GuestFiles(t, raw, "/root/ec2-acc-marker", "/usr/lib/os-release")
	want := packertest.GuestFiles(t, disk, "/usr/lib/os-release")
	if string(got["/root/ec2-acc-marker"]) != marker+"\n" {
		t.Errorf("marker = %q", got["/root/ec2-acc-marker"])
	}
	if len(want["/usr/lib/os-release"]) == 0 || !bytes.Equal(got["/usr/lib/os-release"], want["/usr/lib/os-release"]) {
		t.Error("/usr/lib/os-release differs from the source")
	}
}

// TestAccEucaAttachCaptureInstance: Eucalyptus, a running EBS-backed instance, capture_method
// left empty (attach is the default for EBS-backed sources there). CreateImage makes an
// intermediate EMI (the instance is rebooted once, its disk untouched); its root snapshot is
// read through a volume attached to the Packer host (IMDSv1) and provisioned. With
// skip_register (ImportVolume registration has its own test) the working copy is the
// artifact: it holds the marker and the instance's files. The intermediate EMI and its
// snapshot and the attached volume are gone; nothing else is made.
func TestAccEucaAttachCaptureInstance(t *testing.T) {
	h := newAttachHost(t, ec2emu.Eucalyptus)
	env := packertest.Setup(t)
	e := newEucaCloudOn(t, h.srv)
	disk := sampleCopy(t)
	before := packertest.FileSHA256(t, disk)
	iid, err := h.srv.AddInstance(ec2emu.Instance{Name: "ebs-vm", RootDisk: disk, RootDeviceName: "/dev/sda"})
	if err != nil {
		t.Fatal(err)
	}
	images, snaps := h.srv.ImageIDs(), h.srv.SnapshotIDs()
	h.volumes = h.srv.VolumeIDs() // with the instance's root volume
	dir := t.TempDir()
	marker := fmt.Sprintf("marker-%d", time.Now().UnixNano())
	res := env.MustBuild(t, dir, eucaTemplate, 15*time.Minute, e.args(dir, "instance_id", iid, "ami_name", "unused", "marker", marker,
		"skip_register", "true")...)
	res.WantOutput(t, `capture_method "attach"`, "This host is instance "+h.id, "Creating the intermediate AMI")
	h.checkNothingLeft(t, dir)
	if n := h.srv.CallCount("CreateImage"); n != 1 {
		t.Errorf("%d CreateImage calls", n)
	}
	if n := h.srv.CallCount("BundleInstance"); n != 0 {
		t.Errorf("%d BundleInstance calls on the attach path", n)
	}
	if got := h.srv.ImageIDs(); !slices.Equal(got, images) {
		t.Errorf("images %v, before %v (the intermediate EMI must be gone)", got, images)
	}
	if got := h.srv.SnapshotIDs(); !slices.Equal(got, snaps) {
		t.Errorf("snapshots %v, before %v", got, snaps)
	}
	if n := h.srv.InstanceReboots(iid); n != 1 {
		t.Errorf("instance rebooted %d times", n)
	}
	if packertest.FileSHA256(t, disk) != before {
		t.Error("the instance's disk changed")
	}
	working := filepath.Join(dir, "out", "euca.raw")
	paths := []string{"/root/ec2-acc-marker", "/usr/lib/os-release", "/etc/hostname", "/usr/bin/true"}
	got := packertest.GuestFiles(t, working, paths...)
	want := packertest.GuestFiles(t, disk, paths...)
	if string(got["/root/ec2-acc-marker"]) != marker+"\n" {
		t.Errorf("marker in the working copy = %q", got["/root/ec2-acc-marker"])
	}
	for _, p := range paths[1:] {
		if len(want[p]) == 0 || !bytes.Equal(got[p], want[p]) {
			t.Errorf("%s differs from the instance's (%d bytes, instance %d)", p, len(got[p]), len(want[p]))
		}
	}
}

// A failing provisioner on the attach path: the volume was already released after the copy;
// nothing is left (volume, node, loop, mount), no image or snapshot is made.
func TestAccEucaAttachFailingProvisionerLeavesNothing(t *testing.T) {
	h := newAttachHost(t, ec2emu.Eucalyptus)
	env := packertest.Setup(t)
	e := newEucaCloudOn(t, h.srv)
	src, err := h.srv.AddImage(ec2emu.Image{Name: "debian-ebs", RootDisk: sampleCopy(t), RootDeviceName: "/dev/sda"})
	if err != nil {
		t.Fatal(err)
	}
	images, snaps := h.srv.ImageIDs(), h.srv.SnapshotIDs()
	dir := t.TempDir()
	res := env.Build(t, dir, eucaTemplate, 10*time.Minute, e.args(dir, "source_ami", src, "ami_name", "euca-attach-fail", "marker", "x",
		"capture_method", "attach", "command", "exit 7", "cloud_cert_file", filepath.Join(e.keys, "cloud-cert.pem"))...)
	if res.Err == nil {
		t.Fatalf("build with a failing provisioner succeeded:\n%s", res.Output)
	}
	if !strings.Contains(res.Output, "non-zero exit status: 7") {
		t.Errorf("the build did not fail at the provisioner:\n%s", res.Output)
	}
	h.checkNothingLeft(t, dir)
	if got := h.srv.ImageIDs(); !slices.Equal(got, images) {
		t.Errorf("images %v, before %v", got, images)
	}
	if got := h.srv.SnapshotIDs(); !slices.Equal(got, snaps) {
		t.Errorf("snapshots %v, before %v", got, snaps)
	}
}

// TestAccEucaAttachInterrupt is a user's Ctrl-C while the attached volume is being copied:
// packer gets SIGINT (its process group, as a terminal sends it), must exit non-zero within a
// minute, and the cleanup must still detach and delete the volume and leave no node, loop or
// mount.
func TestAccEucaAttachInterrupt(t *testing.T) {
	h := newAttachHost(t, ec2emu.Eucalyptus)
	env := packertest.Setup(t)
	e := newEucaCloudOn(t, h.srv)
	src, err := h.srv.AddImage(ec2emu.Image{Name: "debian-ebs", RootDisk: sampleCopy(t), RootDeviceName: "/dev/sda"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	run := env.Start(t, dir, eucaTemplate, e.args(dir, "source_ami", src, "ami_name", "euca-attach-int", "marker", "x",
		"cloud_cert_file", filepath.Join(e.keys, "cloud-cert.pem"))...)
	run.Until(t, "the copy started", 5*time.Minute, func() bool { return strings.Contains(run.Output.String(), "Copying /dev/") })
	run.Interrupt(t, time.Minute)
	if output := run.Output.String(); strings.Contains(output, "MiB/s") || strings.Contains(output, "Provisioning") {
		t.Fatalf("the copy finished before the interrupt: the test proved nothing:\n%s", output)
	}
	h.checkNothingLeft(t, dir)
}
