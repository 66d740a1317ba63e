package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2/bundle"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// TestPushEucalyptusEucarc: push --to eucalyptus with only --bucket and --region; the
// endpoints, keys, certificates and account come from a sourced eucarc. The eucarc keys win
// over a wrong AWS_ACCESS_KEY_ID (the emulator refuses any other key); the cloud certificate
// is EUCALYPTUS_CERT's (no DescribeServiceCertificates); the manifest's owner is
// EC2_ACCOUNT_NUMBER. The disk the cloud unbundles holds the image's bytes.
func TestPushEucalyptusEucarc(t *testing.T) {
	srv, user := ec2emu.StartProxiedEucalyptus(t)
	dir := t.TempDir()
	cloudCert := filepath.Join(dir, "cloud-cert.pem")
	if err := os.WriteFile(cloudCert, srv.CloudCertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG0")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	for k, v := range map[string]string{"EC2_URL": srv.EC2Endpoint, "S3_URL": srv.S3Endpoint, "EC2_ACCESS_KEY": srv.AccessKeyID,
		"EC2_SECRET_KEY": srv.SecretAccessKey, "EC2_CERT": user.CertFile, "EC2_PRIVATE_KEY": user.KeyFile, "EUCALYPTUS_CERT": cloudCert,
		"EC2_ACCOUNT_NUMBER": "123456789012", "EC2_USER_ID": ""} {
		t.Setenv(k, v)
	}
	raw := filepath.Join(dir, "src.raw")
	makeRaw(t, raw, 6<<20)
	stdout, stderr := cli(t, 0, "push", "--to", "eucalyptus", raw, "--region", srv.Region, "--bucket", "eucarc", "--name", "eucarc-emi")
	emi := strings.TrimSpace(stdout)
	disk, ok := srv.ImageDiskPath(emi)
	if !ok {
		t.Fatalf("image %q is not an available instance-store image\n%s", emi, stderr)
	}
	qemuImg(t, "compare", "-f", "raw", "-F", "raw", raw, disk)
	if n := srv.CallCount("DescribeServiceCertificates"); n != 0 {
		t.Errorf("%d DescribeServiceCertificates calls with EUCALYPTUS_CERT set", n)
	}
	var manifest string
	for _, k := range srv.ObjectKeys("eucarc") {
		if strings.HasSuffix(k, ".manifest.xml") {
			manifest = k
		}
	}
	p, ok := srv.ObjectPath("eucarc", manifest)
	if !ok {
		t.Fatalf("no manifest in %v", srv.ObjectKeys("eucarc"))
	}
	text, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	m, err := bundle.ParseManifest(text)
	if err != nil || m.User != "123456789012" {
		t.Errorf("manifest owner %q: %v", m.User, err)
	}
	// Without the eucarc keys, the wrong AWS_* keys are used and refused.
	t.Setenv("EC2_SECRET_KEY", "")
	cli(t, 1, "push", "--to", "eucalyptus", raw, "--region", srv.Region, "--bucket", "eucarc", "--name", "eucarc-emi-2")
}
