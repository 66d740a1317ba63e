package openstack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cloudsFile writes a clouds.yaml with one cloud "test" and returns its path.
func cloudsFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "clouds.yaml")
	os.WriteFile(p, []byte(`clouds:
  test:
    auth:
      auth_url: http://127.0.0.1:5000/v3
      username: demo
      password: secret
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
`), 0o600)
	return p
}

func TestPrepareDefaults(t *testing.T) {
	t.Setenv("OS_CLOUD", "")
	t.Setenv("OS_AUTH_URL", "")
	var c Config
	err := c.Prepare(map[string]interface{}{"cloud": "test", "clouds_file": cloudsFile(t),
		"instance_name": "web", "image_name": "captured", "packer_build_name": "b"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Disks != DisksRoot {
		t.Errorf("disks defaults to %q, want root", c.Disks)
	}
	if c.Mode != "image" || c.ImageVisibility != "private" || c.StateTimeout.Minutes() != 30 || c.OutputDir != "output-b" {
		t.Errorf("defaults: mode %q visibility %q timeout %s output %q", c.Mode, c.ImageVisibility, c.StateTimeout, c.OutputDir)
	}
	ao, eo, _, err := c.Auth().Options()
	if err != nil || ao.Username != "demo" || eo.Region != "RegionOne" || ao.IdentityEndpoint != "http://127.0.0.1:5000/v3" {
		t.Errorf("clouds.yaml not used: %+v %+v %v", ao, eo, err)
	}
}

func TestPrepareErrorsNameTheField(t *testing.T) {
	t.Setenv("OS_CLOUD", "")
	t.Setenv("OS_AUTH_URL", "")
	t.Setenv("OS_PASSWORD", "")
	clouds := cloudsFile(t)
	base := func(kv ...interface{}) map[string]interface{} {
		m := map[string]interface{}{"cloud": "test", "clouds_file": clouds, "image_name": "x"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		raw  map[string]interface{}
		want string
	}{
		{map[string]interface{}{"instance_id": "abc", "image_name": "x"}, "no OpenStack credentials"},
		{map[string]interface{}{"identity_endpoint": "http://127.0.0.1:5000/v3", "username": "u", "instance_id": "abc", "image_name": "x"}, "no password, token or application_credential_secret"},
		{base("instance_id", "a"), ""},
		{base(), "exactly one of instance_id"},
		{base("instance_id", "a", "source_image", "b"), "exactly one of instance_id"},
		{base("instance_id", "a", "mode", "clone"), "mode \"clone\""},
		{base("source_image", "b", "mode", "snapshot"), "needs instance_id or instance_name"},
		{base("instance_id", "a", "image_name", ""), "image_name is required"},
		{base("instance_id", "a", "image_disk_format", "iso"), "image_disk_format"},
		{base("instance_id", "a", "image_visibility", "secret"), "image_visibility"},
		{base("instance_id", "a", "image_members", []string{"p"}), "image_members"},
		{base("instance_id", "a", "endpoint_type", "external"), "endpoint_type"},
		{base("instance_id", "a", "cacert", "/nonexistent/ca.pem"), "cacert"},
		{base("instance_id", "a", "cloud", "nosuchcloud"), "cloud/credentials"},
		{base("source_image_filter", map[string]interface{}{"name": "x", "visibility": "everyone"}), "source_image_filter.visibility"},
		{base("instance_id", "a", "root_partition", -2), "root_partition"},
		{base("instance_id", "a", "disks", "all"), ""},
		{base("instance_id", "a", "disks", "some"), `disks "some": want root or all`},
		{base("source_image", "b", "disks", "all"), `disks = "all" captures the volumes attached to a server`},
		{base("instance_id", "a", "mode", "snapshot", "disks", "all"), `disks = "all" applies to mode = "image" only`},
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
