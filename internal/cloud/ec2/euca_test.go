package ec2

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2/bundle"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

type eucaFixture struct {
	srv  *ec2emu.Server
	cl   *Clients
	user *bundle.Identity
	keys BundleKeys
}

func newEuca(t *testing.T) *eucaFixture {
	t.Helper()
	srv := ec2emu.Start(t, ec2emu.Options{Dialect: ec2emu.Eucalyptus})
	user, err := bundle.NewIdentity("user")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.RegisterUserCertificate(user.CertPEM); err != nil {
		t.Fatal(err)
	}
	cloudCert, err := bundle.ParseCertificate(srv.CloudCertPEM())
	if err != nil {
		t.Fatal(err)
	}
	cl := connect(t, srv)
	if cl.HasEBSDirect {
		t.Fatal("a Eucalyptus endpoint with EBS direct")
	}
	return &eucaFixture{srv: srv, cl: cl, user: user, keys: BundleKeys{UserKey: user.Key, UserCert: user.Cert, CloudCert: cloudCert}}
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Bundle out and back: UploadBundle + RegisterBundle make an instance-store EMI the cloud
// unbundles to the same bytes; DownloadBundle reads it back; a tampered part is refused; a
// failed upload leaves no object.
func TestEucaBundleRoundTrip(t *testing.T) {
	ctx := t.Context()
	e := newEuca(t)
	// The cloud certificate, as euca2ools gets it from the bootstrap service.
	cc, err := FetchCloudCertificate(ctx, e.cl, e.srv.EC2Endpoint)
	if err != nil || !cc.Equal(e.keys.CloudCert) {
		t.Fatalf("DescribeServiceCertificates: %v", err)
	}
	bad := *e.cl
	bad.Config.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(e.srv.AccessKeyID, "wrong", ""))
	if _, err := FetchCloudCertificate(ctx, &bad, e.srv.EC2Endpoint); err == nil || !strings.Contains(err.Error(), "HTTP 403") {
		t.Errorf("DescribeServiceCertificates with a wrong secret: %v", err)
	}
	path, want := testImage(t, 40<<20, map[int64]int{0: 3 << 20, 17 << 20: 9 << 20, 40<<20 - 4096: 4096})
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ub, err := UploadBundle(ctx, e.cl, f, int64(len(want)), "out", bundle.WriteOptions{Name: "img.img", Prefix: "dir-less", SignKey: e.user.Key,
		UserCert: e.user.Cert, CloudCert: e.keys.CloudCert})
	if err != nil {
		t.Fatal(err)
	}
	if ub.Location != "out/dir-less.manifest.xml" || len(ub.Keys) != len(ub.Manifest.Parts)+1 || len(ub.Manifest.Parts) < 2 {
		t.Fatalf("uploaded %+v", ub)
	}
	emi, err := RegisterBundle(ctx, e.cl.EC2, "round-trip", "", ub.Location, "x86_64", "/dev/sda", EucaBoot{})
	if err != nil {
		t.Fatal(err)
	}
	im, err := WaitImage(ctx, e.cl.EC2, emi, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(emi, "emi-") || string(im.RootDeviceType) != "instance-store" {
		t.Errorf("image %+v", im)
	}
	disk, ok := e.srv.ImageDiskPath(emi)
	if !ok || !bytes.Equal(readFile(t, disk), want) {
		t.Fatal("the cloud's unbundled disk differs")
	}
	dst, err := os.Create(filepath.Join(t.TempDir(), "back.raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := DownloadBundle(ctx, e.cl, ub.Location, e.keys, dst, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, dst.Name()), want) {
		t.Fatal("downloaded bundle differs")
	}
	// The cloud's key alone opens it too; a stranger's does not.
	stranger, _ := bundle.NewIdentity("stranger")
	cloudKey, _ := bundle.ParsePrivateKey(e.srv.CloudKeyPEM())
	if _, err := DownloadBundle(ctx, e.cl, ub.Location, BundleKeys{CloudKey: cloudKey}, dst, nil); err != nil {
		t.Errorf("with the cloud key: %v", err)
	}
	if _, err := DownloadBundle(ctx, e.cl, ub.Location, BundleKeys{UserKey: stranger.Key}, dst, nil); err == nil {
		t.Error("a stranger's key opened the bundle")
	}
	if _, err := DownloadBundle(ctx, e.cl, ub.Location, BundleKeys{UserKey: e.user.Key, UserCert: stranger.Cert}, dst, nil); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Errorf("signature checked against a stranger's certificate: %v", err)
	}
	// Tamper with the last part.
	last := ub.Manifest.Parts[len(ub.Manifest.Parts)-1]
	p, _ := e.srv.ObjectPath("out", last.Filename)
	data := readFile(t, p)
	data[len(data)/2] ^= 1
	tp := filepath.Join(t.TempDir(), "part")
	os.WriteFile(tp, data, 0o600)
	if err := e.srv.PutObjectFile("out", last.Filename, tp); err != nil {
		t.Fatal(err)
	}
	if _, err := DownloadBundle(ctx, e.cl, ub.Location, e.keys, dst, nil); err == nil || !strings.Contains(err.Error(), last.Filename) {
		t.Errorf("tampered part: %v", err)
	}

	// A failed upload (the third part's PUT refused) leaves nothing.
	e.srv.InjectFault(ec2emu.Fault{Service: "s3", Action: "PutObject", Skip: 2, Times: -1, Code: "AccessDenied", Status: 403})
	f.Seek(0, 0)
	if _, err := UploadBundle(ctx, e.cl, f, int64(len(want)), "failed", bundle.WriteOptions{Name: "x.img", Prefix: "x", SignKey: e.user.Key,
		CloudCert: e.keys.CloudCert}); err == nil {
		t.Fatal("upload succeeded")
	}
	e.srv.ClearFaults()
	if keys := e.srv.ObjectKeys("failed"); len(keys) != 0 {
		t.Errorf("objects left: %v", keys)
	}
}

// BundleInstance of an instance-store instance, read back with the user's key; ImportVolume
// + SnapshotVolume of the same disk.
func TestEucaBundleInstanceAndImportVolume(t *testing.T) {
	ctx := t.Context()
	e := newEuca(t)
	path, want := testImage(t, 30<<20, map[int64]int{1 << 20: 12 << 20, 30<<20 - 512: 512})
	iid, err := e.srv.AddInstance(ec2emu.Instance{RootDisk: path, RootDeviceType: "instance-store"})
	if err != nil {
		t.Fatal(err)
	}
	if err := EnsureBucket(ctx, e.cl.S3, "bundles"); err != nil {
		t.Fatal(err)
	}
	loc, err := BundleInstance(ctx, e.cl, iid, "bundles", "snap", time.Minute, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := os.Create(filepath.Join(t.TempDir(), "back.raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := DownloadBundle(ctx, e.cl, loc, e.keys, dst, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, dst.Name()), want) {
		t.Fatal("the BundleInstance bundle differs from the instance's disk")
	}
	keys, err := ListKeys(ctx, e.cl.S3, "bundles", "snap.")
	if err != nil || len(keys) < 2 {
		t.Fatalf("bundle keys %v %v", keys, err)
	}

	f, _ := os.Open(path)
	defer f.Close()
	vol, err := ImportVolume(ctx, e.cl, f, int64(len(want)), ImportVolumeOptions{Bucket: "imports", Prefix: "disk", AvailabilityZone: e.srv.Region + "a",
		PartSize: 8 << 20, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if keys := e.srv.ObjectKeys("imports"); len(keys) != 0 {
		t.Errorf("import parts left: %v", keys)
	}
	snap, err := SnapshotVolume(ctx, e.cl.EC2, vol, "test", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := DeleteVolume(ctx, e.cl.EC2, vol); err != nil {
		t.Fatal(err)
	}
	got := filepath.Join(t.TempDir(), "snap.raw")
	if err := e.srv.WriteSnapshotFile(snap, got, int64(len(want))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, got), want) {
		t.Fatal("the imported volume's snapshot differs")
	}
	if ids := e.srv.VolumeIDs(); len(ids) != 0 {
		t.Errorf("volumes left %v", ids)
	}
}
