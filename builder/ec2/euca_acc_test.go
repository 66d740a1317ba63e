package ec2

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2/bundle"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

//go:embed test-fixtures/euca.pkr.hcl
var eucaTemplate string

// eucaCloud is a Eucalyptus-dialect emulator, a user whose signing certificate is registered
// with it, and a directory with the user's key and certificate and the cloud's certificate.
type eucaCloud struct {
	srv  *ec2emu.Server
	user *bundle.Identity
	keys string
}

func newEucaCloud(t *testing.T) *eucaCloud {
	t.Helper()
	return newEucaCloudOn(t, emulator(t, ec2emu.Options{Dialect: ec2emu.Eucalyptus}))
}

// newEucaCloudOn is newEucaCloud on a Eucalyptus-dialect emulator already started.
func newEucaCloudOn(t *testing.T, srv *ec2emu.Server) *eucaCloud {
	t.Helper()
	user, err := bundle.NewIdentity("packer-user")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.RegisterUserCertificate(user.CertPEM); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, data := range map[string][]byte{"euca-pk.pem": user.KeyPEM, "euca-cert.pem": user.CertPEM, "cloud-cert.pem": srv.CloudCertPEM()} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return &eucaCloud{srv: srv, user: user, keys: dir}
}

func (e *eucaCloud) args(dir string, kv ...string) []string {
	args := []string{"-var", "ec2_endpoint=" + e.srv.EC2Endpoint, "-var", "s3_endpoint=" + e.srv.S3Endpoint,
		"-var", "keys_dir=" + e.keys, "-var", "output_directory=" + filepath.Join(dir, "out")}
	for i := 0; i+1 < len(kv); i += 2 {
		args = append(args, "-var", kv[i]+"="+kv[i+1])
	}
	return args
}

// bundleKeysOf lists the objects of the bundle an image was registered from.
func bundleKeysOf(t *testing.T, srv *ec2emu.Server, im *types.Image) (string, []string) {
	t.Helper()
	bucket, key, _ := strings.Cut(aws.ToString(im.ImageLocation), "/")
	prefix := strings.TrimSuffix(key, ".manifest.xml")
	var keys []string
	for _, k := range srv.ObjectKeys(bucket) {
		if strings.HasPrefix(k, prefix+".") {
			keys = append(keys, k)
		}
	}
	return bucket, keys
}

