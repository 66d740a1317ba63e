package ec2

import (
	_ "embed"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/bootable"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

//go:embed test-fixtures/euca-kernel.pkr.hcl
var eucaKernelTemplate string

// TestAccEucaExternalKernel: a Eucalyptus-shaped EMI (a bare ext4 filesystem bundle) boots
// with an external kernel and ramdisk, registered as eki- and eri- bundles and named by the
// EMI. chromogenic-ec2 (skip_register) unbundles the EMI and, with the user's keys, its eki
// and eri next to the working copy; chromogenic-convert's bootable export, given no kernel,
// folds them into a stand-alone disk: its /boot holds the very kernel of the eki and an
// initramfs for it, and the unbundled files next to the working copy are gone with the input
// artifact.
func TestAccEucaExternalKernel(t *testing.T) {
	eucaAccOnly(t)
	env := packertest.Setup(t)
	e := newEucaCloud(t)
	dir := t.TempDir()
	image, kernel, ramdisk := testimages.Eucalyptus(t, dir)
	eki := e.seed(t, ec2emu.SeedBundle{Name: "vmlinuz", File: kernel, Type: "kernel"})
	eri := e.seed(t, ec2emu.SeedBundle{Name: "initrd", File: ramdisk, Type: "ramdisk"})
	emi := e.seed(t, ec2emu.SeedBundle{Name: "debian-euca", File: image, KernelID: eki, RamdiskID: eri})
	os.Remove(image)
	if !strings.HasPrefix(eki, "eki-") || !strings.HasPrefix(eri, "eri-") || !strings.HasPrefix(emi, "emi-") {
		t.Fatalf("ids %s %s %s", eki, eri, emi)
	}
	// The emulator describes them as Eucalyptus does.
	desc, err := ec2Client(e.srv).DescribeImages(t.Context(), &sdkec2.DescribeImagesInput{ImageIds: []string{eki, eri, emi}})
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range desc.Images {
		want := map[string]string{eki: "kernel", eri: "ramdisk", emi: "machine"}[aws.ToString(im.ImageId)]
		if string(im.ImageType) != want || !strings.HasPrefix(aws.ToString(im.ImageLocation), "images/") {
			t.Errorf("%s: type %s, location %s", aws.ToString(im.ImageId), im.ImageType, aws.ToString(im.ImageLocation))
		}
		if aws.ToString(im.ImageId) == emi && (aws.ToString(im.KernelId) != eki || aws.ToString(im.RamdiskId) != eri) {
			t.Errorf("EMI kernel %s ramdisk %s", aws.ToString(im.KernelId), aws.ToString(im.RamdiskId))
		}
	}
	images := e.srv.ImageIDs()

	out := filepath.Join(dir, "out")
	res := env.MustBuild(t, dir, eucaKernelTemplate, 15*time.Minute, "-var", "ec2_endpoint="+e.srv.EC2Endpoint, "-var", "s3_endpoint="+e.srv.S3Endpoint,
		"-var", "keys_dir="+e.keys, "-var", "source_ami="+emi, "-var", "output_directory="+out)
	for _, want := range []string{"external kernel " + eki, "external ramdisk " + eri, "external kernel " + filepath.Join(out, "work")} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("build output lacks %q", want)
		}
	}
	// The working copy and the fetched kernel and ramdisk went with the input artifact.
	ver, err := bootable.KernelVersion(kernel)
	if err != nil {
		t.Fatal(err)
	}
	packertest.CheckFoldedKernel(t, out, kernel, ver, filepath.Join(out, "work"), "/etc/chromogenic-kernel-test", "folded\n")
	if got := e.srv.ImageIDs(); len(got) != len(images) {
		t.Errorf("images %v, before %v", got, images)
	}
}
