package openstackimage

import (
	"strings"
	"testing"
)

func TestConfigureErrors(t *testing.T) {
	t.Setenv("OS_CLOUD", "x")
	cases := []struct {
		raw  map[string]interface{}
		want string
	}{
		{map[string]interface{}{}, "at least one of name"},
		{map[string]interface{}{"name_regex": "("}, "name_regex"},
		{map[string]interface{}{"name": "x", "visibility": "all"}, "visibility"},
	}
	for _, tc := range cases {
		var d Datasource
		err := d.Configure(tc.raw)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.raw, err, tc.want)
		}
	}
}
