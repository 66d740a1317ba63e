package openstackimport

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestPrepareImageNames: the post-processor takes the builder's names (image_disk_format,
// image_visibility, image_members, image_tags, metadata, image_min_disk, image_min_ram) and
// its former ones, which set the same options.
func TestPrepareImageNames(t *testing.T) {
	clouds := filepath.Join(t.TempDir(), "clouds.yaml")
	os.WriteFile(clouds, []byte("clouds:\n  x:\n    auth:\n      auth_url: http://127.0.0.1:1/v3\n      username: u\n      password: p\n      project_name: p\n"), 0o600)
	t.Setenv("OS_CLOUD", "")
	t.Setenv("OS_AUTH_URL", "")
	prep := func(set map[string]interface{}) (*Config, error) {
		raw := map[string]interface{}{"cloud": "x", "clouds_file": clouds, "image_name": "n"}
		for k, v := range set {
			raw[k] = v
		}
		var c Config
		return &c, c.Prepare(raw)
	}
	newer, err := prep(map[string]interface{}{"image_disk_format": "raw", "image_visibility": "shared", "image_members": []string{"p"},
		"image_tags": []string{"t"}, "metadata": map[string]string{"a": "b"}, "image_min_disk": 2, "image_min_ram": 256})
	if err != nil {
		t.Fatal(err)
	}
	older, err := prep(map[string]interface{}{"disk_format": "raw", "visibility": "shared", "members": []string{"p"},
		"tags": []string{"t"}, "properties": map[string]string{"a": "b"}, "min_disk": 2, "min_ram": 256})
	if err != nil {
		t.Fatal(err)
	}
	pick := func(c *Config) []any {
		return []any{c.ImageDiskFormat, c.ImageVisibility, c.ImageMembers, c.ImageTags, c.Metadata, c.ImageMinDisk, c.ImageMinRAM, c.diskFormatSet}
	}
	if !reflect.DeepEqual(pick(newer), pick(older)) {
		t.Errorf("new names %v, old names %v", pick(newer), pick(older))
	}
	if len(newer.Deprecated()) != 0 || len(older.Deprecated()) != 7 {
		t.Errorf("deprecations: new names %q, old names %q", newer.Deprecated(), older.Deprecated())
	}
	def, err := prep(nil)
	if err != nil || def.ImageDiskFormat != "qcow2" || def.diskFormatSet || def.ImageVisibility != "private" {
		t.Errorf("defaults: %v %q %v %q", err, def.ImageDiskFormat, def.diskFormatSet, def.ImageVisibility)
	}
	if _, err := prep(map[string]interface{}{"disk_format": "raw", "image_disk_format": "qcow2"}); err == nil ||
		!strings.Contains(err.Error(), "image_disk_format and disk_format") {
		t.Errorf("both names: %v", err)
	}
	if _, err := prep(map[string]interface{}{"visibility": "everyone"}); err == nil || !strings.Contains(err.Error(), `image_visibility "everyone"`) {
		t.Errorf("bad visibility by its old name: %v", err)
	}
}
