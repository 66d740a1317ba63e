package ec2emu_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// TestAWSCLIShareCopyAssumeRole drives the sharing, region and STS actions with Debian's
// awscli (botocore's serializers and parsers): sts assume-role, then with the temporary
// credentials modify/describe-image-attribute (launchPermission), modify/describe-snapshot-
// attribute (createVolumePermission), describe-regions, and copy-image into eu-west-1 found
// there and not in the source region. An acceptance test (PACKER_ACC=1).
func TestAWSCLIShareCopyAssumeRole(t *testing.T) {
	testtier.Acceptance(t, "a dozen awscli runs")
	if _, err := os.Stat(awsCLI); err != nil {
		t.Fatalf("%s missing: install Debian's awscli package (scripts/install-deps.sh)", awsCLI)
	}
	srv := ec2emu.Start(t, ec2emu.Options{ImageDelay: 300 * time.Millisecond})
	dir := t.TempDir()
	ami, err := srv.AddImage(ec2emu.Image{Name: "cli-share", RootDisk: makeDisk(t, dir, 2<<20, 3)})
	if err != nil {
		t.Fatal(err)
	}
	key, secret, token := srv.AccessKeyID, srv.SecretAccessKey, ""
	run := func(region string, args ...string) map[string]any {
		t.Helper()
		cmd := exec.Command(awsCLI, append(args, "--output", "json")...)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "LANG=C.UTF-8", "AWS_ACCESS_KEY_ID=" + key,
			"AWS_SECRET_ACCESS_KEY=" + secret, "AWS_SESSION_TOKEN=" + token, "AWS_DEFAULT_REGION=" + region,
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_MAX_ATTEMPTS=1",
			"AWS_EC2_METADATA_DISABLED=true", "NO_PROXY=127.0.0.1", "no_proxy=127.0.0.1", "AWS_PAGER="}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("aws %v: %v %s", args, err, stderr.String())
		}
		var m map[string]any
		if len(bytes.TrimSpace(out)) > 0 {
			if err := json.Unmarshal(out, &m); err != nil {
				t.Fatalf("aws %v: %v in %s", args, err, out)
			}
		}
		return m
	}
	ec2 := func(region string, args ...string) map[string]any {
		t.Helper()
		return run(region, append([]string{"ec2", "--endpoint-url", srv.EC2Endpoint}, args...)...)
	}

	ar := run(srv.Region, "sts", "--endpoint-url", srv.STSEndpoint, "assume-role", "--role-arn", "arn:aws:iam::210987654321:role/cli",
		"--role-session-name", "cli-session", "--external-id", "cli-ext", "--duration-seconds", "900")
	key, _ = jsonPath(ar, "Credentials", "AccessKeyId").(string)
	secret, _ = jsonPath(ar, "Credentials", "SecretAccessKey").(string)
	token, _ = jsonPath(ar, "Credentials", "SessionToken").(string)
	if !strings.HasPrefix(key, "ASIA") || secret == "" || token == "" ||
		jsonPath(ar, "AssumedRoleUser", "Arn") != "arn:aws:sts::210987654321:assumed-role/cli/cli-session" {
		t.Fatalf("assume-role: %v", ar)
	}

	ec2(srv.Region, "modify-image-attribute", "--image-id", ami, "--launch-permission", "Add=[{UserId=210987654321},{Group=all}]")
	lp := ec2(srv.Region, "describe-image-attribute", "--image-id", ami, "--attribute", "launchPermission")
	if jsonPath(lp, "ImageId") != ami || jsonPath(lp, "LaunchPermissions", 0, "Group") != "all" ||
		jsonPath(lp, "LaunchPermissions", 1, "UserId") != "210987654321" || jsonPath(lp, "LaunchPermissions", 2) != nil {
		t.Errorf("describe-image-attribute: %v", lp)
	}
	img := ec2(srv.Region, "describe-images", "--image-ids", ami)
	snap, _ := jsonPath(img, "Images", 0, "BlockDeviceMappings", 0, "Ebs", "SnapshotId").(string)
	ec2(srv.Region, "modify-snapshot-attribute", "--snapshot-id", snap, "--attribute", "createVolumePermission",
		"--operation-type", "add", "--user-ids", "333344445555")
	sa := ec2(srv.Region, "describe-snapshot-attribute", "--snapshot-id", snap, "--attribute", "createVolumePermission")
	if jsonPath(sa, "SnapshotId") != snap || jsonPath(sa, "CreateVolumePermissions", 0, "UserId") != "333344445555" ||
		jsonPath(sa, "CreateVolumePermissions", 1) != nil {
		t.Errorf("describe-snapshot-attribute: %v", sa)
	}
	rs := ec2(srv.Region, "describe-regions", "--region-names", "eu-west-1", srv.Region)
	if jsonPath(rs, "Regions", 1, "RegionName") == nil || jsonPath(rs, "Regions", 2) != nil {
		t.Errorf("describe-regions: %v", rs)
	}

	cp := ec2("eu-west-1", "copy-image", "--source-image-id", ami, "--source-region", srv.Region, "--name", "cli-share")
	copyID, _ := cp["ImageId"].(string)
	if !strings.HasPrefix(copyID, "ami-") {
		t.Fatalf("copy-image: %v", cp)
	}
	var got map[string]any
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		got = ec2("eu-west-1", "describe-images", "--owners", "self", "--filters", "Name=name,Values=cli-share")
		if jsonPath(got, "Images", 0, "State") == "available" {
			break
		}
	}
	// (awscli 2.9's model predates SourceImageId: TestCopyImageAcrossRegions checks it.)
	if jsonPath(got, "Images", 0, "ImageId") != copyID || jsonPath(got, "Images", 0, "State") != "available" || jsonPath(got, "Images", 1) != nil {
		t.Errorf("the copy in eu-west-1: %v", got)
	}
	if home := ec2(srv.Region, "describe-images", "--owners", "self", "--filters", "Name=name,Values=cli-share"); jsonPath(home, "Images", 0, "ImageId") != ami || jsonPath(home, "Images", 1) != nil {
		t.Errorf("the source region sees %v", home)
	}
	for _, c := range srv.Calls() {
		if c.Service == "ec2" && c.AccessKey != key {
			t.Errorf("%s signed with %s, not the assumed key %s", c.Action, c.AccessKey, key)
		}
	}
}
