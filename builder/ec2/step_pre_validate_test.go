package ec2

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	ec2common "github.com/chromogenic/packer-plugin-chromogenic/common/ec2"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// stepState is a state bag for steps run against the emulator: its clients and a UI writing
// into the returned buffer.
func stepState(t *testing.T, srv *ec2emu.Server) (multistep.StateBag, *cloud.Clients, *bytes.Buffer) {
	t.Helper()
	cl, err := cloud.Connect(t.Context(), cloud.Access{AccessKey: srv.AccessKeyID, SecretKey: srv.SecretAccessKey, Region: srv.Region,
		EC2Endpoint: srv.EC2Endpoint, EBSEndpoint: srv.EBSEndpoint, S3Endpoint: srv.S3Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	state := new(multistep.BasicStateBag)
	state.Put("ui", &packersdk.BasicUi{Reader: strings.NewReader(""), Writer: &out, ErrorWriter: &out, PB: &packersdk.NoopProgressTracker{}})
	state.Put("clients", cl)
	return state, cl, &out
}

// fastPoll makes the waits on the emulator poll every 10 to 50 ms for the test.
func fastPoll(t *testing.T) {
	poll := cloud.WaitPoll
	cloud.WaitPoll.Min, cloud.WaitPoll.Max = 10*time.Millisecond, 50*time.Millisecond
	t.Cleanup(func() { cloud.WaitPoll = poll })
}

// The intermediate AMI and its snapshots carry run_tags (not tags), set at creation, so that
// the capture passes a policy that denies untagged creation.
func TestCreateImageRunTags(t *testing.T) {
	poll := cloud.WaitPoll
	cloud.WaitPoll.Min, cloud.WaitPoll.Max = 10*time.Millisecond, 50*time.Millisecond
	defer func() { cloud.WaitPoll = poll }()
	srv := emulator(t)
	disk := filepath.Join(t.TempDir(), "root.raw")
	if err := os.WriteFile(disk, bytes.Repeat([]byte("root "), 200000), 0o644); err != nil {
		t.Fatal(err)
	}
	iid, err := srv.AddInstance(ec2emu.Instance{RootDisk: disk})
	if err != nil {
		t.Fatal(err)
	}
	srv.RequireTagsOnCreate(true)
	state, cl, out := stepState(t, srv)
	inst, err := cloud.FindInstance(t.Context(), cl.EC2, iid, cloud.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	state.Put("instance", inst)
	c := &Config{NoReboot: true}
	c.StateTimeout = time.Minute
	c.Tags = map[string]string{"team": "infra"}
	c.RunTags = map[string]string{"purpose": "ci-run"}
	step := &StepCreateImage{Config: c}
	defer step.Cleanup(state)
	if action := step.Run(t.Context(), state); action != multistep.ActionContinue {
		t.Fatalf("Run: %v\n%s", action, out)
	}
	imgs, snaps, err := cloud.FindTagged(t.Context(), cl.EC2, "purpose", "ci-run")
	if err != nil || len(imgs) != 1 || len(snaps) != 1 {
		t.Fatalf("run_tags on the intermediate AMI and snapshot: %v %v %v", imgs, snaps, err)
	}
	for _, tg := range imgs[0].Tags {
		if aws.ToString(tg.Key) == "team" {
			t.Errorf("tags (not run_tags) on the intermediate AMI: %v", imgs[0].Tags)
		}
	}
}

// StepPreValidate: a clash is an error naming ami_name and the AMI, the source AMI is never
// replaced, and an encrypted source gives an encrypted result with its key.
func TestStepPreValidate(t *testing.T) {
	srv := emulator(t)
	key := "arn:aws:kms:" + srv.Region + ":123456789012:key/1b1b1b1b-2c2c-4d3d-8e4e-5f5f5f5f5f5f"
	src, err := srv.AddImage(ec2emu.Image{Name: "source", Encrypted: true, KmsKeyID: key})
	if err != nil {
		t.Fatal(err)
	}
	taken, err := srv.AddImage(ec2emu.Image{Name: "taken"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, amiName string
		force         bool
		encrypt       *bool
		want          string // error, or "" with encryption below
		enc           ec2common.Encryption
	}{
		{name: "free", amiName: "new", enc: ec2common.Encryption{Encrypted: true, KMSKeyID: key}},
		{name: "explicitly-unencrypted", amiName: "new", encrypt: aws.Bool(false), enc: ec2common.Encryption{}},
		{name: "clash", amiName: "taken", want: `ami_name "taken" is already used by ` + taken},
		{name: "clash-forced", amiName: "taken", force: true, enc: ec2common.Encryption{Encrypted: true, KMSKeyID: key}},
		{name: "source", amiName: "source", force: true, want: "the build's source AMI"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state, cl, out := stepState(t, srv)
			img, err := cloud.GetImage(t.Context(), cl.EC2, src)
			if err != nil {
				t.Fatal(err)
			}
			state.Put("source_image", img)
			c := &Config{}
			c.AMIName, c.ForceDeregister, c.EncryptBoot = tc.amiName, tc.force, tc.encrypt
			action := (&StepPreValidate{Config: c}).Run(t.Context(), state)
			if tc.want != "" {
				err, _ := state.Get("error").(error)
				if action != multistep.ActionHalt || err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("%v %v, want an error saying %q", action, err, tc.want)
				}
				return
			}
			if action != multistep.ActionContinue {
				t.Fatalf("halted: %v\n%s", state.Get("error"), out)
			}
			got := state.Get(stateEncryption).(ec2common.Encryption)
			if got.Encrypted != tc.enc.Encrypted || got.KMSKeyID != tc.enc.KMSKeyID || got.Note == "" {
				t.Errorf("encryption %+v, want %+v with a note", got, tc.enc)
			}
		})
	}
	if ids := srv.ImageIDs(); len(ids) != 2 {
		t.Errorf("pre-validation changed the images: %v", ids)
	}
}
