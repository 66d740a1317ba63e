package ec2

import (
	"strings"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// clearEucarc empties the eucarc variables for the test.
func clearEucarc(t *testing.T) {
	t.Helper()
	for _, v := range []string{"EC2_URL", "S3_URL", "EC2_ACCESS_KEY", "EC2_SECRET_KEY", "EC2_CERT", "EC2_PRIVATE_KEY",
		"EUCALYPTUS_CERT", "EC2_ACCOUNT_NUMBER", "EC2_USER_ID"} {
		t.Setenv(v, "")
	}
}

// kernel_id, ramdisk_id and ami_virtualization_type: each error names its field; AWS is
// refused paravirtual registration.
func TestPrepareEucaImageErrors(t *testing.T) {
	clearEucarc(t)
	k := eucaKeys(t)
	euca := func(kv ...interface{}) map[string]interface{} {
		m := map[string]interface{}{"ami_name": "new-emi", "source_ami": "emi-1", "custom_endpoint_ec2": "https://clc:8773/services/compute",
			"eucalyptus": map[string]interface{}{"bucket": "b", "user_private_key_file": k.userKey, "user_cert_file": k.userCert}}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	aws := func(kv ...interface{}) map[string]interface{} {
		m := map[string]interface{}{"ami_name": "new-ami", "source_ami": "ami-1"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	for name, tc := range map[string]struct {
		raw  map[string]interface{}
		want string
	}{
		"aws kernel":           {aws("kernel_id", "aki-1"), "kernel_id is for paravirtual Eucalyptus EMIs"},
		"aws ramdisk":          {aws("ramdisk_id", "ari-1"), "ramdisk_id is for paravirtual Eucalyptus EMIs"},
		"aws paravirtual":      {aws("ami_virtualization_type", "paravirtual"), "AWS retired paravirtual AMIs"},
		"bad virt":             {euca("ami_virtualization_type", "pv"), `ami_virtualization_type "pv": want hvm or paravirtual`},
		"bad kernel":           {euca("kernel_id", "emi-1"), `kernel_id "emi-1": want a kernel image id`},
		"bad ramdisk":          {euca("kernel_id", "eki-1", "ramdisk_id", "eki-2"), `ramdisk_id "eki-2": want a ramdisk image id`},
		"ramdisk alone":        {euca("ramdisk_id", "eri-1"), "ramdisk_id needs kernel_id"},
		"hvm with kernel":      {euca("ami_virtualization_type", "hvm", "kernel_id", "eki-1"), `kernel_id and ramdisk_id are for ami_virtualization_type "paravirtual"`},
		"kernel id injection":  {euca("kernel_id", "eki-1&Action=DeleteVolume"), "kernel_id"},
		"ramdisk id too short": {euca("kernel_id", "eki-1", "ramdisk_id", "eri-"), "ramdisk_id"},
	} {
		var c Config
		err := c.Prepare(tc.raw)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	for name, raw := range map[string]map[string]interface{}{
		"kernel only":                     euca("kernel_id", "eki-1a2b"),
		"aws kernel":                      euca("kernel_id", "aki-1a2b", "ramdisk_id", "ari-3c"),
		"paravirtual from the source":     euca("ami_virtualization_type", "paravirtual"),
		"hvm":                             euca("ami_virtualization_type", "hvm"),
		"aws hvm":                         aws("ami_virtualization_type", "hvm"),
		"paravirtual with kernel+ramdisk": euca("ami_virtualization_type", "paravirtual", "kernel_id", "eki-1", "ramdisk_id", "eri-2"),
	} {
		var c Config
		if err := c.Prepare(raw); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// The new EMI boots as the template says, else as the source: a paravirtual source with
// eki/eri gives a paravirtual EMI with the same eki/eri; hvm (a guest converted for KVM)
// carries neither.
func TestEucaBoot(t *testing.T) {
	var c Config
	for name, tc := range map[string]struct {
		virt, kernel, ramdisk string // the template's
		sv, sk, sr            string // the source's
		want                  string
	}{
		"pv source":              {sv: "paravirtual", sk: "eki-1", sr: "eri-1", want: "paravirtual, kernel eki-1, ramdisk eri-1"},
		"hvm source":             {sv: "hvm", sk: "eki-1", sr: "eri-1", want: "hvm"},
		"no source":              {want: "hvm"},
		"converted to hvm":       {virt: "hvm", sv: "paravirtual", sk: "eki-1", sr: "eri-1", want: "hvm"},
		"own kernel":             {kernel: "eki-9", sv: "paravirtual", sk: "eki-1", sr: "eri-1", want: "paravirtual, kernel eki-9"},
		"own kernel and ramdisk": {kernel: "eki-9", ramdisk: "eri-9", sv: "hvm", want: "paravirtual, kernel eki-9, ramdisk eri-9"},
		"pv of an hvm source":    {virt: "paravirtual", sv: "hvm", sk: "eki-1", want: "paravirtual, kernel eki-1"},
	} {
		c.AMIVirtType, c.KernelID, c.RamdiskID = tc.virt, tc.kernel, tc.ramdisk
		b, err := c.Boot(tc.sv, tc.sk, tc.sr)
		if err != nil || b.String() != tc.want {
			t.Errorf("%s: %v %v, want %s", name, b, err, tc.want)
		}
	}
	c.AMIVirtType, c.KernelID, c.RamdiskID = "paravirtual", "", ""
	if _, err := c.Boot("paravirtual", "", ""); err == nil || !strings.Contains(err.Error(), "set kernel_id") {
		t.Errorf("paravirtual without a kernel: %v", err)
	}
}

// With a eucalyptus block, what the template leaves empty comes from the eucarc variables;
// the template wins; the eucarc keys need both halves and come before the AWS sources; the
// secret is hidden from logs; a file named by a variable is an error naming the variable.
func TestEucarcDefaults(t *testing.T) {
	clearEucarc(t)
	k := eucaKeys(t)
	t.Setenv("EC2_URL", "https://clc.example:8773/services/compute")
	t.Setenv("S3_URL", "https://clc.example:8773/services/objectstorage")
	t.Setenv("EC2_ACCESS_KEY", "AKIEUCARC")
	t.Setenv("EC2_SECRET_KEY", "eucarc-secret-12345")
	t.Setenv("EC2_CERT", k.userCert)
	t.Setenv("EC2_PRIVATE_KEY", k.userKey)
	t.Setenv("EUCALYPTUS_CERT", k.cloudCert)
	t.Setenv("EC2_USER_ID", "123456789012")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAWS")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
	raw := func(kv ...interface{}) map[string]interface{} {
		m := map[string]interface{}{"ami_name": "new-emi", "source_ami": "emi-1", "eucalyptus": map[string]interface{}{"bucket": "b"}}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	var c Config
	if err := c.Prepare(raw()); err != nil {
		t.Fatal(err)
	}
	e := c.Eucalyptus
	if c.CustomEndpointEC2 != "https://clc.example:8773/services/compute" || c.CustomEndpointS3 != "https://clc.example:8773/services/objectstorage" ||
		c.AccessKey != "AKIEUCARC" || c.SecretKey != "eucarc-secret-12345" || e.UserCertFile != k.userCert || e.UserPrivateKeyFile != k.userKey ||
		e.CloudCertFile != k.cloudCert || e.AccountID != "123456789012" {
		t.Errorf("from eucarc: %+v %+v", c.AccessConfig, e)
	}
	if e.Keys().UserKey == nil || e.Keys().CloudCert == nil {
		t.Error("the keys named by EC2_PRIVATE_KEY and EUCALYPTUS_CERT were not loaded")
	}
	if got := packersdk.LogSecretFilter.FilterString("x eucarc-secret-12345 y"); strings.Contains(got, "eucarc-secret") {
		t.Errorf("the eucarc secret is not filtered from logs: %q", got)
	}
	t.Setenv("EC2_ACCOUNT_NUMBER", "210987654321")
	c = Config{}
	if err := c.Prepare(raw("custom_endpoint_ec2", "https://other:8773/services/compute", "profile", "euca")); err != nil {
		t.Fatal(err)
	}
	if c.CustomEndpointEC2 != "https://other:8773/services/compute" || c.AccessKey != "" || c.Eucalyptus.AccountID != "210987654321" {
		t.Errorf("the template or a profile must win: %+v, account %s", c.AccessConfig, c.Eucalyptus.AccountID)
	}
	t.Setenv("EC2_SECRET_KEY", "")
	c = Config{}
	if err := c.Prepare(raw()); err != nil {
		t.Fatal(err)
	}
	if c.AccessKey != "" || c.SecretKey != "" {
		t.Errorf("half a eucarc key pair was used: %q %q", c.AccessKey, c.SecretKey)
	}
	t.Setenv("EC2_PRIVATE_KEY", k.userKey+".missing")
	c = Config{}
	if err := c.Prepare(raw()); err == nil || !strings.Contains(err.Error(), "eucalyptus.user_private_key_file (from $EC2_PRIVATE_KEY)") {
		t.Errorf("a missing file from the environment: %v", err)
	}
}

// An AWS build (no eucalyptus block) never reads the eucarc variables.
func TestEucarcNotForAWS(t *testing.T) {
	clearEucarc(t)
	k := eucaKeys(t)
	t.Setenv("EC2_URL", "https://clc.example:8773/services/compute")
	t.Setenv("S3_URL", "https://clc.example:8773/services/objectstorage")
	t.Setenv("EC2_ACCESS_KEY", "AKIEUCARC")
	t.Setenv("EC2_SECRET_KEY", "eucarc-secret")
	t.Setenv("EC2_CERT", k.userCert)
	var c Config
	if err := c.Prepare(map[string]interface{}{"ami_name": "new-ami", "source_ami": "ami-1"}); err != nil {
		t.Fatal(err)
	}
	if c.CustomEndpointEC2 != "" || c.CustomEndpointS3 != "" || c.AccessKey != "" || c.SecretKey != "" {
		t.Errorf("an AWS build picked up eucarc: %+v", c.AccessConfig)
	}
}
