package openstack

import (
	"strings"
	"testing"
)

// TestPrepareImageOptions: the builder takes the shared image options under both names (the
// import's former names as deprecated aliases, returned as warnings) and validates
// external_kernel.
func TestPrepareImageOptions(t *testing.T) {
	t.Setenv("OS_CLOUD", "")
	t.Setenv("OS_AUTH_URL", "")
	clouds := cloudsFile(t)
	base := func() map[string]interface{} {
		return map[string]interface{}{"cloud": "test", "clouds_file": clouds, "source_image": "abc", "image_name": "n"}
	}
	for _, c := range []struct {
		name     string
		set      map[string]interface{}
		want     string // error text; "" = valid
		warnings int
	}{
		{"new names", map[string]interface{}{"image_visibility": "shared", "image_members": []string{"p"}, "image_min_disk": 4, "image_min_ram": 512,
			"image_disk_format": "raw", "image_tags": []string{"t"}, "metadata": map[string]string{"a": "b"}}, "", 0},
		{"old names", map[string]interface{}{"visibility": "shared", "members": []string{"p"}, "min_disk": 4, "min_ram": 512,
			"disk_format": "raw", "tags": []string{"t"}, "properties": map[string]string{"a": "b"}}, "", 7},
		{"both names", map[string]interface{}{"image_min_disk": 4, "min_disk": 5}, "image_min_disk and min_disk", 0},
		{"carry", map[string]interface{}{"external_kernel": "carry"}, "", 0},
		{"bootable", map[string]interface{}{"external_kernel": "bootable"}, "", 0},
		{"bad external_kernel", map[string]interface{}{"external_kernel": "drop"}, `external_kernel "drop": want carry or bootable`, 0},
		{"bootable with skip_upload", map[string]interface{}{"external_kernel": "bootable", "skip_upload": true}, "with skip_upload", 0},
		{"bootable with kernel_id", map[string]interface{}{"external_kernel": "bootable", "metadata": map[string]string{"kernel_id": "k"}}, "metadata kernel_id", 0},
		{"external_kernel in snapshot mode", map[string]interface{}{"external_kernel": "carry", "mode": "snapshot", "source_image": "", "instance_id": "i"},
			`external_kernel applies to mode = "image" only`, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			raw := base()
			for k, v := range c.set {
				raw[k] = v
			}
			var b Builder
			_, warns, err := b.Prepare(raw)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one containing %q", err, c.want)
			case c.want == "" && len(warns) != c.warnings:
				t.Fatalf("warnings %q, want %d", warns, c.warnings)
			}
			if c.want == "" && c.name != "carry" && c.name != "bootable" {
				cfg := b.config
				if cfg.ImageVisibility != "shared" || len(cfg.ImageMembers) != 1 || cfg.ImageMinDisk != 4 || cfg.ImageMinRAM != 512 ||
					cfg.ImageDiskFormat != "raw" || len(cfg.ImageTags) != 1 || cfg.Metadata["a"] != "b" {
					t.Errorf("options not set: %+v", cfg.ImageConfig)
				}
			}
		})
	}
}
