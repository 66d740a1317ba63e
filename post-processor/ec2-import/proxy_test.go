package ec2import

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// A Eucalyptus cloud reached through an endpoint that does not end in /services/compute (the
// compute service at /compute, as a front proxy or DNS service names put it): the eucalyptus
// block alone makes the import go the Eucalyptus way. The image is bundled into the object
// storage and registered as an instance-store EMI the cloud unbundles to the same bytes; the
// cloud's certificate comes from the bootstrap service on the endpoint's host. In process,
// against the emulator: no packer binary, no cloud.
func TestEucalyptusImportThroughProxyEndpoint(t *testing.T) {
	srv, user := ec2emu.StartProxiedEucalyptus(t)
	disk := make([]byte, 3<<20)
	if _, err := rand.Read(disk[:1<<20]); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "disk.raw")
	if err := os.WriteFile(img, disk, 0o600); err != nil {
		t.Fatal(err)
	}

	var pp PostProcessor
	if err := pp.Configure(map[string]interface{}{
		"access_key": srv.AccessKeyID, "secret_key": srv.SecretAccessKey, "region": srv.Region,
		"custom_endpoint_ec2": srv.EC2Endpoint, "custom_endpoint_s3": srv.S3Endpoint, "ami_name": "through-proxy",
		"eucalyptus": map[string]interface{}{"user_private_key_file": user.KeyFile, "user_cert_file": user.CertFile, "bucket": "imports"},
	}); err != nil {
		t.Fatal(err)
	}
	in := &artifact.Artifact{BuilderIDValue: "test", Path: img, Format: "raw",
		StateData: map[string]interface{}{artifact.ImagePath: img, artifact.ImageFormat: "raw"}}
	var out bytes.Buffer
	ui := &packersdk.BasicUi{Reader: strings.NewReader(""), Writer: &out, ErrorWriter: &out, PB: &packersdk.NoopProgressTracker{}}
	art, _, _, err := pp.PostProcess(t.Context(), ui, in)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	id := art.Id()
	if i := strings.LastIndex(id, ":"); i >= 0 {
		id = id[i+1:]
	}
	if !strings.HasPrefix(id, "emi-") {
		t.Fatalf("artifact %q is not an EMI\n%s", art.Id(), out.String())
	}
	got, ok := srv.ImageDiskPath(id)
	if !ok {
		t.Fatalf("the cloud has no unbundled disk for %s", id)
	}
	b, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, disk) {
		t.Errorf("the registered image's disk (%d bytes) is not the imported one (%d bytes)", len(b), len(disk))
	}
	var services = map[string]int{}
	for _, c := range srv.Calls() {
		services[c.Service]++
		if c.Service == "ec2" && c.Action == "RegisterImage" && c.Status != 200 {
			t.Errorf("RegisterImage answered %d %s", c.Status, c.Code)
		}
	}
	if services["s3"] == 0 || services["empyrean"] == 0 || services["ebs"] != 0 {
		t.Errorf("requests by service %v: want the bundle through S3, the certificate from Empyrean, no EBS", services)
	}
}