// TestAccEucaEMIToEMI: Eucalyptus → Eucalyptus. The source is an instance-store EMI
// registered from a bundle of the sample image (as euca-bundle-image, euca-upload-bundle and
// euca-register make it); the build downloads and unbundles it with the user's key, runs a
// shell provisioner in the chroot, bundles the result and registers a new EMI. The cloud
// (the emulator, with its own key) unbundles the new EMI: it holds the marker. The source
// EMI and its bundle are untouched; the only objects in the build's bucket are the new EMI's
// bundle. The cloud is a Eucalyptus before 4.4: its object storage accepts only S3 signature
// version 2 (s3_signature_version = "v2"); every S3 request of the build was signed so.
func TestAccEucaEMIToEMI(t *testing.T) {
	eucaAccOnly(t)
	env := packertest.Setup(t)
	e := newEucaCloudOn(t, emulator(t, ec2emu.Options{Dialect: ec2emu.Eucalyptus, S3SigV2: true}))
	src, err := e.srv.BundledImage("debian-12-sample", sampleCopy(t), "images", e.user)
	if err != nil {
		t.Fatal(err)
	}
	srcObjects := e.srv.ObjectKeys("images")
	dir := t.TempDir()
	name := fmt.Sprintf("euca-acc-%d", time.Now().UnixNano())
	marker := fmt.Sprintf("marker-%d", time.Now().UnixNano())
	res := env.MustBuild(t, dir, eucaTemplate, 15*time.Minute, e.args(dir, "source_ami", src, "ami_name", name, "marker", marker,
		"cloud_cert_file", filepath.Join(e.keys, "cloud-cert.pem"), "s3_signature_version", "v2")...)
	var s3Calls int
	for _, c := range e.srv.Calls() {
		if c.Service == "s3" {
			s3Calls++
			if c.Status >= 300 && c.Status != 404 {
				t.Errorf("S3 %s answered %d", c.Action, c.Status)
			}
		}
	}
	if s3Calls == 0 {
		t.Error("no S3 request")
	}
	made := imageByName(t, e.srv, name)
	if made == nil {
		t.Fatalf("EMI %s not registered:\n%s", name, res.Output)
	}
	id := aws.ToString(made.ImageId)
	if !strings.HasPrefix(id, "emi-") || made.State != types.ImageStateAvailable || made.RootDeviceType != types.DeviceTypeInstanceStore ||
		!strings.HasPrefix(aws.ToString(made.ImageLocation), "packer-bundles/") || len(made.Tags) != 1 {
		t.Errorf("new EMI %+v", made)
	}
	if !slices.Equal(e.srv.ImageIDs(), []string{id, src}) && !slices.Equal(e.srv.ImageIDs(), []string{src, id}) {
		t.Errorf("images %v", e.srv.ImageIDs())
	}
	if got := e.srv.ObjectKeys("images"); !slices.Equal(got, srcObjects) {
		t.Errorf("the source bundle changed: %v, was %v", got, srcObjects)
	}
	bucket, keys := bundleKeysOf(t, e.srv, made)
	if all := e.srv.ObjectKeys(bucket); !slices.Equal(all, keys) || len(keys) < 2 {
		t.Errorf("objects in %s: %v; the new EMI's bundle: %v", bucket, all, keys)
	}
	disk, ok := e.srv.ImageDiskPath(id)
	if !ok {
		t.Fatal("the new EMI has no unbundled disk")
	}
	got := packertest.GuestFiles(t, disk, "/root/ec2-acc-marker", "/etc/hostname")
	if string(got["/root/ec2-acc-marker"]) != marker+"\n" {
		t.Errorf("marker in the new EMI = %q", got["/root/ec2-acc-marker"])
	}
	if _, ok := got["/etc/hostname"]; !ok {
		t.Error("/etc/hostname missing from the new EMI")
	}
}

