package ec2

import (
	"strings"
	"testing"
)

// TestPrepareShare: sharing and copy options reach the builder's Prepare, errors name the
// field, the recipe gets the share and copy steps only when asked.
func TestPrepareShare(t *testing.T) {
	var c Config
	if err := c.Prepare(map[string]interface{}{"instance_id": "i-1", "ami_name": "shared", "region": "us-east-1",
		"ami_users": []string{"210987654321"}, "ami_regions": []string{"us-east-1", "eu-west-1"},
		"assume_role": map[string]interface{}{"role_arn": "arn:aws:iam::210987654321:role/publisher"}}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.AMIRegions, ",") != "eu-west-1" || c.Access(1, false).AssumeRole == nil {
		t.Errorf("config %+v", c)
	}
	var names []string
	for _, s := range recipe(&c, CaptureEBSDirect, true, "/t.raw") {
		switch s.(type) {
		case *StepModifyAttributes:
			names = append(names, "share")
		case *StepRegionCopy:
			names = append(names, "copy")
		case *StepRegister:
			names = append(names, "register")
		}
	}
	if strings.Join(names, ",") != "register,share,copy" {
		t.Errorf("recipe tail %v", names)
	}
	var plain Config
	if err := plain.Prepare(map[string]interface{}{"instance_id": "i-1", "ami_name": "plain"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range recipe(&plain, CaptureEBSDirect, true, "/t.raw") {
		switch s.(type) {
		case *StepModifyAttributes, *StepRegionCopy:
			t.Errorf("a build without sharing runs %T", s)
		}
	}
	for want, raw := range map[string]map[string]interface{}{
		`ami_users: "42" is not an account ID`:      {"ami_users": []string{"42"}},
		`ami_groups: "public" is not a group`:       {"ami_groups": []string{"public"}},
		`ami_regions: "EU" is not a region name`:    {"ami_regions": []string{"EU"}},
		"need a registered image":                   {"skip_register": true, "ami_regions": []string{"eu-west-1"}},
		"assume_role.role_arn is required":          {"assume_role": map[string]interface{}{"session_name": "abc"}},
		`region_kms_key_ids: "eu-west-2" is not in`: {"ami_regions": []string{"eu-west-1"}, "region_kms_key_ids": map[string]string{"eu-west-2": "alias/k"}},
	} {
		raw["instance_id"], raw["ami_name"] = "i-1", "shared"
		var c Config
		if err := c.Prepare(raw); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: error %v does not say %q", raw, err, want)
		}
	}
}
