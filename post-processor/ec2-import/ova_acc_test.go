package ec2import

import (
	_ "embed"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

//go:embed test-fixtures/import-ova.pkr.hcl
var importOVATemplate string

// TestAccEC2ImportOVA: after chromogenic-convert with formats ["ova", "qcow2"] the import
// reads the qcow2 (convert's image_path names the OVA first); after an OVA-only convert it
// reads the VMDK inside the OVA. Both AMIs' snapshots hold exactly the working copy's bytes.
func TestAccEC2ImportOVA(t *testing.T) {
	eucaAccOnly(t)
	env := packertest.Setup(t)
	srv := ec2emu.Start(t)
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	dir := t.TempDir()
	src := filepath.Join(dir, "source.raw")
	packertest.CopySparse(t, testimages.Sample(t), src)
	out := filepath.Join(dir, "out")
	name := "acc-import-ova"
	res := env.MustBuild(t, dir, importOVATemplate, 20*time.Minute,
		"-var", "source_path="+src, "-var", "output_directory="+out, "-var", "region="+srv.Region,
		"-var", "ec2_endpoint="+srv.EC2Endpoint, "-var", "ebs_endpoint="+srv.EBSEndpoint,
		"-var", "access_key="+srv.AccessKeyID, "-var", "secret_key="+srv.SecretAccessKey, "-var", "ami_name="+name)
	res.WantOutput(t,
		"Writing "+filepath.Join(out, "both.qcow2")+" (qcow2) (qcow2,",
		"Writing "+filepath.Join(out, "only.ova")+" (ova; disk only-disk1.vmdk, vmdk) (vmdk,")
	working := filepath.Join(out, "ova.raw")
	fi, err := os.Stat(working)
	if err != nil {
		t.Fatal(err)
	}
	c := sdkec2.NewFromConfig(srv.AWSConfig(), func(o *sdkec2.Options) { o.BaseEndpoint = aws.String(srv.EC2Endpoint) })
	for _, suffix := range []string{"both", "only"} {
		imgs, err := c.DescribeImages(t.Context(), &sdkec2.DescribeImagesInput{Owners: []string{"self"},
			Filters: []types.Filter{{Name: aws.String("name"), Values: []string{name + "-" + suffix}}}})
		if err != nil || len(imgs.Images) != 1 {
			t.Errorf("AMI %s-%s: %v %v\n%s", name, suffix, imgs, err, res.Output)
			continue
		}
		snap := aws.ToString(imgs.Images[0].BlockDeviceMappings[0].Ebs.SnapshotId)
		got := filepath.Join(dir, suffix+".raw")
		if err := srv.WriteSnapshotFile(snap, got, fi.Size()); err != nil {
			t.Fatal(err)
		}
		if o, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", "raw", working, got).CombinedOutput(); err != nil {
			t.Errorf("snapshot of %s differs from the working copy: %v %s", suffix, err, o)
		}
		files := packertest.GuestFiles(t, got, "/etc/chromogenic-ec2-import-marker")
		if !strings.Contains(string(files["/etc/chromogenic-ec2-import-marker"]), "imported-from-ova") {
			t.Errorf("marker missing from the %s snapshot", suffix)
		}
	}
}
