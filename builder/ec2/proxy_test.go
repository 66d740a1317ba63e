package ec2

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// A Eucalyptus cloud reached through an endpoint that does not end in /services/compute (the
// compute service at /compute, as a front proxy or DNS service names put it): the eucalyptus
// block alone makes the build go the Eucalyptus way. The source, an instance-store EMI, is
// brought home as its bundle (capture method "bundle", never the EBS direct API) and unbundled
// to the bytes it was made of; the cloud's certificate comes from the bootstrap service on the
// endpoint's host. In process, against the emulator: the builder's connect, source and
// download steps, no packer binary.
func TestEucalyptusBuildThroughProxyEndpoint(t *testing.T) {
	srv, user := ec2emu.StartProxiedEucalyptus(t)
	dir := t.TempDir()
	disk := filepath.Join(dir, "src.raw")
	data := make([]byte, 3<<20)
	if _, err := rand.Read(data[1<<20 : 2<<20]); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(disk, data, 0o600); err != nil {
		t.Fatal(err)
	}
	emi, err := srv.BundledImage("proxied", disk, "images", user.Identity)
	if err != nil {
		t.Fatal(err)
	}

	var c Config
	if err := c.Prepare(map[string]interface{}{
		"access_key": srv.AccessKeyID, "secret_key": srv.SecretAccessKey, "region": srv.Region,
		"custom_endpoint_ec2": srv.EC2Endpoint, "custom_endpoint_s3": srv.S3Endpoint,
		"source_ami": emi, "skip_register": true, "output_directory": filepath.Join(dir, "out"),
		"eucalyptus": map[string]interface{}{"user_private_key_file": user.KeyFile, "user_cert_file": user.CertFile, "bucket": "work"},
	}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	state := new(multistep.BasicStateBag)
	state.Put("ui", &packersdk.BasicUi{Reader: strings.NewReader(""), Writer: &out, ErrorWriter: &out, PB: &packersdk.NoopProgressTracker{}})
	state.Put("config", &c)
	target := filepath.Join(dir, "working.raw")
	steps := []multistep.Step{&StepConnect{Config: &c}, &StepSource{Config: &c}, &StepDownloadBundle{Config: &c, Target: target}}
	(&multistep.BasicRunner{Steps: steps}).Run(t.Context(), state)
	if err, ok := state.GetOk("error"); ok {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if m := captureMethod(state); m != CaptureBundle {
		t.Fatalf("capture method %q, want bundle", m)
	}
	got, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("the working copy (%d bytes) is not the source image (%d bytes)", len(got), len(data))
	}
	services := map[string]int{}
	for _, call := range srv.Calls() {
		services[call.Service]++
	}
	if services["s3"] == 0 || services["empyrean"] == 0 {
		t.Errorf("requests by service %v: want the bundle through S3 and the certificate from Empyrean", services)
	}
}
