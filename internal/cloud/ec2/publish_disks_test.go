package ec2

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// Publish with other disks: every disk in a snapshot of its own (tagged as the root's), one
// AMI mapping each at its device name (named after the root's when not given), and the
// snapshots' bytes are the disks'.
func TestPublishSeveralDisks(t *testing.T) {
	srv := ec2emu.Start(t, ec2emu.Options{ImageDelay: 50 * time.Millisecond})
	cl := connect(t, srv)
	root, wantRoot := testImage(t, 3*BlockSize, map[int64]int{0: 100, 2 * BlockSize: 7})
	d2, want2 := testImage(t, 2*BlockSize, map[int64]int{BlockSize: 33})
	d3, want3 := testImage(t, 4*BlockSize, map[int64]int{3 * BlockSize: 1000})
	res, err := Publish(t.Context(), cl, openRaw(t, root), "root", PublishOptions{
		Name: "multi", RootDeviceName: "/dev/sda1", SnapshotTags: map[string]string{"k": "v"}, StateTimeout: time.Minute,
		Others: []OtherDisk{
			{Image: openRaw(t, d2), Label: "disk2", Device: "/dev/sdf", VolumeSizeGiB: 5, VolumeType: "io1", DeleteOnTermination: aws.Bool(false)},
			{Image: openRaw(t, d3), Label: "disk3"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Snapshots) != 3 || res.Snapshots[0] != res.SnapshotID {
		t.Fatalf("published %+v", res)
	}
	im, err := GetImage(t.Context(), cl.EC2, res.ImageID)
	if err != nil {
		t.Fatal(err)
	}
	disks, _, err := ImageDisks(im)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range disks {
		got = append(got, d.Device)
	}
	if want := []string{"/dev/sda1", "/dev/sdb", "/dev/sdf"}; !slices.Equal(got, want) {
		t.Fatalf("mappings %v, want %v", got, want)
	}
	byDev := map[string]Disk{}
	for _, d := range disks {
		byDev[d.Device] = d
	}
	if d := byDev["/dev/sdf"]; d.VolumeSizeGiB != 5 || d.VolumeType != "io1" || aws.ToBool(d.DeleteOnTermination) || d.SnapshotID != res.Snapshots[1] {
		t.Errorf("/dev/sdf mapping %+v", d)
	}
	if d := byDev["/dev/sdb"]; d.VolumeSizeGiB != 1 || !aws.ToBool(d.DeleteOnTermination) || d.SnapshotID != res.Snapshots[2] {
		t.Errorf("/dev/sdb mapping %+v", d)
	}
	for dev, want := range map[string][]byte{"/dev/sda1": wantRoot, "/dev/sdf": want2, "/dev/sdb": want3} {
		out := filepath.Join(t.TempDir(), "back.raw")
		f, _ := os.Create(out)
		if _, err := DownloadSnapshot(t.Context(), cl.EBS, byDev[dev].SnapshotID, f, TransferOptions{}); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if b := readAll(t, out); !bytes.Equal(b[:len(want)], want) || !diskimage.IsZero(b[len(want):]) {
			t.Errorf("%s: the snapshot's bytes differ from the disk's", dev)
		}
	}
	_, tagged, err := FindTagged(t.Context(), cl.EC2, "k", "v")
	if slices.Sort(tagged); err != nil || !slices.Equal(tagged, slices.Sorted(slices.Values(res.Snapshots))) {
		t.Errorf("tagged snapshots %v %v, want %v", tagged, err, res.Snapshots)
	}
}

// A failure on the third disk deletes the two snapshots Publish wrote, and only them: the
// user's own snapshot survives.
func TestPublishSeveralDisksFailureLeavesNothing(t *testing.T) {
	srv := ec2emu.Start(t)
	cl := connect(t, srv)
	own, err := srv.AddImage(ec2emu.Image{Name: "users-own"})
	if err != nil {
		t.Fatal(err)
	}
	images, snaps := srv.ImageIDs(), srv.SnapshotIDs()
	root, _ := testImage(t, 2*BlockSize, map[int64]int{0: 10})
	d2, _ := testImage(t, 2*BlockSize, map[int64]int{0: 10})
	d3, _ := testImage(t, 2*BlockSize, map[int64]int{0: 10})
	srv.InjectFault(ec2emu.Fault{Service: "ebs", Action: "CompleteSnapshot", Skip: 2, Times: -1, Code: "ValidationException",
		Message: "The aggregated checksum does not match the blocks written"})
	_, err = Publish(t.Context(), cl, openRaw(t, root), "root", PublishOptions{Name: "multi-fail", StateTimeout: time.Minute,
		Others: []OtherDisk{{Image: openRaw(t, d2), Label: "disk2"}, {Image: openRaw(t, d3), Label: "disk3"}}})
	if err == nil || !strings.Contains(err.Error(), "disk 3") {
		t.Fatalf("err = %v, want the third disk's failure", err)
	}
	if got := srv.ImageIDs(); !slices.Equal(got, images) || !slices.Contains(got, own) {
		t.Errorf("images %v, before %v", got, images)
	}
	if got := srv.SnapshotIDs(); !slices.Equal(got, snaps) {
		t.Errorf("snapshots %v, before %v", got, snaps)
	}
}

// An encrypted data disk makes the source of a capture of every disk encrypted, with its
// key (the root's when the root is encrypted); SourceEncryption looks at the root alone.
func TestDisksEncryption(t *testing.T) {
	srv := ec2emu.Start(t)
	cl := connect(t, srv)
	root, _ := testImage(t, 2*BlockSize, map[int64]int{0: 10})
	data, _ := testImage(t, 2*BlockSize, map[int64]int{0: 10})
	const dataKey = "arn:aws:kms:us-east-1:123456789012:key/aaaaaaaa-2222-4333-8444-555555555555"
	ami, err := srv.AddImage(ec2emu.Image{Name: "enc-data", RootDisk: root, DataDisks: []ec2emu.Disk{
		{Device: "/dev/xvdc", Path: data, Encrypted: true, KmsKeyID: dataKey}, {Device: "/dev/xvdb", Path: data}}})
	if err != nil {
		t.Fatal(err)
	}
	iid, err := srv.AddInstance(ec2emu.Instance{Name: "enc-data", RootDisk: root, DataDisks: []ec2emu.Disk{
		{Device: "/dev/xvdc", Path: data, Encrypted: true, KmsKeyID: dataKey}, {Device: "/dev/xvdb", Path: data}}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := GetImage(t.Context(), cl.EC2, ami)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := FindInstance(t.Context(), cl.EC2, iid, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what string
		inst *types.Instance
		img  *types.Image
	}{{"image", nil, img}, {"instance", inst, nil}} {
		if enc, _, err := SourceEncryption(t.Context(), cl.EC2, c.inst, c.img); err != nil || enc {
			t.Errorf("%s: SourceEncryption %v %v, want the root's (not encrypted)", c.what, enc, err)
		}
		if enc, key, err := DisksEncryption(t.Context(), cl.EC2, c.inst, c.img); err != nil || !enc || key != dataKey {
			t.Errorf("%s: DisksEncryption %v %q %v, want the data disk's key", c.what, enc, key, err)
		}
	}
}
