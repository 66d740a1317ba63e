package ec2emu_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// TestAWSCLIEncryptionAndTags checks the emulator's encryption fields and the require-tags
// policy with Debian's awscli (botocore's parsers, not ours): ebs start-snapshot --encrypted
// --kms-key-arn, then ec2 describe-snapshots showing Encrypted, KmsKeyId and the tags given at
// creation; a seeded encrypted AMI whose describe-images mapping says Encrypted and a volume of
// its snapshot that is encrypted with the same key; and, with the policy on, create-volume
// without --tag-specifications refused (UnauthorizedOperation) while a tagged one passes.
func TestAWSCLIEncryptionAndTags(t *testing.T) {
	testtier.Acceptance(t, "awscli runs (tens of seconds on a busy machine)")
	if _, err := os.Stat(awsCLI); err != nil {
		if testtier.Enabled() {
			t.Fatalf("%s missing: install Debian's awscli package (scripts/install-deps.sh)", awsCLI)
		}
		t.Skipf("%s missing (apt-get install awscli)", awsCLI)
	}
	srv := ec2emu.Start(t)
	dir := t.TempDir()
	run := func(service, endpoint string, args ...string) (map[string]any, error) {
		cmd := exec.Command(awsCLI, append([]string{service, "--endpoint-url", endpoint}, append(args, "--output", "json")...)...)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "LANG=C.UTF-8",
			"AWS_ACCESS_KEY_ID=" + srv.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + srv.SecretAccessKey,
			"AWS_DEFAULT_REGION=" + srv.Region, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
			"AWS_MAX_ATTEMPTS=1", "AWS_EC2_METADATA_DISABLED=true", "NO_PROXY=127.0.0.1", "no_proxy=127.0.0.1", "AWS_PAGER="}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, &cliError{err, stderr.String()}
		}
		var m map[string]any
		if len(bytes.TrimSpace(out)) > 0 {
			if err := json.Unmarshal(out, &m); err != nil {
				return nil, err
			}
		}
		return m, nil
	}
	must := func(service, endpoint string, args ...string) map[string]any {
		t.Helper()
		m, err := run(service, endpoint, args...)
		if err != nil {
			t.Fatalf("aws %s %v: %v", service, args, err)
		}
		return m
	}
	key := "arn:aws:kms:" + srv.Region + ":123456789012:key/3e3e3e3e-4f4f-4a5a-8b6b-7c7c7c7c7c7c"

	// EBS direct: an encrypted snapshot with a key, written and completed.
	ss := must("ebs", srv.EBSEndpoint, "start-snapshot", "--volume-size", "1", "--encrypted", "--kms-key-arn", key,
		"--tags", "Key=made-by,Value=cli")
	snap, _ := ss["SnapshotId"].(string)
	if !strings.HasPrefix(snap, "snap-") || ss["KmsKeyArn"] != key { // (awscli 2.9's model predates SseType)
		t.Fatalf("start-snapshot: %v", ss)
	}
	block := bytes.Repeat([]byte("e"), ec2emu.BlockSize)
	bp := filepath.Join(dir, "block")
	if err := os.WriteFile(bp, block, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(block)
	b64 := base64.StdEncoding.EncodeToString(sum[:])
	must("ebs", srv.EBSEndpoint, "put-snapshot-block", "--snapshot-id", snap, "--block-index", "0", "--block-data", bp,
		"--data-length", "524288", "--checksum", b64, "--checksum-algorithm", "SHA256")
	must("ebs", srv.EBSEndpoint, "complete-snapshot", "--snapshot-id", snap, "--changed-blocks-count", "1")
	var ds map[string]any
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		ds = must("ec2", srv.EC2Endpoint, "describe-snapshots", "--snapshot-ids", snap)
		if jsonPath(ds, "Snapshots", 0, "State") == "completed" {
			break
		}
	}
	if jsonPath(ds, "Snapshots", 0, "Encrypted") != true || jsonPath(ds, "Snapshots", 0, "KmsKeyId") != key ||
		jsonPath(ds, "Snapshots", 0, "Tags", 0, "Key") != "made-by" || jsonPath(ds, "Snapshots", 0, "State") != "completed" {
		t.Fatalf("describe-snapshots of the encrypted snapshot: %v", ds)
	}
	// A key without --encrypted is refused, as AWS documents.
	if _, err := run("ebs", srv.EBSEndpoint, "start-snapshot", "--volume-size", "1", "--kms-key-arn", key); err == nil || !strings.Contains(err.Error(), "ValidationException") {
		t.Fatalf("start-snapshot with a key and no --encrypted: %v", err)
	}

	// A seeded encrypted AMI (the default EBS key) and a volume of its snapshot.
	ami, err := srv.AddImage(ec2emu.Image{Name: "enc-ami", Encrypted: true})
	if err != nil {
		t.Fatal(err)
	}
	di := must("ec2", srv.EC2Endpoint, "describe-images", "--image-ids", ami)
	asnap, _ := jsonPath(di, "Images", 0, "BlockDeviceMappings", 0, "Ebs", "SnapshotId").(string)
	if jsonPath(di, "Images", 0, "BlockDeviceMappings", 0, "Ebs", "Encrypted") != true {
		t.Fatalf("describe-images of an encrypted AMI: %v", di)
	}
	if got := must("ec2", srv.EC2Endpoint, "describe-snapshots", "--snapshot-ids", asnap); jsonPath(got, "Snapshots", 0, "KmsKeyId") != srv.DefaultKMSKeyID() {
		t.Fatalf("the seeded AMI's snapshot: %v", got)
	}

	// The require-tags policy.
	srv.RequireTagsOnCreate(true)
	if _, err := run("ec2", srv.EC2Endpoint, "create-volume", "--snapshot-id", asnap, "--availability-zone", srv.Region+"a"); err == nil || !strings.Contains(err.Error(), "UnauthorizedOperation") {
		t.Fatalf("untagged create-volume under the policy: %v", err)
	}
	cv := must("ec2", srv.EC2Endpoint, "create-volume", "--snapshot-id", asnap, "--availability-zone", srv.Region+"a",
		"--tag-specifications", "ResourceType=volume,Tags=[{Key=purpose,Value=ci}]")
	if cv["Encrypted"] != true || cv["KmsKeyId"] != srv.DefaultKMSKeyID() || jsonPath(cv, "Tags", 0, "Value") != "ci" {
		t.Fatalf("create-volume of the encrypted snapshot: %v", cv)
	}
}
