package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"

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
	// A paravirtual EMI booting with an eki and an eri.
	var ids []string
	for _, typ := range []string{"kernel", "ramdisk"} {
		id, err := srv.SeedBundle(ec2emu.SeedBundle{Name: typ, File: raw, Bucket: "kernels", User: user.Identity, Type: typ})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	stdout, stderr = cli(t, 0, "push", "--to", "eucalyptus", raw, "--region", srv.Region, "--bucket", "eucarc", "--name", "eucarc-pv",
		"--kernel-id", ids[0], "--ramdisk-id", ids[1])
	pv := strings.TrimSpace(stdout)
	ec2c := sdkec2.NewFromConfig(srv.AWSConfig(), func(o *sdkec2.Options) { o.BaseEndpoint = aws.String(srv.EC2Endpoint) })
	d, err := ec2c.DescribeImages(t.Context(), &sdkec2.DescribeImagesInput{ImageIds: []string{pv}})
	if err != nil || len(d.Images) != 1 {
		t.Fatalf("describe %q: %v\n%s", pv, err, stderr)
	}
	if im := d.Images[0]; im.VirtualizationType != "paravirtual" || aws.ToString(im.KernelId) != ids[0] || aws.ToString(im.RamdiskId) != ids[1] {
		t.Errorf("EMI %s: %s kernel %s ramdisk %s", pv, im.VirtualizationType, aws.ToString(im.KernelId), aws.ToString(im.RamdiskId))
	}
	for want, args := range map[string][]string{
		"--kernel-id is for --to eucalyptus, not aws": {"push", "--to", "aws", "--kernel-id", "aki-1", raw},
		`--kernel-id "emi-1"`:                         {"push", "--to", "eucalyptus", "--bucket", "b", "--kernel-id", "emi-1", raw},
		`--ramdisk-id "eri-1"`:                        {"push", "--to", "eucalyptus", "--bucket", "b", "--ramdisk-id", "eri-1", raw},
	} {
		if _, stderr := cli(t, 2, args...); !strings.Contains(stderr, want) {
			t.Errorf("%v: %s, want %q", args, stderr, want)
		}
	}
	// Without the eucarc keys, the wrong AWS_* keys are used and refused.
	t.Setenv("EC2_SECRET_KEY", "")
	cli(t, 1, "push", "--to", "eucalyptus", raw, "--region", srv.Region, "--bucket", "eucarc", "--name", "eucarc-emi-2")
}
