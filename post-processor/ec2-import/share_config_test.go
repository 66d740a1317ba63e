package ec2import

import (
	"strings"
	"testing"
)

// TestPrepareShare: the sharing options reach the post-processor's Prepare; Eucalyptus
// refuses region copies and organization ARNs, and accepts launch permissions.
func TestPrepareShare(t *testing.T) {
	euca := func(kv ...interface{}) map[string]interface{} {
		m := map[string]interface{}{"ami_name": "abc", "custom_endpoint_ec2": "http://clc:8773/services/compute",
			"eucalyptus": map[string]interface{}{"bucket": "b", "register": "import-volume", "availability_zone": "PARTI00"}}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	var c Config
	if err := c.Prepare(euca("ami_users", []string{"000000000001"}, "ami_groups", []string{"all"}, "snapshot_users", []string{"000000000001"})); err != nil {
		t.Fatal(err)
	}
	for want, raw := range map[string]map[string]interface{}{
		"ami_regions is not supported by Eucalyptus":  euca("ami_regions", []string{"eu-west-1"}),
		"ami_org_arns is not supported by Eucalyptus": euca("ami_org_arns", []string{"arn:aws:organizations::111122223333:organization/o-abcdefghij"}),
		"snapshot_users and snapshot_groups: an instance-store EMI": {"ami_name": "abc", "custom_endpoint_ec2": "http://clc:8773/services/compute",
			"eucalyptus": map[string]interface{}{"bucket": "b"}, "snapshot_groups": []string{"all"}},
		`ami_ou_arns: "ou-1" is not an organizational unit ARN`: {"ami_name": "abc", "ami_ou_arns": []string{"ou-1"}},
	} {
		var c Config
		if err := c.Prepare(raw); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: error %v does not say %q", raw, err, want)
		}
	}
}
