package ec2import

import (
	_ "embed"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

//go:embed test-fixtures/import.pkr.hcl
var importTemplate string

// TestAccEC2ImportLocal provisions the sample image with chromogenic-local and pushes it with
// chromogenic-ec2-import: the registered AMI's snapshot holds exactly the working copy's bytes.
func TestAccEC2ImportLocal(t *testing.T) {
	testtier.Acceptance(t, "a packer build against the EC2 emulator")
	env := packertest.Setup(t)
	srv := ec2emu.Start(t)
	isolateAWS(t)
	srv.InjectFault(ec2emu.Fault{Service: "ebs", Action: "PutSnapshotBlock", Skip: 20, Times: 2, Code: "InternalServerException"})
	dir := t.TempDir()
	src := filepath.Join(dir, "source.raw")
	packertest.CopySparse(t, testimages.Sample(t), src)
	out := filepath.Join(dir, "out")
	name := "acc-import"
	res := env.MustBuild(t, dir, importTemplate, 15*time.Minute,
		"-var", "source_path="+src, "-var", "output_directory="+out, "-var", "region="+srv.Region,
		"-var", "ec2_endpoint="+srv.EC2Endpoint, "-var", "ebs_endpoint="+srv.EBSEndpoint,
		"-var", "access_key="+srv.AccessKeyID, "-var", "secret_key="+srv.SecretAccessKey, "-var", "ami_name="+name)
	c := sdkec2.NewFromConfig(srv.AWSConfig(), func(o *sdkec2.Options) { o.BaseEndpoint = aws.String(srv.EC2Endpoint) })
	imgs, err := c.DescribeImages(t.Context(), &sdkec2.DescribeImagesInput{Owners: []string{"self"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{name}}}})
	if err != nil || len(imgs.Images) != 1 {
		t.Fatalf("AMI %s: %v %v\n%s", name, imgs, err, res.Output)
	}
	im := imgs.Images[0]
	if im.BootMode != "uefi" || !aws.ToBool(im.EnaSupport) || im.State != types.ImageStateAvailable || len(im.Tags) != 1 {
		t.Errorf("AMI %+v", im)
	}
	snap := aws.ToString(im.BlockDeviceMappings[0].Ebs.SnapshotId)
	if ids := srv.SnapshotIDs(); !slices.Equal(ids, []string{snap}) {
		t.Errorf("snapshots %v", ids)
	}
	got := checkSnapshotIsWorkingCopy(t, srv, snap, out, dir)
	files := packertest.GuestFiles(t, got, "/etc/chromogenic-ec2-import-marker")
	if !strings.Contains(string(files["/etc/chromogenic-ec2-import-marker"]), "imported-by-chromogenic") {
		t.Errorf("marker missing from the imported snapshot")
	}
}
