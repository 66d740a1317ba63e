package ec2import

import (
	"strings"
	"testing"
)

// The import has no source to take a kernel from: paravirtual needs kernel_id; kernel_id
// alone makes the EMI paravirtual; AWS is refused paravirtual registration; the eucarc
// variables fill a eucalyptus block only.
func TestPrepareParavirtualAndEucarc(t *testing.T) {
	for _, v := range []string{"EC2_URL", "S3_URL", "EC2_ACCESS_KEY", "EC2_SECRET_KEY", "EC2_CERT", "EC2_PRIVATE_KEY", "EUCALYPTUS_CERT", "EC2_ACCOUNT_NUMBER", "EC2_USER_ID"} {
		t.Setenv(v, "")
	}
	euca := func(kv ...interface{}) map[string]interface{} {
		m := map[string]interface{}{"ami_name": "abc", "custom_endpoint_ec2": "https://gw.example.org/euca",
			"eucalyptus": map[string]interface{}{"bucket": "b", "register": "import-volume", "availability_zone": "PARTI00"}}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	for want, raw := range map[string]map[string]interface{}{
		`ami_virtualization_type "paravirtual" needs kernel_id`:   euca("ami_virtualization_type", "paravirtual"),
		"ramdisk_id needs kernel_id":                              euca("ramdisk_id", "eri-1"),
		`ami_virtualization_type "paravirtual" is for Eucalyptus`: {"ami_name": "abc", "ami_virtualization_type": "paravirtual"},
		"kernel_id is for paravirtual Eucalyptus EMIs":            {"ami_name": "abc", "kernel_id": "aki-1"},
	} {
		var c Config
		if err := c.Prepare(raw); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want %q", raw, err, want)
		}
	}
	var c Config
	if err := c.Prepare(euca("kernel_id", "eki-1", "ramdisk_id", "eri-2")); err != nil {
		t.Fatal(err)
	}
	if b, err := c.Boot("", "", ""); err != nil || b.String() != "paravirtual, kernel eki-1, ramdisk eri-2" {
		t.Errorf("boot %v %v", b, err)
	}
	t.Setenv("EC2_URL", "https://clc.example:8773/services/compute")
	t.Setenv("S3_URL", "https://clc.example:8773/services/objectstorage")
	c = Config{}
	if err := c.Prepare(map[string]interface{}{"ami_name": "abc", "eucalyptus": map[string]interface{}{"bucket": "b", "register": "import-volume", "availability_zone": "PARTI00"}}); err != nil {
		t.Fatal(err)
	}
	if c.CustomEndpointEC2 != "https://clc.example:8773/services/compute" || c.CustomEndpointS3 != "https://clc.example:8773/services/objectstorage" {
		t.Errorf("eucarc endpoints not used: %+v", c.AccessConfig)
	}
	c = Config{}
	if err := c.Prepare(map[string]interface{}{"ami_name": "abc"}); err != nil {
		t.Fatal(err)
	}
	if c.CustomEndpointEC2 != "" || c.CustomEndpointS3 != "" {
		t.Errorf("an AWS import picked up eucarc: %+v", c.AccessConfig)
	}
}
