package ec2

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/sys/unix"

	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

func TestAttachName(t *testing.T) {
	for in, want := range map[string]string{
		"/dev/sdf": "/dev/sdf", "/dev/xvdg": "/dev/sdg", "/dev/vdh": "/dev/sdh", "/dev/hdp": "/dev/sdp",
		"/dev/xvdaa": "/dev/sdaa", "/dev/nvme1n1": "", "sdf": "", "/dev/sdf1": "", "/dev/sd": "", "/dev/../sdf": "",
	} {
		if got := AttachName(in); got != want {
			t.Errorf("AttachName(%q) = %q, want %q", in, got, want)
		}
	}
}

// fakeRoots is an empty fake /dev and /sys.
func fakeRoots(t *testing.T) DeviceRoots {
	t.Helper()
	d := t.TempDir()
	r := DeviceRoots{Dev: filepath.Join(d, "dev"), Sys: filepath.Join(d, "sys")}
	for _, p := range []string{r.Dev, filepath.Join(r.Sys, "block")} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func touch(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// mknodBlock makes a block device node (of the loop driver's major, never opened) in a fake
// /dev. Needs root.
func mknodBlock(t *testing.T, p string, minor uint32) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mknod needs root")
	}
	if err := unix.Mknod(p, unix.S_IFBLK|0o600, int(unix.Mkdev(7, minor))); err != nil {
		t.Fatal(err)
	}
}

// Free names skip what the instance has attached (in any spelling) and what the host has
// under any spelling.
func TestFreeNames(t *testing.T) {
	r := fakeRoots(t)
	touch(t, filepath.Join(r.Dev, "xvdg"), "")    // present on the host as xvd
	touch(t, filepath.Join(r.Dev, "sdh"), "")     // present as sd
	touch(t, filepath.Join(r.Dev, "vdi"), "")     // present as vd
	touch(t, filepath.Join(r.Dev, "nvme0n1"), "") // irrelevant
	got := r.FreeNames([]string{"/dev/xvda", "/dev/sdf", "/dev/xvdj", "bogus"})
	want := []string{"/dev/sdk", "/dev/sdl", "/dev/sdm", "/dev/sdn", "/dev/sdo", "/dev/sdp"}
	if !slices.Equal(got, want) {
		t.Errorf("FreeNames = %v, want %v", got, want)
	}
}

// FindDevice: the requested name, its xvd spelling, or the NVMe namespace / virtio disk whose
// serial is the volume id; a regular file is not a device.
func TestFindDevice(t *testing.T) {
	const vol = "vol-0123456789abcdef0"
	t.Run("requested", func(t *testing.T) {
		r := fakeRoots(t)
		if _, err := r.FindDevice("/dev/sdf", vol); !errors.Is(err, ErrNoDevice) {
			t.Fatalf("nothing there: %v", err)
		}
		mknodBlock(t, filepath.Join(r.Dev, "sdf"), 200)
		if got, err := r.FindDevice("/dev/sdf", vol); err != nil || got != filepath.Join(r.Dev, "sdf") {
			t.Errorf("= %q, %v", got, err)
		}
	})
	t.Run("xen", func(t *testing.T) {
		r := fakeRoots(t)
		touch(t, filepath.Join(r.Dev, "sdf"), "not a device")
		mknodBlock(t, filepath.Join(r.Dev, "xvdf"), 201)
		if got, err := r.FindDevice("/dev/sdf", vol); err != nil || got != filepath.Join(r.Dev, "xvdf") {
			t.Errorf("= %q, %v", got, err)
		}
	})
	t.Run("nvme", func(t *testing.T) {
		r := fakeRoots(t)
		touch(t, filepath.Join(r.Sys, "block", "nvme0n1", "device", "serial"), "vol0fffffffffffffff00   \n")
		touch(t, filepath.Join(r.Sys, "block", "nvme1n1", "device", "serial"), "vol0123456789abcdef0    \n")
		mknodBlock(t, filepath.Join(r.Dev, "nvme0n1"), 202)
		if _, err := r.FindDevice("/dev/sdf", vol); !errors.Is(err, ErrNoDevice) || !strings.Contains(err.Error(), "nvme1n1") {
			t.Fatalf("serial found but no node yet: %v", err)
		}
		mknodBlock(t, filepath.Join(r.Dev, "nvme1n1"), 203)
		if got, err := r.FindDevice("/dev/sdf", vol); err != nil || got != filepath.Join(r.Dev, "nvme1n1") {
			t.Errorf("= %q, %v", got, err)
		}
	})
	t.Run("virtio", func(t *testing.T) {
		r := fakeRoots(t)
		touch(t, filepath.Join(r.Sys, "block", "vdb", "serial"), vol)
		mknodBlock(t, filepath.Join(r.Dev, "vdb"), 204)
		if got, err := r.FindDevice("/dev/xvdf", vol); err != nil || got != filepath.Join(r.Dev, "vdb") {
			t.Errorf("= %q, %v", got, err)
		}
	})
}

