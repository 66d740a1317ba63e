package ec2emu_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// awsCLI is Debian's awscli package (scripts/install-deps.sh), not a pip/pyenv copy: the
// cross-check must use a client nobody here wrote or configured.
const awsCLI = "/usr/bin/aws"

// TestAWSCLICrossCheck drives the emulator with Debian 12's awscli 2.9 (botocore: a SigV4
// signer, query/REST-JSON serializers, XML/JSON parsers and the s3 transfer manager nobody here
// wrote): EC2 describe-instances, create-image, describe-images, describe-snapshots,
// create-tags; EBS direct list-snapshot-blocks, get-snapshot-block, start-snapshot,
// put-snapshot-block, complete-snapshot; s3 cp up and down in multipart; and refused
// signatures. An acceptance test (PACKER_ACC=1): it fails when awscli is missing.
func TestAWSCLICrossCheck(t *testing.T) {
	testtier.Acceptance(t, "dozens of awscli runs (minutes on a busy machine)")
	if _, err := os.Stat(awsCLI); err != nil {
		if testtier.Enabled() {
			t.Fatalf("%s missing: install Debian's awscli package (scripts/install-deps.sh)", awsCLI)
		}
		t.Skipf("%s missing (apt-get install awscli)", awsCLI)
	}
	srv := ec2emu.Start(t)
	dir := t.TempDir()
	disk := makeDisk(t, dir, 6<<20, 41)
	iid, err := srv.AddInstance(ec2emu.Instance{Name: "cli-vm", RootDisk: disk})
	if err != nil {
		t.Fatal(err)
	}
	run := func(secret string, args ...string) ([]byte, error) {
		cmd := exec.Command(awsCLI, append(args, "--output", "json")...)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "LANG=C.UTF-8",
			"AWS_ACCESS_KEY_ID=" + srv.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + secret,
			"AWS_DEFAULT_REGION=" + srv.Region, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
			"AWS_MAX_ATTEMPTS=1", "AWS_EC2_METADATA_DISABLED=true", "NO_PROXY=127.0.0.1", "no_proxy=127.0.0.1", "AWS_PAGER="}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return out, &cliError{err, stderr.String()}
		}
		return out, nil
	}
	call := func(service, endpoint string, args ...string) map[string]any {
		t.Helper()
		out, err := run(srv.SecretAccessKey, append([]string{service, "--endpoint-url", endpoint}, args...)...)
		if err != nil {
			t.Fatalf("aws %s %v: %v", service, args, err)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil && len(bytes.TrimSpace(out)) > 0 {
			t.Fatalf("aws %s %v: %v in %s", service, args, err, out)
		}
		return m
	}
	ec2 := func(args ...string) map[string]any { t.Helper(); return call("ec2", srv.EC2Endpoint, args...) }
	ebs := func(args ...string) map[string]any { t.Helper(); return call("ebs", srv.EBSEndpoint, args...) }

	if out, err := exec.Command(awsCLI, "--version").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "aws-cli/2.") {
		t.Fatalf("aws --version: %v %s", err, out)
	} else {
		t.Logf("%s", bytes.TrimSpace(out))
	}

	// EC2 Query API: find the instance, image it, wait for the image.
	di := ec2("describe-instances", "--filters", "Name=tag:Name,Values=cli-vm", "Name=instance-state-name,Values=running")
	if got := jsonPath(di, "Reservations", 0, "Instances", 0, "InstanceId"); got != iid {
		t.Fatalf("describe-instances: %v", di)
	}
	ci := ec2("create-image", "--instance-id", iid, "--name", "cli image", "--no-reboot",
		"--tag-specifications", "ResourceType=image,Tags=[{Key=via,Value=cli}]", "ResourceType=snapshot,Tags=[{Key=chromogenic:build,Value=cli-1}]")
	ami, _ := ci["ImageId"].(string)
	if !strings.HasPrefix(ami, "ami-") {
		t.Fatalf("create-image: %v", ci)
	}
	var img map[string]any
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		img = ec2("describe-images", "--owners", "self", "--filters", "Name=tag:via,Values=cli")
		if jsonPath(img, "Images", 0, "State") == "available" {
			break
		}
	}
	snap, _ := jsonPath(img, "Images", 0, "BlockDeviceMappings", 0, "Ebs", "SnapshotId").(string)
	if jsonPath(img, "Images", 0, "ImageId") != ami || jsonPath(img, "Images", 0, "State") != "available" ||
		jsonPath(img, "Images", 0, "Name") != "cli image" || jsonPath(img, "Images", 0, "OwnerId") != srv.AccountID ||
		jsonPath(img, "Images", 0, "VirtualizationType") != "hvm" || !strings.HasPrefix(snap, "snap-") {
		t.Fatalf("describe-images: %v", img)
	}

	// The snapshot CreateImage made carries the snapshot TagSpecification, the image not.
	if got := ec2("describe-snapshots", "--owner-ids", "self", "--filters", "Name=tag:chromogenic:build,Values=cli-1"); jsonPath(got, "Snapshots", 0, "SnapshotId") != snap || jsonPath(got, "Snapshots", 1) != nil {
		t.Fatalf("describe-snapshots by the CreateImage snapshot tag: %v", got)
	}
	if got := ec2("describe-images", "--owners", "self", "--filters", "Name=tag:chromogenic:build,Values=cli-1"); jsonPath(got, "Images", 0) != nil {
		t.Fatalf("the snapshot's tag is on an image: %v", got)
	}

	// describe-snapshots and create-tags: the tag is found by a filter on both resources.
	ds := ec2("describe-snapshots", "--snapshot-ids", snap)
	if jsonPath(ds, "Snapshots", 0, "State") != "completed" || jsonPath(ds, "Snapshots", 0, "VolumeSize") != float64(1) ||
		jsonPath(ds, "Snapshots", 0, "OwnerId") != srv.AccountID {
		t.Fatalf("describe-snapshots: %v", ds)
	}
	ec2("create-tags", "--resources", ami, snap, "--tags", "Key=team,Value=cross check", "Key=empty,Value=")
	if got := ec2("describe-snapshots", "--owner-ids", "self", "--filters", "Name=tag:team,Values=cross check"); jsonPath(got, "Snapshots", 0, "SnapshotId") != snap || jsonPath(got, "Snapshots", 1) != nil {
		t.Fatalf("describe-snapshots by the new tag: %v", got)
	}
	tagged := ec2("describe-images", "--image-ids", ami)
	tags := map[string]any{}
	for _, tg := range jsonPath(tagged, "Images", 0, "Tags").([]any) {
		m := tg.(map[string]any)
		tags[m["Key"].(string)] = m["Value"]
	}
	if tags["team"] != "cross check" || tags["via"] != "cli" || tags["empty"] != "" {
		t.Fatalf("image tags after create-tags: %v", tags)
	}

	// EBS direct (REST-JSON): the snapshot lists exactly the disk's non-zero blocks, and a
	// block read with get-snapshot-block is the disk's, with its SHA-256.
	want := cliDataBlocks(t, disk)
	lb := ebs("list-snapshot-blocks", "--snapshot-id", snap)
	listed, _ := lb["Blocks"].([]any)
	if lb["BlockSize"] != float64(ec2emu.BlockSize) || lb["VolumeSize"] != float64(1) || len(listed) != len(want) {
		t.Fatalf("list-snapshot-blocks: %v, want the blocks %v", lb, want)
	}
	for i, b := range listed {
		if jsonPath(b, "BlockIndex") != float64(want[i]) {
			t.Fatalf("list-snapshot-blocks: block %d is %v, want %d", i, b, want[i])
		}
	}
	last := listed[len(listed)-1].(map[string]any)
	idx := int64(last["BlockIndex"].(float64))
	blockFile := filepath.Join(dir, "block.bin")
	gb := ebs("get-snapshot-block", "--snapshot-id", snap, "--block-index", fmt.Sprint(idx),
		"--block-token", last["BlockToken"].(string), blockFile)
	got, err := os.ReadFile(blockFile)
	if err != nil {
		t.Fatal(err)
	}
	if wantBlock := cliReadBlock(t, disk, idx); !bytes.Equal(got, wantBlock) {
		t.Fatalf("get-snapshot-block %d: %d bytes differ from the disk's", idx, len(got))
	}
	if sum := sha256.Sum256(got); len(got) != ec2emu.BlockSize || gb["Checksum"] != base64.StdEncoding.EncodeToString(sum[:]) ||
		gb["ChecksumAlgorithm"] != "SHA256" || fmt.Sprint(gb["DataLength"]) != fmt.Sprint(ec2emu.BlockSize) {
		t.Fatalf("get-snapshot-block: %#v; the block's SHA-256 is %s", gb, base64.StdEncoding.EncodeToString(sum[:]))
	}

	// EBS direct writes: start, put one block, complete; the new snapshot lists that block.
	ss := ebs("start-snapshot", "--volume-size", "1", "--timeout", "10", "--description", "from awscli")
	newSnap, _ := ss["SnapshotId"].(string)
	if ss["Status"] != "pending" || ss["BlockSize"] != float64(ec2emu.BlockSize) || !strings.HasPrefix(newSnap, "snap-") {
		t.Fatalf("start-snapshot: %v", ss)
	}
	data := bytes.Repeat([]byte("chromogenic awscli "), ec2emu.BlockSize/19+1)[:ec2emu.BlockSize]
	dataFile := filepath.Join(dir, "put.bin")
	if err := os.WriteFile(dataFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	b64 := base64.StdEncoding.EncodeToString(sum[:])
	pb := ebs("put-snapshot-block", "--snapshot-id", newSnap, "--block-index", "7", "--block-data", dataFile,
		"--data-length", fmt.Sprint(ec2emu.BlockSize), "--checksum", b64, "--checksum-algorithm", "SHA256")
	if pb["Checksum"] != b64 {
		t.Fatalf("put-snapshot-block: %v", pb)
	}
	agg := sha256.Sum256(sum[:])
	cs := ebs("complete-snapshot", "--snapshot-id", newSnap, "--changed-blocks-count", "1",
		"--checksum", base64.StdEncoding.EncodeToString(agg[:]), "--checksum-algorithm", "SHA256",
		"--checksum-aggregation-method", "LINEAR")
	if cs["Status"] != "pending" && cs["Status"] != "completed" {
		t.Fatalf("complete-snapshot: %v", cs)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		d := ec2("describe-snapshots", "--snapshot-ids", newSnap)
		if jsonPath(d, "Snapshots", 0, "State") == "completed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("snapshot %s never completed: %v", newSnap, d)
		}
	}
	if nb := ebs("list-snapshot-blocks", "--snapshot-id", newSnap); jsonPath(nb, "Blocks", 0, "BlockIndex") != float64(7) || jsonPath(nb, "Blocks", 1) != nil {
		t.Fatalf("list-snapshot-blocks of the snapshot written by awscli: %v", nb)
	}

	// S3: the transfer manager uploads 19 MiB in 8 MiB parts and downloads it in ranges.
	srv.CreateBucket("cli")
	big := makeDisk(t, dir, 19<<20, 42)
	before := len(srv.Calls())
	if _, err := run(srv.SecretAccessKey, "s3", "--endpoint-url", srv.S3Endpoint, "cp", big, "s3://cli/dir/big.raw"); err != nil {
		t.Fatalf("aws s3 cp: %v", err)
	}
	p, ok := srv.ObjectPath("cli", "dir/big.raw")
	if !ok || fileSHA(t, p, -1) != fileSHA(t, big, -1) {
		t.Fatal("object uploaded by awscli differs")
	}
	back := filepath.Join(dir, "back.raw")
	if _, err := run(srv.SecretAccessKey, "s3", "--endpoint-url", srv.S3Endpoint, "cp", "s3://cli/dir/big.raw", back); err != nil {
		t.Fatalf("aws s3 cp back: %v", err)
	}
	if fileSHA(t, back, -1) != fileSHA(t, big, -1) {
		t.Fatal("object downloaded by awscli differs")
	}
	ops := map[string]int{}
	for _, c := range srv.Calls()[before:] {
		if c.Service == "s3" && c.Status < 300 {
			ops[c.Action]++
		}
	}
	if ops["CreateMultipartUpload"] != 1 || ops["UploadPart"] != 3 || ops["CompleteMultipartUpload"] != 1 || ops["GetObject"] < 3 {
		t.Fatalf("awscli did not transfer in parts: %v", ops)
	}

	// A wrong secret is refused with the real error codes.
	if _, err := run("wrong", "ec2", "--endpoint-url", srv.EC2Endpoint, "describe-images", "--owners", "self"); err == nil || !strings.Contains(err.Error(), "AuthFailure") {
		t.Fatalf("ec2 with a wrong secret: %v", err)
	}
	if _, err := run("wrong", "s3api", "--endpoint-url", srv.S3Endpoint, "list-objects-v2", "--bucket", "cli"); err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Fatalf("s3 with a wrong secret: %v", err)
	}
}

