package ec2common

import (
	"strings"
	"testing"
)

// TestSharePrepare: every bad value is named with its field; the build region and
// duplicates leave ami_regions; Eucalyptus refuses what it lacks.
func TestSharePrepare(t *testing.T) {
	good := ShareConfig{AMIUsers: []string{"210987654321"}, AMIGroups: []string{"all"},
		AMIOrgArns:    []string{"arn:aws:organizations::111122223333:organization/o-abcdefghij"},
		AMIOuArns:     []string{"arn:aws:organizations::111122223333:ou/o-abcdefghij/ou-ab12-cdefgh34"},
		SnapshotUsers: []string{"210987654321"}, SnapshotGroups: []string{"all"},
		AMIRegions:      []string{"eu-west-1", "us-east-1", "eu-west-1", "ap-south-2"},
		RegionKMSKeyIDs: map[string]string{"eu-west-1": "alias/images"}}
	if errs := good.Prepare("us-east-1", false, true, false); len(errs) > 0 {
		t.Fatal(errs)
	}
	if strings.Join(good.AMIRegions, ",") != "eu-west-1,ap-south-2" {
		t.Errorf("ami_regions %v", good.AMIRegions)
	}
	o := good.CopyOptions("eu-west-1", "n", "", nil, nil, false, 0)
	if !o.Encrypted || o.KMSKeyID != "alias/images" || len(o.Share.Users) != 1 {
		t.Errorf("copy options with a region key %+v", o)
	}
	if o := good.CopyOptions("ap-south-2", "n", "", nil, nil, true, 0); !o.Encrypted || o.KMSKeyID != "" {
		t.Errorf("copy of an encrypted AMI %+v", o)
	}
	if o := good.CopyOptions("ap-south-2", "n", "", nil, nil, false, 0); o.Encrypted {
		t.Errorf("copy of a plain AMI %+v", o)
	}
	for _, c := range []struct {
		s                ShareConfig
		euca, snap, skip bool
		want             string
	}{
		{s: ShareConfig{AMIUsers: []string{"12345"}}, snap: true, want: `ami_users: "12345" is not an account ID`},
		{s: ShareConfig{SnapshotUsers: []string{"arn:aws:iam::123456789012:root"}}, snap: true, want: `snapshot_users: "arn:aws:iam::123456789012:root" is not an account ID`},
		{s: ShareConfig{AMIGroups: []string{"everyone"}}, snap: true, want: `ami_groups: "everyone" is not a group: the only group is "all"`},
		{s: ShareConfig{SnapshotGroups: []string{"friends"}}, snap: true, want: `snapshot_groups: "friends"`},
		{s: ShareConfig{AMIOrgArns: []string{"o-abcdefghij"}}, snap: true, want: `ami_org_arns: "o-abcdefghij" is not an organization ARN`},
		{s: ShareConfig{AMIOuArns: []string{"arn:aws:organizations::111122223333:organization/o-abcdefghij"}}, snap: true, want: `ami_ou_arns:`},
		{s: ShareConfig{AMIRegions: []string{"Europe"}}, snap: true, want: `ami_regions: "Europe" is not a region name`},
		{s: ShareConfig{AMIRegions: []string{"eu-west-1"}, RegionKMSKeyIDs: map[string]string{"eu-west-2": "k"}}, snap: true, want: `region_kms_key_ids: "eu-west-2" is not in ami_regions`},
		{s: ShareConfig{AMIRegions: []string{"eu-west-1"}}, euca: true, want: `ami_regions is not supported by Eucalyptus`},
		{s: ShareConfig{AMIOrgArns: good.AMIOrgArns}, euca: true, want: `ami_org_arns is not supported by Eucalyptus`},
		{s: ShareConfig{SnapshotUsers: []string{"210987654321"}}, euca: true, want: `snapshot_users and snapshot_groups: an instance-store EMI`},
	} {
		errs := c.s.Prepare("us-east-1", c.euca, c.snap, c.skip)
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), c.want) {
			t.Errorf("%+v: errors %v, want one saying %q", c.s, errs, c.want)
		}
	}
	// Eucalyptus launch permissions; any region shape with skip_region_validation.
	s := ShareConfig{AMIUsers: []string{"000000000001"}, AMIGroups: []string{"all"}}
	if errs := s.Prepare("eucalyptus", true, false, false); len(errs) > 0 {
		t.Errorf("Eucalyptus launch permissions: %v", errs)
	}
	s = ShareConfig{AMIRegions: []string{"Moon-Base"}}
	if errs := s.Prepare("us-east-1", false, true, true); len(errs) > 0 {
		t.Errorf("skip_region_validation: %v", errs)
	}
}

// TestAssumeRolePrepare: the block's values are checked and named; an empty block is no
// role.
func TestAssumeRolePrepare(t *testing.T) {
	var empty AccessConfig
	if errs := empty.Prepare(); len(errs) > 0 || empty.Access(1, false).AssumeRole != nil {
		t.Fatalf("no assume_role: %v", errs)
	}
	good := AccessConfig{AssumeRole: AssumeRoleConfig{RoleARN: "arn:aws:iam::210987654321:role/publisher", SessionName: "images",
		ExternalID: "x", DurationSeconds: 1800, Tags: map[string]string{"team": "img"}, TransitiveTagKeys: []string{"team"},
		PolicyARNs: []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"}}, CustomEndpointSTS: "http://127.0.0.1:1"}
	if errs := good.Prepare(); len(errs) > 0 {
		t.Fatal(errs)
	}
	a := good.Access(1, false)
	if a.AssumeRole == nil || a.AssumeRole.RoleARN != good.AssumeRole.RoleARN || a.AssumeRole.Duration.Minutes() != 30 || a.STSEndpoint != "http://127.0.0.1:1" {
		t.Errorf("access %+v", a)
	}
	for want, c := range map[string]AccessConfig{
		"assume_role.role_arn is required":                {AssumeRole: AssumeRoleConfig{SessionName: "abc"}},
		`assume_role.role_arn "publisher"`:                {AssumeRole: AssumeRoleConfig{RoleARN: "publisher"}},
		`assume_role.session_name "a b"`:                  {AssumeRole: AssumeRoleConfig{RoleARN: good.AssumeRole.RoleARN, SessionName: "a b"}},
		"assume_role.duration_seconds 60":                 {AssumeRole: AssumeRoleConfig{RoleARN: good.AssumeRole.RoleARN, DurationSeconds: 60}},
		`assume_role.policy_arns: "ReadOnly"`:             {AssumeRole: AssumeRoleConfig{RoleARN: good.AssumeRole.RoleARN, PolicyARNs: []string{"ReadOnly"}}},
		`assume_role.transitive_tag_keys: "team"`:         {AssumeRole: AssumeRoleConfig{RoleARN: good.AssumeRole.RoleARN, TransitiveTagKeys: []string{"team"}}},
		"custom_endpoint_sts is only used by assume_role": {CustomEndpointSTS: "http://127.0.0.1:1"},
	} {
		errs := c.Prepare()
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), want) {
			t.Errorf("%+v: errors %v, want one saying %q", c, errs, want)
		}
	}
}
