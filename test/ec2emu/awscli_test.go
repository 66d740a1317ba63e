package ec2emu_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// TestAWSCLICrossCheck drives the emulator with awscli (botocore: a SigV4 signer, query
// serializer and XML/JSON parsers nobody here wrote). It skips when awscli is not installed.
func TestAWSCLICrossCheck(t *testing.T) {
	awsBin, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("awscli not installed (apt-get install awscli)")
	}
	srv := ec2emu.Start(t)
	dir := t.TempDir()
	disk := makeDisk(t, dir, 6<<20, 41)
	iid, err := srv.AddInstance(ec2emu.Instance{Name: "cli-vm", RootDisk: disk})
	if err != nil {
		t.Fatal(err)
	}
	run := func(secret string, args ...string) ([]byte, error) {
		cmd := exec.Command(awsBin, append(args, "--output", "json")...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+srv.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+secret,
			"AWS_DEFAULT_REGION="+srv.Region, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
			"AWS_MAX_ATTEMPTS=1", "NO_PROXY=127.0.0.1", "no_proxy=127.0.0.1", "AWS_PAGER=")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return out, &cliError{err, stderr.String()}
		}
		return out, nil
	}
	ec2 := func(args ...string) map[string]any {
		t.Helper()
		out, err := run(srv.SecretAccessKey, append([]string{"ec2", "--endpoint-url", srv.EC2Endpoint}, args...)...)
		if err != nil {
			t.Fatalf("aws ec2 %v: %v", args, err)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil && len(out) > 0 {
			t.Fatalf("aws ec2 %v: %v in %s", args, err, out)
		}
		return m
	}

	di := ec2("describe-instances", "--filters", "Name=tag:Name,Values=cli-vm", "Name=instance-state-name,Values=running")
	if got := jsonPath(di, "Reservations", 0, "Instances", 0, "InstanceId"); got != iid {
		t.Fatalf("describe-instances: %v", di)
	}
	ci := ec2("create-image", "--instance-id", iid, "--name", "cli image", "--no-reboot",
		"--tag-specifications", "ResourceType=image,Tags=[{Key=via,Value=cli}]")
	ami, _ := ci["ImageId"].(string)
	var img map[string]any
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		img = ec2("describe-images", "--owners", "self", "--filters", "Name=tag:via,Values=cli")
		if jsonPath(img, "Images", 0, "State") == "available" {
			break
		}
	}
	if jsonPath(img, "Images", 0, "ImageId") != ami || jsonPath(img, "Images", 0, "State") != "available" ||
		jsonPath(img, "Images", 0, "BlockDeviceMappings", 0, "Ebs", "SnapshotId") == nil {
		t.Fatalf("describe-images: %v", img)
	}

	// EBS direct (REST-JSON) through botocore.
	out, err := run(srv.SecretAccessKey, "ebs", "--endpoint-url", srv.EBSEndpoint, "start-snapshot", "--volume-size", "1", "--timeout", "10")
	if err != nil {
		t.Fatalf("aws ebs start-snapshot: %v", err)
	}
	var ss map[string]any
	json.Unmarshal(out, &ss)
	if ss["Status"] != "pending" || ss["BlockSize"] != float64(ec2emu.BlockSize) {
		t.Fatalf("start-snapshot: %s", out)
	}

	// S3 multipart through botocore's transfer manager (8 MiB threshold).
	srv.CreateBucket("cli")
	big := makeDisk(t, dir, 19<<20, 42)
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

	// A wrong secret is refused with the real error codes.
	if _, err := run("wrong", "ec2", "--endpoint-url", srv.EC2Endpoint, "describe-images", "--owners", "self"); err == nil || !strings.Contains(err.Error(), "AuthFailure") {
		t.Fatalf("ec2 with a wrong secret: %v", err)
	}
	if _, err := run("wrong", "s3api", "--endpoint-url", srv.S3Endpoint, "list-objects-v2", "--bucket", "cli"); err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Fatalf("s3 with a wrong secret: %v", err)
	}
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
