package ec2import

import (
	"strings"
	"testing"
)

func TestPrepare(t *testing.T) {
	var c Config
	if err := c.Prepare(map[string]interface{}{"ami_name": "imported"}); err != nil {
		t.Fatal(err)
	}
	if c.Architecture != "x86_64" || c.RootDeviceName != "/dev/xvda" || c.VolumeType != "gp3" || c.EBSConcurrency != 16 {
		t.Errorf("defaults %+v", c)
	}
	for raw, want := range map[string]map[string]interface{}{
		"ami_name is required":   {},
		"architecture \"sparc\"": {"ami_name": "abc", "architecture": "sparc"},
		"arm64 images boot":      {"ami_name": "abc", "architecture": "arm64", "boot_mode": "legacy-bios"},
		"boot_mode \"bios\"":     {"ami_name": "abc", "boot_mode": "bios"},
		"is a Eucalyptus cloud controller: add a eucalyptus block": {"ami_name": "abc", "custom_endpoint_ec2": "http://clc:8773/services/compute"},
		"eucalyptus.bucket is required":                            {"ami_name": "abc", "custom_endpoint_ec2": "http://clc:8773/services/compute", "eucalyptus": map[string]interface{}{}},
		"eucalyptus.user_private_key_file is required":             {"ami_name": "abc", "custom_endpoint_ec2": "http://clc:8773/services/compute", "eucalyptus": map[string]interface{}{"bucket": "b"}},
		"ena_support is not supported by Eucalyptus":               {"ami_name": "abc", "custom_endpoint_ec2": "http://clc:8773/services/compute", "eucalyptus": map[string]interface{}{}, "ena_support": true},
		"custom_endpoint_ec2 is required with a eucalyptus block":  {"ami_name": "abc", "eucalyptus": map[string]interface{}{"bucket": "b"}},
		"custom_endpoint_ebs: Eucalyptus has no EBS direct API":    {"ami_name": "abc", "custom_endpoint_ec2": "https://gw.example.org/euca", "custom_endpoint_ebs": "https://ebs.example", "eucalyptus": map[string]interface{}{}},
		"ebs_concurrency is for the EBS direct API":                {"ami_name": "abc", "custom_endpoint_ec2": "https://gw.example.org/euca", "ebs_concurrency": 4, "eucalyptus": map[string]interface{}{}},
		"custom_endpoint_s3 is used by Eucalyptus builds only":     {"ami_name": "abc", "custom_endpoint_s3": "https://s3.example"},
		"kms_key_id requires encrypt_boot = true":                  {"ami_name": "abc", "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
		"kms_key_id \"1234abcd\": want a key ARN":                  {"ami_name": "abc", "encrypt_boot": true, "kms_key_id": "1234abcd"},
		"encrypt_boot is not supported by Eucalyptus":              {"ami_name": "abc", "custom_endpoint_ec2": "https://gw.example.org/euca", "encrypt_boot": true, "eucalyptus": map[string]interface{}{}},
		"force_delete_snapshot applies with force_deregister":      {"ami_name": "abc", "force_delete_snapshot": true},
		"run_tags: the import creates nothing temporary":           {"ami_name": "abc", "run_tags": map[string]string{"a": "b"}},
	} {
		var c Config
		err := c.Prepare(want)
		if err == nil || !strings.Contains(err.Error(), raw) {
			t.Errorf("%v: error %v does not say %q", want, err, raw)
		}
	}
}

// A eucalyptus block with an endpoint that does not end in /services/compute (a proxy) is
// Eucalyptus: root device and volume type take the Eucalyptus defaults.
func TestPrepareEucalyptusBehindProxy(t *testing.T) {
	var c Config
	if err := c.Prepare(map[string]interface{}{"ami_name": "abc", "custom_endpoint_ec2": "https://gw.example.org/euca",
		"eucalyptus": map[string]interface{}{"bucket": "b", "register": "import-volume", "availability_zone": "PARTI00"}}); err != nil {
		t.Fatal(err)
	}
	if !c.IsEucalyptus() || c.RootDeviceName != "/dev/sda" || c.VolumeType != "standard" || !c.Access(8, c.IsEucalyptus()).Eucalyptus {
		t.Errorf("not Eucalyptus: %+v", c)
	}
}
