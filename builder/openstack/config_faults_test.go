package openstack

import (
	"strings"
	"testing"
)

// TestPrepareBadConfig covers the bad configurations of the fault tests that Prepare must
// refuse, each with an error naming the field: no credentials at all, a server and an image
// both given (in every pairing), and an impossible state_timeout.
func TestPrepareBadConfig(t *testing.T) {
	t.Setenv("OS_CLOUD", "")
	t.Setenv("OS_AUTH_URL", "")
	t.Setenv("OS_PASSWORD", "")
	clouds := cloudsFile(t)
	with := func(kv ...interface{}) map[string]interface{} {
		m := map[string]interface{}{"cloud": "test", "clouds_file": clouds, "image_name": "x"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	filter := map[string]interface{}{"name": "debian"}
	cases := []struct {
		raw  map[string]interface{}
		want []string
	}{
		{map[string]interface{}{"source_image": "b", "image_name": "x"}, []string{"no OpenStack credentials", "cloud", "identity_endpoint"}},
		{with("instance_name", "web", "source_image", "b"), []string{"exactly one of instance_id, instance_name, source_image", "(2 given)"}},
		{with("instance_id", "a", "instance_name", "web"), []string{"exactly one of", "(2 given)"}},
		{with("instance_id", "a", "source_image_name", "debian"), []string{"exactly one of", "(2 given)"}},
		{with("instance_name", "web", "source_image_filter", filter), []string{"exactly one of", "(2 given)"}},
		{with("instance_id", "a", "source_image", "b", "source_image_filter", filter), []string{"(3 given)"}},
		{with("instance_id", "a", "state_timeout", "-5m"), []string{"state_timeout"}},
		{with("instance_id", "a", "mode", "snapshot", "skip_upload", true), []string{"skip_upload"}},
	}
	for _, tc := range cases {
		var c Config
		err := c.Prepare(tc.raw)
		if err == nil {
			t.Errorf("%v accepted", tc.raw)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error does not say %q: %v", tc.raw, w, err)
			}
		}
	}
}