// HostIdentity reads the emulator's metadata service through the SDK's standard endpoint
// setting, and fails clearly when the service is disabled.
func TestHostIdentity(t *testing.T) {
	for _, d := range []ec2emu.Dialect{ec2emu.AWS, ec2emu.Eucalyptus} {
		srv := ec2emu.Start(t, ec2emu.Options{Dialect: d})
		id, err := srv.AddPackerHost(ec2emu.PackerHost{})
		if err != nil {
			t.Fatal(err)
		}
		isolate(t)
		t.Setenv("AWS_EC2_METADATA_DISABLED", "false")
		t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", srv.IMDSEndpoint)
		cl, err := Connect(t.Context(), Access{AccessKey: srv.AccessKeyID, SecretKey: srv.SecretAccessKey, Region: srv.Region, EC2Endpoint: srv.EC2Endpoint})
		if err != nil {
			t.Fatal(err)
		}
		h, err := HostIdentity(t.Context(), cl.Config)
		if err != nil {
			t.Fatal(err)
		}
		want := Host{InstanceID: id, AvailabilityZone: srv.Region + "a", Region: srv.Region}
		if d == ec2emu.Eucalyptus {
			want.Region = ""
		}
		if h != want {
			t.Errorf("dialect %d: %+v, want %+v", d, h, want)
		}
		t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
		cfg, err := LoadConfig(t.Context(), Access{AccessKey: "a", SecretKey: "b", Region: "r"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := HostIdentity(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "instance metadata service") {
			t.Errorf("disabled: %v", err)
		}
	}
}

// A volume's life on the API: creating → available, attaching → attached (a name in use is
// recognised), detaching → available, deleted.
func TestVolumeLifecycle(t *testing.T) {
	srv := ec2emu.Start(t, ec2emu.Options{VolumeDelay: 150 * time.Millisecond})
	ami, err := srv.AddImage(ec2emu.Image{Name: "src", VolumeSizeGiB: 1})
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "root.raw")
	touch(t, root, "root")
	inst, err := srv.AddInstance(ec2emu.Instance{RootDisk: root})
	if err != nil {
		t.Fatal(err)
	}
	cl := connect(t, srv)
	ctx := t.Context()
	im, err := GetImage(ctx, cl.EC2, ami)
	if err != nil {
		t.Fatal(err)
	}
	snap, _, _ := RootSnapshot(im)
	vol, err := CreateVolume(ctx, cl.EC2, snap, srv.Region+"a", map[string]string{"Name": "capture"}, false)
	if err != nil {
		t.Fatal(err)
	}
	// Tagged at creation: no CreateTags call, the tag is there while the volume is creating.
	if v, err := GetVolume(ctx, cl.EC2, vol); err != nil || v.State != types.VolumeStateCreating || len(v.Tags) != 1 ||
		aws.ToString(v.Tags[0].Key) != "Name" || aws.ToString(v.Tags[0].Value) != "capture" || srv.CallCount("CreateTags") != 0 {
		t.Fatalf("new volume %+v, %v, %d CreateTags calls", v, err, srv.CallCount("CreateTags"))
	}
	if err := WaitVolume(ctx, cl.EC2, vol, "available", 10*time.Second, VolumeAvailable); err != nil {
		t.Fatal(err)
	}
	names, err := InstanceDeviceNames(ctx, cl.EC2, inst)
	if err != nil || !slices.Equal(names, []string{"/dev/xvda"}) {
		t.Fatalf("device names %v, %v", names, err)
	}
	if err := AttachVolume(ctx, cl.EC2, vol, inst, "/dev/xvda"); !DeviceNameInUse(err) {
		t.Errorf("attach over the root device: %v", err)
	}
	if err := AttachVolume(ctx, cl.EC2, vol, inst, "/dev/sdf"); err != nil {
		t.Fatal(err)
	}
	if DeviceNameInUse(AttachVolume(ctx, cl.EC2, vol, inst, "/dev/sdg")) {
		t.Error("VolumeInUse taken for a name in use")
	}
	if err := WaitVolume(ctx, cl.EC2, vol, "attached", 10*time.Second, VolumeAttached(inst)); err != nil {
		t.Fatal(err)
	}
	if err := DeleteVolume(ctx, cl.EC2, vol); err == nil {
		t.Error("an attached volume was deleted")
	}
	if err := DetachVolume(ctx, cl.EC2, vol, inst, false); err != nil {
		t.Fatal(err)
	}
	if err := WaitVolume(ctx, cl.EC2, vol, "available", 10*time.Second, VolumeAvailable); err != nil {
		t.Fatal(err)
	}
	if err := DetachVolume(ctx, cl.EC2, vol, inst, false); err != nil {
		t.Errorf("detaching a detached volume: %v", err)
	}
	if err := DeleteVolume(ctx, cl.EC2, vol); err != nil {
		t.Fatal(err)
	}
	if err := WaitVolume(ctx, cl.EC2, vol, "available", 300*time.Millisecond, VolumeAvailable); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("waiting for a deleted volume: %v", err)
	}
	out, err := cl.EC2.DescribeVolumes(ctx, &sdkec2.DescribeVolumesInput{})
	if err != nil || len(out.Volumes) != 1 || aws.ToString(out.Volumes[0].Attachments[0].InstanceId) != inst {
		t.Errorf("volumes left: %+v, %v", out, err)
	}
}
