package openstackimport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrepareSourceAndImportMethod(t *testing.T) {
	clouds := filepath.Join(t.TempDir(), "clouds.yaml")
	os.WriteFile(clouds, []byte("clouds:\n  x:\n    auth:\n      auth_url: http://127.0.0.1:1/v3\n      username: u\n      password: p\n      project_name: p\n"), 0o600)
	t.Setenv("OS_CLOUD", "")
	t.Setenv("OS_AUTH_URL", "")
	base := func() map[string]interface{} {
		return map[string]interface{}{"cloud": "x", "clouds_file": clouds, "image_name": "n"}
	}
	for _, c := range []struct {
		name string
		set  map[string]interface{}
		want string // "" = valid
	}{
		{"defaults", nil, ""},
		{"glance-direct", map[string]interface{}{"import_method": "glance-direct"}, ""},
		{"bad import_method", map[string]interface{}{"import_method": "web-download"}, "import_method"},
		{"source ok", map[string]interface{}{"source": map[string]interface{}{"cloud": "x", "clouds_file": clouds}, "source_image": "abc"}, ""},
		{"source_image without source", map[string]interface{}{"source_image": "abc"}, "source_image needs a source block"},
		{"source bad endpoint_type", map[string]interface{}{"source": map[string]interface{}{"cloud": "x", "clouds_file": clouds, "endpoint_type": "private"}}, "source: endpoint_type"},
		{"source unknown cloud", map[string]interface{}{"source": map[string]interface{}{"cloud": "nope", "clouds_file": clouds}}, "source: cloud/credentials"},
		{"source missing clouds_file", map[string]interface{}{"source": map[string]interface{}{"cloud": "x", "clouds_file": "/nonexistent/clouds.yaml"}}, "source: clouds_file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			raw := base()
			for k, v := range c.set {
				raw[k] = v
			}
			var cfg Config
			err := cfg.Prepare(raw)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one containing %q", err, c.want)
			case c.want == "" && cfg.ImportMethod == "":
				t.Fatalf("import_method not defaulted")
			}
		})
	}
}