// cliDataBlocks lists the indexes of a disk file's 512 KiB blocks holding any non-zero byte.
func cliDataBlocks(t *testing.T, path string) []int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for i := int64(0); i*ec2emu.BlockSize < int64(len(b)); i++ {
		blk := b[i*ec2emu.BlockSize : min(int64(len(b)), (i+1)*ec2emu.BlockSize)]
		if !bytes.Equal(blk, make([]byte, len(blk))) {
			out = append(out, i)
		}
	}
	return out
}

// cliReadBlock is block i of a disk file, zero-padded to the block size.
func cliReadBlock(t *testing.T, path string, i int64) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, ec2emu.BlockSize)
	if _, err := f.ReadAt(buf, i*ec2emu.BlockSize); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return buf
}

type cliError struct {
	err    error
	stderr string
}

func (e *cliError) Error() string { return e.err.Error() + ": " + strings.TrimSpace(e.stderr) }

func jsonPath(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// botoSigV2 drives the emulator's object storage with Debian's python3-boto3 (botocore's own
// S3 signature version 2 signer, "s3", which awscli v2 no longer offers).
const botoSigV2 = `
import sys, boto3
from botocore.config import Config
from boto3.s3.transfer import TransferConfig
endpoint, key, secret, region, sigver, op = sys.argv[1:7]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret, region_name=region,
    config=Config(signature_version=sigver, s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
args = sys.argv[7:]
if op == "put":
    s3.put_object(Bucket=args[0], Key=args[1], Body=open(args[2], "rb").read())
elif op == "get":
    open(args[2], "wb").write(s3.get_object(Bucket=args[0], Key=args[1])["Body"].read())
elif op == "list":
    print("\n".join(o["Key"] for o in s3.list_objects_v2(Bucket=args[0]).get("Contents", [])))
elif op == "download":
    s3.download_file(args[0], args[1], args[2], Config=TransferConfig(multipart_threshold=8<<20, multipart_chunksize=8<<20))
`

// TestBotoSigV2CrossCheck checks the emulator's signature version 2 verifier (the object
// storage of Eucalyptus before 4.4, S3SigV2) against botocore's own version 2 signer,
// path-style: put and get of a key with a space, and a download in ranged GETs. The same
// client signing with version 4, or with a wrong secret, is refused. Object requests without
// sub-resources only, because of two botocore 1.29 bugs in this signer: for a bucket request
// it signs "/bucket/" while it sends ".../bucket" (Eucalyptus, checking the path it receives
// with and without its service path, refuses that, and so does the emulator), and it signs
// "?uploads?uploads" for CreateMultipartUpload. Sub-resources are checked against our own
// client (internal/cloud/ec2) and the rules of Amazon's documentation instead.
func TestBotoSigV2CrossCheck(t *testing.T) {
	testtier.Acceptance(t, "boto3 client runs (tens of seconds)")
	if err := exec.Command("/usr/bin/python3", "-c", "import boto3").Run(); err != nil {
		if testtier.Enabled() {
			t.Fatalf("python3-boto3 missing: install it (scripts/install-deps.sh): %v", err)
		}
		t.Skipf("python3-boto3 missing (apt-get install python3-boto3): %v", err)
	}
	srv := ec2emu.Start(t, ec2emu.Options{Dialect: ec2emu.Eucalyptus, S3SigV2: true})
	dir := t.TempDir()
	run := func(sigver, secret, op string, args ...string) (string, error) {
		cmd := exec.Command("/usr/bin/python3", append([]string{"-c", botoSigV2, srv.S3Endpoint, srv.AccessKeyID, secret, srv.Region, sigver, op}, args...)...)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "LANG=C.UTF-8", "AWS_CONFIG_FILE=/dev/null",
			"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true", "NO_PROXY=127.0.0.1", "no_proxy=127.0.0.1"}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return string(out), &cliError{err, stderr.String()}
		}
		return string(out), nil
	}
	v2 := func(op string, args ...string) string {
		t.Helper()
		out, err := run("s3", srv.SecretAccessKey, op, args...)
		if err != nil {
			t.Fatalf("boto3 %s %v (signature version 2): %v", op, args, err)
		}
		return out
	}
	srv.CreateBucket("old-euca")
	small := makeDisk(t, dir, 300<<10, 7)
	v2("put", "old-euca", "dir/a b.bin", small)
	p, ok := srv.ObjectPath("old-euca", "dir/a b.bin")
	if !ok || fileSHA(t, p, -1) != fileSHA(t, small, -1) {
		t.Fatal("object put with signature version 2 differs")
	}
	back := filepath.Join(dir, "small.back")
	v2("get", "old-euca", "dir/a b.bin", back)
	if fileSHA(t, back, -1) != fileSHA(t, small, -1) {
		t.Fatal("object got with signature version 2 differs")
	}
	big := makeDisk(t, dir, 19<<20, 43)
	v2("put", "old-euca", "big.raw", big)
	before := len(srv.Calls())
	bigBack := filepath.Join(dir, "big.back")
	v2("download", "old-euca", "big.raw", bigBack)
	if fileSHA(t, bigBack, -1) != fileSHA(t, big, -1) {
		t.Fatal("object differs after the ranged download")
	}
	ops := map[string]int{}
	for _, c := range srv.Calls()[before:] {
		if c.Service == "s3" && c.Status < 300 {
			ops[c.Action]++
		}
	}
	if ops["GetObject"] < 3 {
		t.Fatalf("boto3 did not download in ranges: %v", ops)
	}
	if _, err := run("s3", "wrong", "get", "old-euca", "dir/a b.bin", back); err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Fatalf("signature version 2 with a wrong secret: %v", err)
	}
	if _, err := run("s3v4", srv.SecretAccessKey, "put", "old-euca", "v4.bin", small); err == nil || !strings.Contains(err.Error(), "signature version 4 is not supported") {
		t.Fatalf("signature version 4 against version-2-only storage: %v", err)
	}
	if _, ok := srv.ObjectPath("old-euca", "v4.bin"); ok {
		t.Error("the refused version 4 upload left an object")
	}
}
