package ec2

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2/bundle"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// PublishEucalyptus registers a paravirtual EMI with its eki and eri both ways: a bundle
// (RegisterImage with ImageLocation, KernelId, RamdiskId, VirtualizationType, as
// euca-register does; the manifest carries the ids and the ancestry, signed by the user, and
// the cloud unbundles it to the same bytes) and ImportVolume (an EBS-backed EMI registered
// with the ids). DescribeImages shows them.
func TestEucaPublishParavirtual(t *testing.T) {
	ctx := t.Context()
	e := newEuca(t)
	tiny, _ := testImage(t, 64<<10, map[int64]int{0: 4096})
	seed := func(name, typ string) string {
		id, err := e.srv.SeedBundle(ec2emu.SeedBundle{Name: name, File: tiny, Bucket: "kernels", User: e.user, Type: typ})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	eki, eri := seed("vmlinuz", "kernel"), seed("initrd", "ramdisk")
	boot := EucaBoot{VirtualizationType: "paravirtual", KernelID: eki, RamdiskID: eri}
	path, want := testImage(t, 12<<20, map[int64]int{0: 1 << 20, 9 << 20: 8192})
	img, err := diskimage.OpenFormat(path, "raw")
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	ancestors := []string{"emi-0000000a", "emi-00000001"}
	for _, register := range []string{"bundle", "import-volume"} {
		res, err := PublishEucalyptus(ctx, e.cl, img, path, EucaPublishOptions{Name: "pv-" + register, Register: register, Bucket: "out",
			AvailabilityZone: e.srv.Region + "a", AccountID: "000000000000", Keys: e.keys, Boot: boot, AncestorAMIIDs: ancestors,
			StateTimeout: time.Minute, Report: Report{Say: func(s string) { t.Log(s) }, Message: func(s string) { t.Log(s) }}})
		if err != nil {
			t.Fatalf("%s: %v", register, err)
		}
		im, err := GetImage(ctx, e.cl.EC2, res.ImageID)
		if err != nil {
			t.Fatal(err)
		}
		if im.VirtualizationType != "paravirtual" || aws.ToString(im.KernelId) != eki || aws.ToString(im.RamdiskId) != eri {
			t.Errorf("%s: EMI %s virtualization %s kernel %s ramdisk %s", register, res.ImageID, im.VirtualizationType,
				aws.ToString(im.KernelId), aws.ToString(im.RamdiskId))
		}
		if register != "bundle" {
			continue
		}
		disk, ok := e.srv.ImageDiskPath(res.ImageID)
		if !ok || !bytes.Equal(readFile(t, disk), want) {
			t.Error("the cloud's unbundled disk differs")
		}
		out, err := e.cl.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("out"), Key: aws.String(res.Keys[len(res.Keys)-1])})
		if err != nil {
			t.Fatal(err)
		}
		var text bytes.Buffer
		text.ReadFrom(out.Body) //nolint:errcheck // checked by the parse
		out.Body.Close()
		m, err := bundle.ParseManifest(text.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Verify(e.user.Cert); err != nil {
			t.Error(err)
		}
		if m.KernelID != eki || m.RamdiskID != eri || !slices.Equal(m.AncestorAMIIDs, ancestors) {
			t.Errorf("manifest kernel %s ramdisk %s ancestry %v", m.KernelID, m.RamdiskID, m.AncestorAMIIDs)
		}
	}
}