// TestAccEucaBundleInstanceImportVolume: a running instance-store instance is captured with
// BundleInstance (the cloud signs the bundle and encrypts it to the user's registered
// certificate), unbundled with the user's key, provisioned, and registered with
// register = "import-volume": ImportVolume, CreateSnapshot, RegisterImage of an EBS-backed
// HVM EMI (no TagSpecifications, BootMode or EnaSupport: the emulator would refuse them).
// No cloud_cert_file is given: the cloud certificate the BundleInstance manifest is checked
// with comes from DescribeServiceCertificates.
// The snapshot holds the marker; the BundleInstance bundle, the import parts and the
// imported volume are gone.
func TestAccEucaBundleInstanceImportVolume(t *testing.T) {
	eucaAccOnly(t)
	env := packertest.Setup(t)
	e := newEucaCloud(t)
	disk := sampleCopy(t)
	before := packertest.FileSHA256(t, disk)
	iid, err := e.srv.AddInstance(ec2emu.Instance{Name: "is-vm", RootDisk: disk, RootDeviceType: "instance-store", RootDeviceName: "/dev/sda"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	name := fmt.Sprintf("euca-capture-%d", time.Now().UnixNano())
	marker := fmt.Sprintf("marker-%d", time.Now().UnixNano())
	res := env.MustBuild(t, dir, eucaTemplate, 20*time.Minute, e.args(dir, "instance_id", iid, "ami_name", name, "marker", marker, "register", "import-volume")...)
	if n := e.srv.CallCount("DescribeServiceCertificates"); n != 1 {
		t.Errorf("%d DescribeServiceCertificates calls", n)
	}
	if n := e.srv.CallCount("BundleInstance"); n != 1 {
		t.Errorf("%d BundleInstance calls", n)
	}
	for id, st := range e.srv.BundleTaskStates() {
		if st != "complete" {
			t.Errorf("bundle task %s: %s", id, st)
		}
	}
	made := imageByName(t, e.srv, name)
	if made == nil {
		t.Fatalf("EMI %s not registered:\n%s", name, res.Output)
	}
	if made.RootDeviceType != types.DeviceTypeEbs || made.VirtualizationType != "hvm" || aws.ToString(made.RootDeviceName) != "/dev/sda" || len(made.Tags) != 1 {
		t.Errorf("new EMI %+v", made)
	}
	snap := aws.ToString(made.BlockDeviceMappings[0].Ebs.SnapshotId)
	if ids := e.srv.SnapshotIDs(); !slices.Equal(ids, []string{snap}) {
		t.Errorf("snapshots %v", ids)
	}
	if ids := e.srv.VolumeIDs(); len(ids) != 0 {
		t.Errorf("volumes left: %v", ids)
	}
	if keys := e.srv.ObjectKeys("packer-bundles"); len(keys) != 0 {
		t.Errorf("objects left in the bucket: %v", keys)
	}
	raw := filepath.Join(dir, "made.raw")
	if err := e.srv.WriteSnapshotFile(snap, raw, 0); err != nil {
		t.Fatal(err)
	}
	got := packertest.GuestFiles(t, raw, "/root/ec2-acc-marker")
	if string(got["/root/ec2-acc-marker"]) != marker+"\n" {
		t.Errorf("marker in the new EMI's snapshot = %q", got["/root/ec2-acc-marker"])
	}
	if packertest.FileSHA256(t, disk) != before {
		t.Error("the instance's disk changed")
	}
}

// A tampered part of the source bundle fails the build clearly, before anything is
// provisioned or registered; nothing is left in the build's bucket.
func TestAccEucaTamperedPartFails(t *testing.T) {
	eucaAccOnly(t)
	env := packertest.Setup(t)
	e := newEucaCloud(t)
	src, err := e.srv.BundledImage("debian-12-sample", sampleCopy(t), "images", e.user)
	if err != nil {
		t.Fatal(err)
	}
	part, ok := e.srv.ObjectPath("images", "debian-12-sample.part.01")
	if !ok {
		t.Fatalf("no part 01 in %v", e.srv.ObjectKeys("images"))
	}
	data, err := os.ReadFile(part)
	if err != nil {
		t.Fatal(err)
	}
	data[4096] ^= 0x80
	tampered := filepath.Join(t.TempDir(), "part")
	if err := os.WriteFile(tampered, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.PutObjectFile("images", "debian-12-sample.part.01", tampered); err != nil {
		t.Fatal(err)
	}
	images := e.srv.ImageIDs()
	dir := t.TempDir()
	res := env.Build(t, dir, eucaTemplate, 10*time.Minute, e.args(dir, "source_ami", src, "ami_name", "euca-tampered", "marker", "x")...)
	if res.Err == nil {
		t.Fatalf("a tampered bundle was accepted:\n%s", res.Output)
	}
	if !strings.Contains(res.Output, "part 1 (debian-12-sample.part.01") || !strings.Contains(res.Output, "truncated or altered") {
		t.Errorf("the error does not name the part:\n%s", res.Output)
	}
	if strings.Contains(res.Output, "Provisioning with shell") {
		t.Errorf("provisioning ran on a bad bundle:\n%s", res.Output)
	}
	if got := e.srv.ImageIDs(); !slices.Equal(got, images) {
		t.Errorf("images %v, before %v", got, images)
	}
	if keys := e.srv.ObjectKeys("packer-bundles"); len(keys) != 0 {
		t.Errorf("objects left: %v", keys)
	}
}

// eucaAccOnly skips acceptance tests (they run the real packer) unless PACKER_ACC=1.
func eucaAccOnly(t *testing.T) {
	t.Helper()
	testtier.Acceptance(t, "a packer build against the EC2 emulator")
}
