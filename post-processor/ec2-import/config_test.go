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
		"ami_name is required":                         {},
		"architecture \"sparc\"":                       {"ami_name": "abc", "architecture": "sparc"},
		"arm64 images boot":                            {"ami_name": "abc", "architecture": "arm64", "boot_mode": "legacy-bios"},
		"boot_mode \"bios\"":                           {"ami_name": "abc", "boot_mode": "bios"},
		"eucalyptus.bucket is required":                {"ami_name": "abc", "custom_endpoint_ec2": "http://clc:8773/services/compute"},
		"eucalyptus.user_private_key_file is required": {"ami_name": "abc", "custom_endpoint_ec2": "http://clc:8773/services/compute", "eucalyptus": map[string]interface{}{"bucket": "b"}},
		"ena_support is not supported by Eucalyptus":   {"ami_name": "abc", "custom_endpoint_ec2": "http://clc:8773/services/compute", "ena_support": true},
	} {
		var c Config
		err := c.Prepare(want)
		if err == nil || !strings.Contains(err.Error(), raw) {
			t.Errorf("%v: error %v does not say %q", want, err, raw)
		}
	}
}
