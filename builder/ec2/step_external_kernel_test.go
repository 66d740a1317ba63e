package ec2

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/bootable"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// externalKernelRun prepares a Eucalyptus configuration for source_ami emi, connects to
// the emulator and runs StepExternalKernel for a working copy in a temporary directory.
func externalKernelRun(t *testing.T, e *eucaCloud, emi string) (*StepExternalKernel, multistep.StateBag, multistep.StepAction, string, *bytes.Buffer) {
	t.Helper()
	var c Config
	if err := c.Prepare(map[string]interface{}{"region": "eucalyptus", "custom_endpoint_ec2": e.srv.EC2Endpoint,
		"custom_endpoint_s3": e.srv.S3Endpoint, "source_ami": emi, "skip_register": true, "packer_build_name": "k",
		"eucalyptus": map[string]interface{}{"user_private_key_file": filepath.Join(e.keys, "euca-pk.pem"),
			"user_cert_file": filepath.Join(e.keys, "euca-cert.pem"), "bucket": "b"}}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	state := new(multistep.BasicStateBag)
	state.Put("ui", &packersdk.BasicUi{Reader: strings.NewReader(""), Writer: &out, ErrorWriter: &out})
	if a := (&StepConnect{Config: &c}).Run(t.Context(), state); a != multistep.ActionContinue {
		t.Fatalf("connect: %v\n%s", state.Get("error"), out.String())
	}
	img, err := cloud.GetImage(t.Context(), state.Get("clients").(*cloud.Clients).EC2, emi)
	if err != nil {
		t.Fatal(err)
	}
	state.Put("source_image", img)
	target := filepath.Join(t.TempDir(), "k.raw")
	step := &StepExternalKernel{Config: &c, Target: target}
	action := step.Run(context.Background(), state)
	t.Cleanup(func() { step.Cleanup(state) })
	return step, state, action, target, &out
}

func randomFile(t *testing.T, name string, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, data
}

// The eki and eri the EMI names (in its manifest; DescribeImages reports them) are
// unbundled with the user's key next to the working copy and put in state; a failed build's
// cleanup removes them.
func TestStepExternalKernelUnbundles(t *testing.T) {
	e := newEucaCloud(t)
	kf, kdata := randomFile(t, "vmlinuz", 3<<20+17)
	rf, rdata := randomFile(t, "initrd", 1<<20+5)
	disk, _ := randomFile(t, "disk", 1<<20)
	seed := func(o ec2emu.SeedBundle) string {
		o.Bucket, o.User = "images", e.user
		id, err := e.srv.SeedBundle(o)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	eki := seed(ec2emu.SeedBundle{Name: "k", File: kf, Type: "kernel"})
	eri := seed(ec2emu.SeedBundle{Name: "r", File: rf, Type: "ramdisk"})
	emi := seed(ec2emu.SeedBundle{Name: "m", File: disk, KernelID: eki, RamdiskID: eri})
	// The emulator, as Eucalyptus: eki-/eri- types, and a machine image registered with
	// KernelId/RamdiskId reports them; an unknown kernel id is refused.
	ec := ec2Client(e.srv)
	desc, err := ec.DescribeImages(t.Context(), &sdkec2.DescribeImagesInput{ImageIds: []string{eki, eri, emi}})
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range desc.Images {
		id := aws.ToString(im.ImageId)
		if want := map[string]string{eki: "kernel", eri: "ramdisk", emi: "machine"}[id]; string(im.ImageType) != want || aws.ToString(im.ImageLocation) == "" {
			t.Errorf("%s: type %q location %q", id, im.ImageType, aws.ToString(im.ImageLocation))
		}
	}
	seed(ec2emu.SeedBundle{Name: "plain", File: disk})
	reg, err := ec.RegisterImage(t.Context(), &sdkec2.RegisterImageInput{Name: aws.String("with-kernel"),
		ImageLocation: aws.String("images/plain.manifest.xml"), KernelId: aws.String(eki), RamdiskId: aws.String(eri)})
	if err != nil {
		t.Fatal(err)
	}
	if im, err := cloud.GetImage(t.Context(), ec, aws.ToString(reg.ImageId)); err != nil || aws.ToString(im.KernelId) != eki || aws.ToString(im.RamdiskId) != eri {
		t.Errorf("registered with KernelId: %+v %v", im, err)
	}
	if _, err := ec.RegisterImage(t.Context(), &sdkec2.RegisterImageInput{Name: aws.String("bad-kernel"),
		ImageLocation: aws.String("images/plain.manifest.xml"), KernelId: aws.String(eri)}); err == nil {
		t.Error("a ramdisk was accepted as KernelId")
	}

	step, state, action, target, out := externalKernelRun(t, e, emi)
	if action != multistep.ActionContinue {
		t.Fatalf("action %v: %v\n%s", action, state.Get("error"), out)
	}
	for key, want := range map[string][]byte{bootable.StateKernelPath: kdata, bootable.StateRamdiskPath: rdata} {
		p, _ := state.Get(key).(string)
		if p != target+map[string]string{bootable.StateKernelPath: ".kernel", bootable.StateRamdiskPath: ".ramdisk"}[key] {
			t.Fatalf("%s = %q", key, p)
		}
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, want %d (%v)", p, len(got), len(want), err)
		}
	}
	if !strings.Contains(out.String(), eki) || !strings.Contains(out.String(), eri) {
		t.Errorf("output does not name the eki and eri:\n%s", out)
	}
	state.Put("error", os.ErrInvalid)
	step.Cleanup(state)
	for _, p := range []string{target + ".kernel", target + ".ramdisk"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left after a failed build: %v", p, err)
		}
	}
}

// A kernel bundled by the cloud administrator (encrypted to the cloud alone) does not open
// with the user's key: the build goes on with a warning naming the eki and the option to set,
// and neither kernel nor ramdisk is handed on.
func TestStepExternalKernelAdminBundleWarns(t *testing.T) {
	e := newEucaCloud(t)
	kf, _ := randomFile(t, "vmlinuz", 1<<20)
	rf, _ := randomFile(t, "initrd", 1<<20)
	disk, _ := randomFile(t, "disk", 1<<20)
	eki, err := e.srv.SeedBundle(ec2emu.SeedBundle{Name: "k", File: kf, Bucket: "images", Type: "kernel", Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	eri, err := e.srv.SeedBundle(ec2emu.SeedBundle{Name: "r", File: rf, Bucket: "images", Type: "ramdisk", Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	emi, err := e.srv.SeedBundle(ec2emu.SeedBundle{Name: "m", File: disk, Bucket: "images", User: e.user, KernelID: eki, RamdiskID: eri})
	if err != nil {
		t.Fatal(err)
	}
	_, state, action, target, out := externalKernelRun(t, e, emi)
	if action != multistep.ActionContinue {
		t.Fatalf("an unopenable kernel failed the build: %v\n%s", state.Get("error"), out)
	}
	if !strings.Contains(out.String(), "Warning: the kernel "+eki+" of "+emi) || !strings.Contains(out.String(), "bootable.kernel") {
		t.Errorf("no clear warning:\n%s", out)
	}
	for _, k := range []string{bootable.StateKernelPath, bootable.StateRamdiskPath} {
		if v, ok := state.GetOk(k); ok {
			t.Errorf("%s = %v", k, v)
		}
	}
	if left, _ := filepath.Glob(target + "*"); len(left) != 0 {
		t.Errorf("left: %v", left)
	}
}
