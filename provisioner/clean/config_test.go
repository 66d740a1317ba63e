package clean

import (
	"strings"
	"testing"
)

func TestPrepareErrorsNameTheField(t *testing.T) {
	cases := []struct {
		raw  map[string]interface{}
		want string
	}{
		{map[string]interface{}{"operations": []string{"no-such-op"}}, "operations"},
		{map[string]interface{}{"remove": []string{"relative/path"}}, "rules"},
		{map[string]interface{}{"remove": []string{"/"}}, "rules"},
		{map[string]interface{}{"delete_lines": []map[string]interface{}{{"file": "/etc/x", "regexp": "("}}}, "rules"},
		{map[string]interface{}{"delete_lines": []map[string]interface{}{{"file": "/etc/x", "regexp": "a", "replacement": "b"}}}, "delete_lines[0]"},
	}
	for _, tc := range cases {
		var p Provisioner
		err := p.Prepare(tc.raw)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error naming %q", tc.raw, err, tc.want)
		}
	}
	var p Provisioner
	if err := p.Prepare(map[string]interface{}{"packer_build_name": "x"}); err != nil {
		t.Fatal(err)
	}
	if p.config.ReportFile != "chromogenic-clean-x.json" || p.config.Operations[0] != "defaults" {
		t.Errorf("defaults: %q %v", p.config.ReportFile, p.config.Operations)
	}
}
