package ec2

import (
	_ "embed"
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
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2/bundle"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

//go:embed test-fixtures/euca-eucarc.pkr.hcl
var eucarcTemplate string

// TestAccEucaParavirtualEucarc: a packer build whose template has only the source EMI, a
// name and `eucalyptus { bucket = ... }`: the endpoints, keys, certificates and account come
// from a eucarc-style environment (EC2_ACCESS_KEY/EC2_SECRET_KEY win over wrong AWS_* keys,
// which the emulator would refuse). The source is a paravirtual instance-store EMI booting
// with an eki and an eri, rebundled from an older EMI (its manifest's ancestry). The new
// EMI is paravirtual with the same eki and eri (DescribeImages, and awscli's describe-images
// as a client nobody here wrote); its manifest, signed by the eucarc user, carries the
// kernel, the ramdisk and the ancestry: the source EMI, then the source's ancestors; the
// cloud unbundles it (the marker is in the disk).
func TestAccEucaParavirtualEucarc(t *testing.T) {
	eucaAccOnly(t)
	env := packertest.Setup(t)
	e := newEucaCloud(t)
	dir := t.TempDir()
	tiny := filepath.Join(dir, "tiny")
	if err := os.WriteFile(tiny, []byte(strings.Repeat("kernel or ramdisk\n", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	eki := e.seed(t, ec2emu.SeedBundle{Name: "vmlinuz-xen", File: tiny, Type: "kernel"})
	eri := e.seed(t, ec2emu.SeedBundle{Name: "initrd-xen", File: tiny, Type: "ramdisk"})
	src := e.seed(t, ec2emu.SeedBundle{Name: "debian-pv", File: sampleCopy(t), KernelID: eki, RamdiskID: eri,
		VirtualizationType: "paravirtual", AncestorAMIIDs: []string{"emi-0000abcd", "emi-00001234"}})

	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG0")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	for k, v := range map[string]string{"EC2_URL": e.srv.EC2Endpoint, "S3_URL": e.srv.S3Endpoint, "EC2_ACCESS_KEY": e.srv.AccessKeyID,
		"EC2_SECRET_KEY": e.srv.SecretAccessKey, "EC2_CERT": filepath.Join(e.keys, "euca-cert.pem"),
		"EC2_PRIVATE_KEY": filepath.Join(e.keys, "euca-pk.pem"), "EUCALYPTUS_CERT": filepath.Join(e.keys, "cloud-cert.pem"),
		"EC2_ACCOUNT_NUMBER": "", "EC2_USER_ID": "123456789012"} {
		t.Setenv(k, v)
	}
	name := fmt.Sprintf("euca-pv-%d", time.Now().UnixNano())
	marker := fmt.Sprintf("marker-%d", time.Now().UnixNano())
	res := env.MustBuild(t, dir, eucarcTemplate, 15*time.Minute, "-var", "source_ami="+src, "-var", "ami_name="+name,
		"-var", "output_directory="+filepath.Join(dir, "out"), "-var", "marker="+marker)
	if strings.Contains(res.Output, e.srv.SecretAccessKey) {
		t.Error("the EC2_SECRET_KEY value is in the build output")
	}
	if n := e.srv.CallCount("DescribeServiceCertificates"); n != 0 {
		t.Errorf("%d DescribeServiceCertificates calls with EUCALYPTUS_CERT set", n)
	}
	made := imageByName(t, e.srv, name)
	if made == nil {
		t.Fatalf("EMI %s not registered:\n%s", name, res.Output)
	}
	id := aws.ToString(made.ImageId)
	if made.VirtualizationType != types.VirtualizationTypeParavirtual || aws.ToString(made.KernelId) != eki || aws.ToString(made.RamdiskId) != eri ||
		made.RootDeviceType != types.DeviceTypeInstanceStore {
		t.Errorf("new EMI %s: %s, kernel %s, ramdisk %s, %s", id, made.VirtualizationType, aws.ToString(made.KernelId),
			aws.ToString(made.RamdiskId), made.RootDeviceType)
	}
	// The manifest the cloud registered: signed by the eucarc user, with the ids and ancestry.
	bucket, key, _ := strings.Cut(aws.ToString(made.ImageLocation), "/")
	p, ok := e.srv.ObjectPath(bucket, key)
	if !ok {
		t.Fatalf("no manifest at %s", aws.ToString(made.ImageLocation))
	}
	text, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	m, err := bundle.ParseManifest(text)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Verify(e.user.Cert); err != nil {
		t.Error(err)
	}
	if want := []string{src, "emi-0000abcd", "emi-00001234"}; !slices.Equal(m.AncestorAMIIDs, want) || m.KernelID != eki || m.RamdiskID != eri || m.User != "123456789012" {
		t.Errorf("manifest: ancestry %v (want %v), kernel %s, ramdisk %s, user %s", m.AncestorAMIIDs, want, m.KernelID, m.RamdiskID, m.User)
	}
	disk, ok := e.srv.ImageDiskPath(id)
	if !ok {
		t.Fatal("the new EMI has no unbundled disk")
	}
	if got := packertest.GuestFiles(t, disk, "/root/ec2-acc-marker"); string(got["/root/ec2-acc-marker"]) != marker+"\n" {
		t.Errorf("marker in the new EMI = %q", got["/root/ec2-acc-marker"])
	}

	// awscli (Debian's) describes the new EMI the same way.
	const awsCLI = "/usr/bin/aws"
	if _, err := os.Stat(awsCLI); err != nil {
		t.Fatalf("%s missing: install Debian's awscli package (scripts/install-deps.sh)", awsCLI)
	}
	cmd := exec.Command(awsCLI, "ec2", "describe-images", "--endpoint-url", e.srv.EC2Endpoint, "--image-ids", id, "--output", "json")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "LANG=C.UTF-8", "AWS_ACCESS_KEY_ID=" + e.srv.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + e.srv.SecretAccessKey, "AWS_DEFAULT_REGION=eucalyptus", "AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true", "NO_PROXY=127.0.0.1", "AWS_PAGER="}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws ec2 describe-images: %v %s", err, out)
	}
	var d struct {
		Images []struct{ ImageId, KernelId, RamdiskId, VirtualizationType string }
	}
	if err := json.Unmarshal(out, &d); err != nil || len(d.Images) != 1 {
		t.Fatalf("describe-images: %v %s", err, out)
	}
	if im := d.Images[0]; im.ImageId != id || im.KernelId != eki || im.RamdiskId != eri || im.VirtualizationType != "paravirtual" {
		t.Errorf("awscli describe-images: %+v", im)
	}
}

// seed registers an instance-store image of the user's (its bundle in the bucket "images").
func (e *eucaCloud) seed(t *testing.T, o ec2emu.SeedBundle) string {
	t.Helper()
	o.Bucket, o.User = "images", e.user
	id, err := e.srv.SeedBundle(o)
	if err != nil {
		t.Fatalf("seed %s: %v", o.Name, err)
	}
	return id
}
