package ec2

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

func init() { WaitPoll.Min, WaitPoll.Max = 50*time.Millisecond, 200*time.Millisecond }

func connect(t *testing.T, srv *ec2emu.Server) *Clients {
	t.Helper()
	isolate(t)
	cl, err := Connect(t.Context(), Access{AccessKey: srv.AccessKeyID, SecretKey: srv.SecretAccessKey, Region: srv.Region,
		EC2Endpoint: srv.EC2Endpoint, EBSEndpoint: srv.EBSEndpoint, S3Endpoint: srv.S3Endpoint,
		Eucalyptus: srv.EBSEndpoint == ""}) // the Eucalyptus dialect has no EBS direct API
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// isolate keeps the developer's own AWS settings out of the tests.
func isolate(t *testing.T) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// testImage writes a sparse raw image of size bytes with random data at the given offsets
// (each n bytes long) and returns its path and content.
func testImage(t *testing.T, size int64, at map[int64]int) (string, []byte) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.raw")
	want := make([]byte, size)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for off, n := range at {
		rand.Read(want[off : off+int64(n)])
		if _, err := f.WriteAt(want[off:off+int64(n)], off); err != nil {
			t.Fatal(err)
		}
	}
	return p, want
}

func readAll(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUploadDownloadRoundTripWithFaults(t *testing.T) {
	srv := ec2emu.Start(t)
	cl := connect(t, srv)
	ctx := t.Context()
	size := 5*int64(BlockSize) + 1000 // an unaligned tail
	path, want := testImage(t, size, map[int64]int{0: 4096, 2*BlockSize + 7: 3 * BlockSize / 2, 5 * BlockSize: 1000})
	// Block 1 is in a data range but all zero: it must not be sent.
	srv.InjectFault(ec2emu.Fault{Service: "ebs", Action: "PutSnapshotBlock", Times: 2, Code: "InternalServerException"})
	srv.InjectFault(ec2emu.Fault{Service: "ebs", Action: "PutSnapshotBlock", Times: 1, Code: "RequestThrottledException", Status: 400})
	f, _ := os.Open(path)
	defer f.Close()
	id, st, err := UploadSnapshot(ctx, cl, f, size, []Range{{0, 2 * BlockSize}, {2 * BlockSize, size - 2*BlockSize}},
		UploadOptions{Description: "t", Tags: map[string]string{"k": "v"}, TransferOptions: TransferOptions{Workers: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Blocks != 4 { // 0, 2, 3 and 5; 1 and 4 are zero
		t.Errorf("sent %d blocks, want 4", st.Blocks)
	}
	if info, _ := srv.Snapshot(id); info.State != "completed" || info.VolumeSizeGiB != 1 {
		t.Errorf("snapshot %+v", info)
	}
	// Download with cut bodies, corrupt data and throttling on the way.
	srv.InjectFault(ec2emu.Fault{Service: "ebs", Action: "GetSnapshotBlock", Times: 1, DropConnection: true})
	srv.InjectFault(ec2emu.Fault{Service: "ebs", Action: "GetSnapshotBlock", Times: 1, CorruptData: true})
	srv.InjectFault(ec2emu.Fault{Service: "ebs", Action: "GetSnapshotBlock", Times: 2, Code: "ThrottlingException", Status: 429})
	srv.InjectFault(ec2emu.Fault{Service: "ebs", Action: "ListSnapshotBlocks", Times: 1, DropConnection: true})
	out := filepath.Join(t.TempDir(), "out.raw")
	g, _ := os.Create(out)
	dst, err := DownloadSnapshot(ctx, cl.EBS, id, g, TransferOptions{Workers: 4, Logf: t.Logf})
	g.Close()
	if err != nil {
		t.Fatal(err)
	}
	if dst.VolumeSize != GiB || dst.Retries < 2 {
		t.Errorf("download stats %+v", dst)
	}
	got := readAll(t, out)
	if int64(len(got)) != GiB || !bytes.Equal(got[:size], want) || !diskimage.IsZero(got[size:]) {
		t.Fatal("downloaded bytes differ from the uploaded image")
	}
}

func TestCompleteSnapshotChecksumMismatchLeavesNothing(t *testing.T) {
	srv := ec2emu.Start(t)
	cl := connect(t, srv)
	path, _ := testImage(t, 2*BlockSize, map[int64]int{0: 100})
	srv.InjectFault(ec2emu.Fault{Service: "ebs", Action: "CompleteSnapshot", Code: "ValidationException",
		Message: "The aggregated checksum does not match the blocks written"})
	f, _ := os.Open(path)
	defer f.Close()
	_, _, err := UploadSnapshot(t.Context(), cl, f, 2*BlockSize, nil, UploadOptions{})
	if err == nil || !strings.Contains(err.Error(), "aggregated checksum") {
		t.Fatalf("err = %v", err)
	}
	if ids := srv.SnapshotIDs(); len(ids) != 0 {
		t.Errorf("snapshots left: %v", ids)
	}
}

func TestCaptureRegisterAndDelete(t *testing.T) {
	srv := ec2emu.Start(t, ec2emu.Options{ImageDelay: 100 * time.Millisecond})
	cl := connect(t, srv)
	ctx := t.Context()
	path, want := testImage(t, 3*BlockSize, map[int64]int{BlockSize: 10})
	iid, err := srv.AddInstance(ec2emu.Instance{Name: "web", RootDisk: path, BootMode: "uefi", EnaSupport: true})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := FindInstance(ctx, cl.EC2, "", Filter{Filters: map[string][]string{"tag:Name": {"web"}}})
	if err != nil || aws.ToString(inst.InstanceId) != iid {
		t.Fatalf("FindInstance: %v %v", inst, err)
	}
	imgID, err := CreateImage(ctx, cl.EC2, ImageCapture{InstanceID: iid, Name: "cap", NoReboot: true,
		ImageTags: map[string]string{"chromogenic:build": "b1", "team": "x"}, SnapshotTags: map[string]string{"chromogenic:build": "b1"}})
	if err != nil {
		t.Fatal(err)
	}
	// Tagged at creation: found by the tag while still pending.
	timgs, tsnaps, err := FindTagged(ctx, cl.EC2, "chromogenic:build", "b1")
	if err != nil || len(timgs) != 1 || aws.ToString(timgs[0].ImageId) != imgID || timgs[0].State != types.ImageStatePending || len(tsnaps) != 1 {
		t.Fatalf("FindTagged right after CreateImage: %v %v %v", timgs, tsnaps, err)
	}
	if other, _, _ := FindTagged(ctx, cl.EC2, "chromogenic:build", "b2"); len(other) != 0 {
		t.Fatalf("FindTagged b2 found %v", other)
	}
	im, err := WaitImage(ctx, cl.EC2, imgID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	snap, _, err := RootSnapshot(im)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "o.raw")
	g, _ := os.Create(out)
	if _, err := DownloadSnapshot(ctx, cl.EBS, snap, g, TransferOptions{}); err != nil {
		t.Fatal(err)
	}
	g.Close()
	if got := readAll(t, out); !bytes.Equal(got[:len(want)], want) {
		t.Fatal("captured bytes differ")
	}
	newID, err := RegisterImage(ctx, cl.EC2, NewImage{Name: "re-registered", SnapshotID: snap, BootMode: string(im.BootMode), ENA: aws.ToBool(im.EnaSupport),
		Tags: map[string]string{"at": "registration"}})
	if err != nil {
		t.Fatal(err)
	}
	// Tagged at registration, while still pending.
	if tagged, _, err := FindTagged(ctx, cl.EC2, "at", "registration"); err != nil || len(tagged) != 1 || aws.ToString(tagged[0].ImageId) != newID || tagged[0].State != types.ImageStatePending {
		t.Fatalf("tagged at registration: %v %v", tagged, err)
	}
	reg, err := WaitImage(ctx, cl.EC2, newID, time.Minute)
	if err != nil || reg.BootMode != "uefi" || !aws.ToBool(reg.EnaSupport) {
		t.Fatalf("registered %+v %v", reg, err)
	}
	if err := CreateTags(ctx, cl.EC2, map[string]string{"a": "b"}, newID); err != nil {
		t.Fatal(err)
	}
	found, err := FindImage(ctx, cl.EC2, Filter{Owners: []string{"self"}, Filters: map[string][]string{"tag:a": {"b"}}})
	if err != nil || aws.ToString(found.ImageId) != newID {
		t.Fatalf("FindImage: %v %v", found, err)
	}
	// Both images share the snapshot: deregister the capture alone, then delete the other
	// with its snapshot.
	if _, err := cl.EC2.DeregisterImage(ctx, &sdkec2.DeregisterImageInput{ImageId: aws.String(imgID)}); err != nil {
		t.Fatal(err)
	}
	if err := DeleteImage(ctx, cl.EC2, newID); err != nil {
		t.Fatal(err)
	}
	if ids := srv.ImageIDs(); len(ids) != 0 {
		t.Errorf("images left: %v", ids)
	}
	if ids := srv.SnapshotIDs(); len(ids) != 0 {
		t.Errorf("snapshots left: %v", ids)
	}
}

func TestConfigSources(t *testing.T) {
	isolate(t)
	ctx := context.Background()
	if _, err := LoadConfig(ctx, Access{}); err == nil || !strings.Contains(err.Error(), "no region") {
		t.Errorf("no region: %v", err)
	}
	if _, err := LoadConfig(ctx, Access{Region: "r", AccessKey: "a"}); err == nil {
		t.Error("access key without secret accepted")
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "envsecret")
	t.Setenv("AWS_REGION", "eu-west-3")
	cfg, err := LoadConfig(ctx, Access{})
	if err != nil {
		t.Fatal(err)
	}
	cr, _ := cfg.Credentials.Retrieve(ctx)
	if cfg.Region != "eu-west-3" || cr.AccessKeyID != "AKIDENV" {
		t.Errorf("env: %s %s", cfg.Region, cr.AccessKeyID)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "credentials"), []byte("[prod]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = s\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "config"), []byte("[profile prod]\nregion = ap-south-1\n"), 0o600)
	t.Setenv("AWS_REGION", "")
	cfg, err = LoadConfig(ctx, Access{Profile: "prod", SharedCredentialsFile: filepath.Join(dir, "credentials"), SharedConfigFile: filepath.Join(dir, "config")})
	if err != nil {
		t.Fatal(err)
	}
	cr, _ = cfg.Credentials.Retrieve(ctx)
	if cfg.Region != "ap-south-1" || cr.AccessKeyID != "AKIDPROFILE" {
		t.Errorf("profile: %s %s", cfg.Region, cr.AccessKeyID)
	}
	cfg, _ = LoadConfig(ctx, Access{Region: "x", AccessKey: "AKIDSTATIC", SecretKey: "s", Profile: "prod",
		SharedCredentialsFile: filepath.Join(dir, "credentials"), SharedConfigFile: filepath.Join(dir, "config")})
	if cr, _ = cfg.Credentials.Retrieve(ctx); cr.AccessKeyID != "AKIDSTATIC" || cfg.Region != "x" {
		t.Errorf("static keys and region override: %s %s", cfg.Region, cr.AccessKeyID)
	}
	if !IsEucalyptusEndpoint("http://clc:8773/services/compute/") || IsEucalyptusEndpoint("https://ec2.us-east-1.amazonaws.com") {
		t.Error("IsEucalyptusEndpoint")
	}
}
