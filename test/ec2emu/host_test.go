package ec2emu_test

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"golang.org/x/sys/unix"

	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// The metadata service describes the Packer host: IMDSv2 (tokens required) in the AWS
// dialect, IMDSv1 in the Eucalyptus one, which the SDK reaches by its fallback.
func TestIMDS(t *testing.T) {
	for _, d := range []ec2emu.Dialect{ec2emu.AWS, ec2emu.Eucalyptus} {
		srv := ec2emu.Start(t, ec2emu.Options{Dialect: d})
		id, err := srv.AddPackerHost(ec2emu.PackerHost{})
		if err != nil {
			t.Fatal(err)
		}
		c := imds.New(imds.Options{Endpoint: srv.IMDSEndpoint})
		get := func(path string) (string, error) {
			out, err := c.GetMetadata(t.Context(), &imds.GetMetadataInput{Path: path})
			if err != nil {
				return "", err
			}
			defer out.Content.Close()
			b, err := io.ReadAll(out.Content)
			return string(b), err
		}
		if got, err := get("instance-id"); err != nil || got != id {
			t.Errorf("dialect %d: instance-id %q, %v; want %s", d, got, err, id)
		}
		if got, err := get("placement/availability-zone"); err != nil || got != srv.Region+"a" {
			t.Errorf("dialect %d: availability zone %q, %v", d, got, err)
		}
		_, rerr := get("placement/region")
		resp, err := http.Get(srv.IMDSEndpoint + "/latest/meta-data/instance-id")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if d == ec2emu.AWS && (resp.StatusCode != http.StatusUnauthorized || rerr != nil) {
			t.Errorf("AWS: a GET without a token is %d (want 401); region: %v", resp.StatusCode, rerr)
		}
		if d == ec2emu.Eucalyptus && (resp.StatusCode != http.StatusOK || rerr == nil) {
			t.Errorf("Eucalyptus: a GET without a token is %d (want 200); region error %v (want one)", resp.StatusCode, rerr)
		}
	}
}

// freeHostDevice returns a /dev/sdX name for which neither /dev/sdX nor /dev/xvdX exists.
func freeHostDevice(t *testing.T) string {
	t.Helper()
	for _, l := range "ponmlkjihgf" {
		_, e1 := os.Lstat("/dev/sd" + string(l))
		_, e2 := os.Lstat("/dev/xvd" + string(l))
		if os.IsNotExist(e1) && os.IsNotExist(e2) {
			return "/dev/sd" + string(l)
		}
	}
	t.Skip("no free /dev/sd[f-p] name")
	return ""
}

func loopsOf(t *testing.T, file string) string {
	t.Helper()
	out, err := exec.Command("losetup", "-j", file).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func waitAttachment(t *testing.T, srv *ec2emu.Server, vol, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for srv.AttachmentState(vol) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: attachment %q, want %q", vol, srv.AttachmentState(vol), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// An attachment to the Packer host with LoopDevices is a real block device at the requested
// path holding the volume's data; it goes attaching → attached, a detach of a device held
// exclusively stays busy until it is released, and then node and loop are gone. Close
// releases an attachment left behind.
func TestPackerHostLoopDevices(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loop devices need root")
	}
	srv, err := ec2emu.New(ec2emu.Options{Dir: t.TempDir(), VolumeDelay: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			srv.Close()
		}
	})
	host, err := srv.AddPackerHost(ec2emu.PackerHost{LoopDevices: true})
	if err != nil {
		t.Fatal(err)
	}
	disk := makeDisk(t, t.TempDir(), 64<<20, 7)
	ami, err := srv.AddImage(ec2emu.Image{Name: "src", RootDisk: disk})
	if err != nil {
		t.Fatal(err)
	}
	c := newClients(srv).ec2
	ctx := t.Context()
	im, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{ami}})
	if err != nil {
		t.Fatal(err)
	}
	snap := aws.ToString(im.Images[0].BlockDeviceMappings[0].Ebs.SnapshotId)
	newVolume := func() string {
		out, err := c.CreateVolume(ctx, &ec2.CreateVolumeInput{SnapshotId: aws.String(snap), AvailabilityZone: aws.String(srv.Region + "a")})
		if err != nil {
			t.Fatal(err)
		}
		id := aws.ToString(out.VolumeId)
		if out.State != "creating" {
			t.Errorf("new volume is %s", out.State)
		}
		if _, err := c.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: out.VolumeId, InstanceId: aws.String(host), Device: aws.String("/dev/sdz")}); apiCode(err) != "IncorrectState" {
			t.Errorf("attaching a creating volume: %v", err)
		}
		for {
			v, err := c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{id}})
			if err != nil {
				t.Fatal(err)
			}
			if v.Volumes[0].State == "available" {
				return id
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	vol := newVolume()
	dev := freeHostDevice(t)
	if _, err := c.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(vol), InstanceId: aws.String(host), Device: aws.String(dev)}); err != nil {
		t.Fatal(err)
	}
	if st := srv.AttachmentState(vol); st != "attaching" {
		t.Errorf("right after AttachVolume: %q", st)
	}
	waitAttachment(t, srv, vol, "attached")
	fi, err := os.Stat(dev)
	if err != nil || fi.Mode()&os.ModeDevice == 0 || fi.Mode()&os.ModeCharDevice != 0 {
		t.Fatalf("%s is not a block device: %v %v", dev, fi, err)
	}
	if got, want := fileSHA(t, dev, 64<<20), fileSHA(t, disk, -1); got != want {
		t.Errorf("%s reads %s, the image is %s", dev, got, want)
	}
	path, _ := srv.VolumePath(vol)
	if loopsOf(t, path) == "" {
		t.Error("no loop device over the volume file")
	}
	// A second volume cannot take the same name.
	vol2 := newVolume()
	if _, err := c.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(vol2), InstanceId: aws.String(host), Device: aws.String(dev)}); apiCode(err) != "InvalidParameterValue" || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("attaching over %s: %v", dev, err)
	}

	// Held exclusively (as a mounted file system would): the detach stays busy.
	fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DetachVolume(ctx, &ec2.DetachVolumeInput{VolumeId: aws.String(vol)}); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	waitAttachment(t, srv, vol, "busy")
	if n := srv.BusyDetaches(); n != 1 {
		t.Errorf("%d busy detaches", n)
	}
	if _, err := os.Stat(dev); err != nil {
		t.Errorf("the node of a busy device went away: %v", err)
	}
	unix.Close(fd)
	waitAttachment(t, srv, vol, "")
	if _, err := os.Lstat(dev); !os.IsNotExist(err) {
		t.Errorf("%s still exists after the detach: %v", dev, err)
	}
	if l := loopsOf(t, path); l != "" {
		t.Errorf("loop left after the detach: %s", l)
	}
	if _, err := c.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: aws.String(vol)}); err != nil {
		t.Fatal(err)
	}

	// Left attached: Close releases it.
	if _, err := c.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(vol2), InstanceId: aws.String(host), Device: aws.String(dev)}); err != nil {
		t.Fatal(err)
	}
	path2, _ := srv.VolumePath(vol2)
	if got := srv.HostDevices(); len(got) != 1 || !strings.HasPrefix(got[0], dev+"=/dev/loop") {
		t.Errorf("host devices %v", got)
	}
	srv.Close()
	closed = true
	if _, err := os.Lstat(dev); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Close: %v", dev, err)
	}
	if l := loopsOf(t, path2); l != "" {
		t.Errorf("loop left after Close: %s", l)
	}
}
