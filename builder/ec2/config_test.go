package ec2

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2/bundle"
)

type keyFiles struct{ userKey, userCert, cloudKey, cloudCert string }

// eucaKeys writes a user and a cloud identity as PEM files.
func eucaKeys(t *testing.T) keyFiles {
	t.Helper()
	dir := t.TempDir()
	var k keyFiles
	for _, who := range []string{"user", "cloud"} {
		id, err := bundle.NewIdentity(who)
		if err != nil {
			t.Fatal(err)
		}
		kp, cp := filepath.Join(dir, who+"-pk.pem"), filepath.Join(dir, who+"-cert.pem")
		if err := os.WriteFile(kp, id.KeyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cp, id.CertPEM, 0o644); err != nil {
			t.Fatal(err)
		}
		if who == "user" {
			k.userKey, k.userCert = kp, cp
		} else {
			k.cloudKey, k.cloudCert = kp, cp
		}
	}
	return k
}

func TestPrepareDefaults(t *testing.T) {
	var c Config
	err := c.Prepare(map[string]interface{}{"instance_id": "i-1", "ami_name": "captured", "packer_build_name": "b",
		"tags": map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.VolumeType != "gp3" || c.EBSConcurrency != 16 || c.StateTimeout.Minutes() != 30 || c.OutputDir != "output-b" ||
		c.SnapshotTags["k"] != "v" || c.NoReboot || c.Disks != "root" {
		t.Errorf("defaults: %+v", c)
	}
}

func TestPrepareErrorsNameTheField(t *testing.T) {
	base := func(kv ...interface{}) map[string]interface{} {
		m := map[string]interface{}{"ami_name": "new-ami"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	filter := map[string]interface{}{"filters": map[string]string{"name": "debian-*"}, "owners": []string{"self"}}
	keys := eucaKeys(t)
	euca := "http://clc.example:8773/services/compute"
	eucaBlock := func(kv ...string) map[string]interface{} {
		m := map[string]interface{}{"user_private_key_file": keys.userKey, "user_cert_file": keys.userCert, "cloud_cert_file": keys.cloudCert, "bucket": "bkt"}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	cases := []struct {
		raw  map[string]interface{}
		want string
	}{
		{base("instance_id", "i-1"), ""},
		{base("instance_filter", map[string]string{"tag:Name": "web"}, "no_reboot", true), ""},
		{base("source_ami_filter", filter), ""},
		{base("source_ami", "ami-1", "skip_register", true, "ami_name", ""), ""},
		{base(), "exactly one of instance_id"},
		{base("instance_id", "i-1", "s3_signature_version", "v3"), `s3_signature_version "v3": want v4 or v2`},
		{base("instance_id", "i-1", "s3_signature_version", "v2"), "s3_signature_version v2 is for Eucalyptus object storage before 4.4: set custom_endpoint_s3"},
		{base("instance_id", "i-1", "s3_signature_version", "v2", "custom_endpoint_s3", "http://clc.example:8773/services/objectstorage",
			"custom_endpoint_ec2", euca, "eucalyptus", eucaBlock()), ""},
		// Options of one side used on the other name their field.
		{base("instance_id", "i-1", "s3_signature_version", "v2", "custom_endpoint_s3", "http://clc.example:8773/services/objectstorage"), `s3_signature_version "v2" is for Eucalyptus object storage before 4.4: add a eucalyptus block`},
		{base("instance_id", "i-1", "custom_endpoint_s3", "http://clc.example:8773/services/objectstorage"), "custom_endpoint_s3 is used by Eucalyptus builds only"},
		{base("instance_id", "i-1", "custom_endpoint_ec2", euca, "eucalyptus", eucaBlock(), "ebs_concurrency", 8), "ebs_concurrency is for the EBS direct API"},
		{base("instance_id", "i-1", "custom_endpoint_ec2", euca, "eucalyptus", eucaBlock(), "imds_support", "v2.0"), "imds_support is not supported by Eucalyptus"},
		// A eucalyptus block means Eucalyptus; the endpoints must not contradict it.
		{base("instance_id", "i-1", "eucalyptus", eucaBlock()), "custom_endpoint_ec2 is required with a eucalyptus block"},
		{base("instance_id", "i-1", "custom_endpoint_ec2", euca, "custom_endpoint_ebs", "http://ebs.example", "eucalyptus", eucaBlock()), "custom_endpoint_ebs: Eucalyptus has no EBS direct API"},
		{base("instance_id", "i-1", "custom_endpoint_ec2", "https://gw.example.org/euca-compute", "eucalyptus", eucaBlock()), ""},
		{base("instance_id", "i-1", "custom_endpoint_ec2", "https://gw.example.org/euca-compute", "eucalyptus", map[string]interface{}{}, "skip_register", true), ""},
		// An AWS-compatible cloud with a Eucalyptus-shaped path and the EBS direct API.
		{base("instance_id", "i-1", "custom_endpoint_ec2", euca, "custom_endpoint_ebs", "http://ebs.example"), ""},
		{base("instance_id", "i-1", "source_ami", "ami-1"), "exactly one of instance_id"},
		{base("source_ami_filter", map[string]interface{}{"filters": map[string]string{"name": "x"}}), "source_ami_filter.owners is required"},
		{base("source_ami", "ami-1", "no_reboot", true), "no_reboot applies"},
		{base("source_ami", "ami-1", "keep_intermediate_image", true), "keep_intermediate_image applies"},
		{base("instance_id", "i-1", "ami_name", ""), "ami_name is required"},
		{base("instance_id", "i-1", "ami_name", "x!"), "ami_name \"x!\""},
		{base("instance_id", "i-1", "boot_mode", "bios"), "boot_mode \"bios\""},
		{base("instance_id", "i-1", "volume_type", "ssd"), "volume_type"},
		{base("instance_id", "i-1", "imds_support", "v1"), "imds_support"},
		{base("instance_id", "i-1", "ebs_concurrency", 5000), "ebs_concurrency"},
		{base("instance_id", "i-1", "access_key", "AKID"), "access_key and secret_key go together"},
		{base("instance_id", "i-1", "shared_credentials_file", "/nonexistent/creds"), "shared_credentials_file"},
		{base("instance_id", "i-1", "max_retries", -1), "max_retries"},
		{base("instance_id", "i-1", "root_partition", -2), "root_partition"},
		{base("instance_id", "i-1", "custom_endpoint_ec2", euca), `custom_endpoint_ec2 "http://clc.example:8773/services/compute" is a Eucalyptus cloud controller: add a eucalyptus block`},
		{base("instance_id", "i-1", "custom_endpoint_ec2", euca, "eucalyptus", eucaBlock()), ""},
		{base("instance_id", "i-1", "custom_endpoint_ec2", euca, "eucalyptus", eucaBlock("user_private_key_file", "")), "eucalyptus.user_private_key_file is required"},
		{base("instance_id", "i-1", "custom_endpoint_ec2", euca, "eucalyptus", eucaBlock("cloud_cert_file", "")), ""},
		{base("instance_id", "i-1", "custom_endpoint_ec2", euca, "eucalyptus", eucaBlock("user_private_key_file", "", "cloud_private_key_file", keys.cloudKey), "skip_register", true), ""},
		{base("instance_id", "i-1", "custom_endpoint_ec2", euca, "eucalyptus", eucaBlock("user_cert_file", keys.cloudCert)), "eucalyptus.user_private_key_file is not the key of eucalyptus.user_cert_file"},
		{base("instance_id", "i-1", "custom_endpoint_ec2", euca, "eucalyptus", eucaBlock("cloud_cert_file", "/nonexistent.pem")), "eucalyptus.cloud_cert_file"},
		{base("instance_id", "i-1", "custom_endpoint_ec2", euca, "eucalyptus", eucaBlock("user_cert_file", keys.userKey)), "eucalyptus.user_cert_file"},
		{base("instance_id", "i-1", "custom_endpoint_ec2", euca, "eucalyptus", eucaBlock("register", "ebs")), "eucalyptus.register \"ebs\""},
		{base("instance_id", "i-1", "custom_endpoint_ec2", euca, "eucalyptus", eucaBlock("register", "import-volume")), "eucalyptus.availability_zone is required"},
		{base("instance_id", "i-1", "custom_endpoint_ec2", euca, "eucalyptus", eucaBlock("register", "import-volume", "availability_zone", "PARTI00")), ""},
		{base("instance_id", "i-1", "custom_endpoint_ec2", euca, "eucalyptus", eucaBlock(), "boot_mode", "uefi"), "boot_mode is not supported by Eucalyptus"},
		{base("instance_id", "i-1", "custom_endpoint_ec2", euca, "eucalyptus", eucaBlock(), "ena_support", true), "ena_support is not supported by Eucalyptus"},
		{base("instance_id", "i-1", "capture_method", "attach"), ""},
		// disks: root or all; all only through the EBS direct API.
		{base("instance_id", "i-1", "disks", "all"), ""},
		{base("source_ami", "ami-1", "disks", "root"), ""},
		{base("instance_id", "i-1", "disks", "all", "capture_method", "ebs-direct"), ""},
		{base("instance_id", "i-1", "disks", "every"), `disks "every": want root or all`},
		{base("instance_id", "i-1", "disks", "all", "capture_method", "attach"), `disks = "all" needs capture_method "ebs-direct"; capture_method "attach"`},
		{base("instance_id", "i-1", "disks", "all", "custom_endpoint_ec2", euca, "eucalyptus", eucaBlock()), `disks = "all" is not supported on Eucalyptus`},
		{base("instance_id", "i-1", "capture_method", "ebs-direct"), ""},
		{base("instance_id", "i-1", "capture_method", "attach", "device_path", "/dev/xvdf"), ""},
		{base("instance_id", "i-1", "capture_method", "scp"), `capture_method "scp"`},
		{base("instance_id", "i-1", "capture_method", "bundle"), `capture_method "bundle" is for Eucalyptus`},
		{base("instance_id", "i-1", "device_path", "/dev/xvdf"), "device_path applies to capture_method = \"attach\" only"},
		{base("instance_id", "i-1", "capture_method", "attach", "device_path", "/dev/nvme1n1"), `device_path "/dev/nvme1n1"`},
		{base("instance_id", "i-1", "capture_method", "attach", "device_path", "xvdf"), `device_path "xvdf"`},
		{base("instance_id", "i-1", "custom_endpoint_ec2", euca, "eucalyptus", eucaBlock(), "capture_method", "ebs-direct"), "Eucalyptus has no EBS direct API"},
		// EBS-backed Eucalyptus sources (attach, the default there) need no keys to be read.
		{base("source_ami", "emi-1", "custom_endpoint_ec2", euca, "eucalyptus", map[string]interface{}{}, "skip_register", true), ""},
		{base("source_ami", "emi-1", "custom_endpoint_ec2", euca, "eucalyptus", map[string]interface{}{}, "skip_register", true, "device_path", "/dev/sdg"), ""},
		{base("source_ami", "emi-1", "custom_endpoint_ec2", euca, "eucalyptus", map[string]interface{}{}, "skip_register", true, "capture_method", "bundle"), "eucalyptus.bucket is required"},
		{base("source_ami", "emi-1", "custom_endpoint_ec2", euca, "eucalyptus", map[string]interface{}{}, "skip_register", true, "capture_method", "bundle"), "eucalyptus.user_private_key_file (or cloud_private_key_file) is required"},
		// Encryption, replacement, run tags.
		{base("instance_id", "i-1", "encrypt_boot", true, "kms_key_id", "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"), ""},
		{base("instance_id", "i-1", "encrypt_boot", false, "force_deregister", true, "force_delete_snapshot", true, "run_tags", map[string]string{"a": "b"}), ""},
		{base("instance_id", "i-1", "kms_key_id", "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"), "kms_key_id requires encrypt_boot = true"},
		{base("instance_id", "i-1", "encrypt_boot", false, "kms_key_id", "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"), "kms_key_id requires encrypt_boot = true"},
		{base("instance_id", "i-1", "encrypt_boot", true, "kms_key_id", "alias/aws/ebs"), `kms_key_id "alias/aws/ebs": want a key ARN`},
		{base("instance_id", "i-1", "force_delete_snapshot", true), "force_delete_snapshot applies with force_deregister = true only"},
		{base("instance_id", "i-1", "custom_endpoint_ec2", euca, "eucalyptus", eucaBlock(), "encrypt_boot", true), "encrypt_boot is not supported by Eucalyptus"},
		{base("instance_id", "i-1", "custom_endpoint_ec2", euca, "eucalyptus", eucaBlock(), "force_deregister", true), ""},
	}
	for _, tc := range cases {
		var c Config
		err := c.Prepare(tc.raw)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%v: unexpected error %v", tc.raw, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%v accepted", tc.raw)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error does not say %q: %v", tc.raw, tc.want, err)
		}
	}
}

// The capture method follows the cloud and the source's root device type unless set; a set
// one that cannot read the source is an error saying what would.
func TestCaptureMethodResolution(t *testing.T) {
	keys := eucaKeys(t)
	euca := map[string]interface{}{"custom_endpoint_ec2": "http://clc:8773/services/compute", "eucalyptus": map[string]interface{}{}}
	withKeys := map[string]interface{}{"user_private_key_file": keys.userKey, "bucket": "b"}
	cases := []struct {
		cfg           map[string]interface{}
		instanceStore bool
		want, err     string
	}{
		{nil, false, CaptureEBSDirect, ""},
		{map[string]interface{}{"capture_method": "attach"}, false, CaptureAttach, ""},
		{nil, true, "", "only EBS-backed sources can be captured on AWS"},
		{euca, false, CaptureAttach, ""},
		{euca, true, "", "eucalyptus.bucket is required"},
		{map[string]interface{}{"eucalyptus": withKeys}, true, CaptureBundle, ""},
		{map[string]interface{}{"capture_method": "attach", "eucalyptus": map[string]interface{}{}}, true, "", `capture_method "attach" needs an EBS root snapshot`},
		// A proxy URL that does not look like a cloud controller: the block decides.
		{map[string]interface{}{"custom_endpoint_ec2": "https://gw.example.org/euca-compute", "eucalyptus": map[string]interface{}{}}, false, CaptureAttach, ""},
		{map[string]interface{}{"custom_endpoint_ec2": "https://gw.example.org/euca-compute"}, false, CaptureEBSDirect, ""},
		{map[string]interface{}{"capture_method": "bundle", "eucalyptus": withKeys}, false, "", `capture_method "bundle" is for instance-store sources`},
	}
	for i, tc := range cases {
		raw := map[string]interface{}{"source_ami": "ami-1", "skip_register": true}
		for k, v := range tc.cfg {
			raw[k] = v
		}
		if _, ok := raw["custom_endpoint_ec2"]; !ok && (tc.cfg["eucalyptus"] != nil || tc.cfg["capture_method"] == "bundle") {
			raw["custom_endpoint_ec2"] = euca["custom_endpoint_ec2"]
		}
		var c Config
		if err := c.Prepare(raw); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		got, err := (&StepSource{Config: &c}).method(tc.instanceStore)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("case %d %v (instance-store %v): %q, %v; want %q, %q", i, tc.cfg, tc.instanceStore, got, err, tc.want, tc.err)
		}
	}
}

// A eucalyptus block makes the cloud Eucalyptus whatever the endpoint's URL (a proxy here);
// without it the same URL is an AWS-compatible cloud with the EBS direct API.
func TestEucalyptusBlockDecides(t *testing.T) {
	proxy := "https://gw.example.org/euca-compute"
	for _, block := range []bool{true, false} {
		raw := map[string]interface{}{"source_ami": "emi-1", "skip_register": true, "custom_endpoint_ec2": proxy}
		if block {
			raw["eucalyptus"] = map[string]interface{}{}
		}
		var c Config
		if err := c.Prepare(raw); err != nil {
			t.Fatal(err)
		}
		if c.IsEucalyptus() != block || c.Access(8, c.IsEucalyptus()).Eucalyptus != block {
			t.Errorf("block %v: IsEucalyptus %v", block, c.IsEucalyptus())
		}
		if want := map[bool]string{true: "standard", false: "gp3"}[block]; c.VolumeType != want {
			t.Errorf("block %v: volume_type %q, want %q", block, c.VolumeType, want)
		}
	}
}

// In HCL2 (the cty value packer hands the plugin), an empty `eucalyptus {}` block is
// Eucalyptus and no block is not.
func TestEucalyptusBlockInHCL(t *testing.T) {
	for src, want := range map[string]bool{
		"source_ami = \"emi-1\"\nskip_register = true\ncustom_endpoint_ec2 = \"https://gw.example.org/euca\"\neucalyptus {}\n": true,
		"source_ami = \"emi-1\"\nskip_register = true\ncustom_endpoint_ec2 = \"https://gw.example.org/euca\"\n":                false,
	} {
		f, diags := hclparse.NewParser().ParseHCL([]byte(src), "t.pkr.hcl")
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		var c Config
		v, diags := hcldec.Decode(f.Body, hcldec.ObjectSpec(c.FlatMapstructure().HCL2Spec()), nil)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		if err := c.Prepare(v); err != nil {
			t.Fatal(err)
		}
		if c.IsEucalyptus() != want {
			t.Errorf("%q: IsEucalyptus %v", src, c.IsEucalyptus())
		}
	}
}
