package openstack

import (
	"strings"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
)

// imageOptionsTemplate uses the image options of chromogenic-openstack and
// chromogenic-openstack-import under the names @NAMES@ picks.
const imageOptionsTemplate = `
variable "clouds_file" { type = string }

source "chromogenic-openstack" "x" {
  cloud        = "test"
  clouds_file  = var.clouds_file
  source_image = "0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f"
  image_name   = "built"
  @OPTIONS@
}

build {
  sources = ["source.chromogenic-openstack.x"]
  post-processor "chromogenic-openstack-import" {
    cloud       = "test"
    clouds_file = var.clouds_file
    image_name  = "pushed"
    @OPTIONS@
  }
}
`

// TestAccValidateImageOptionNames: the real packer validates templates that give the shared
// image options to the builder and the post-processor under the new names and under the
// post-processor's former names (with a deprecation warning for each), and rejects one
// that gives an option under both names, naming both.
func TestAccValidateImageOptionNames(t *testing.T) {
	env := packertest.Setup(t)
	clouds := cloudsFile(t)
	newNames := `image_disk_format = "raw"
  image_visibility  = "shared"
  image_members     = ["0123456789abcdef0123456789abcdef", "provider-b"]
  image_tags        = ["golden"]
  metadata          = { os_distro = "debian" }
  image_min_disk    = 2
  image_min_ram     = 256`
	oldNames := `disk_format = "raw"
  visibility  = "shared"
  members     = ["0123456789abcdef0123456789abcdef", "provider-b"]
  tags        = ["golden"]
  properties  = { os_distro = "debian" }
  min_disk    = 2
  min_ram     = 256`
	validate := func(options string) (string, error) {
		dir := t.TempDir()
		return env.Validate(t, dir, strings.ReplaceAll(imageOptionsTemplate, "@OPTIONS@", options), "-var", "clouds_file="+clouds)
	}
	if out, err := validate(newNames); err != nil || strings.Contains(out, "deprecated") {
		t.Errorf("new names: %v\n%s", err, out)
	}
	out, err := validate(oldNames)
	if err != nil {
		t.Errorf("old names: %v\n%s", err, out)
	}
	for _, w := range []string{"disk_format is deprecated: use image_disk_format", "properties is deprecated: use metadata", "min_ram is deprecated: use image_min_ram"} {
		if !strings.Contains(out, w) {
			t.Errorf("old names: packer validate does not warn %q:\n%s", w, out)
		}
	}
	out, err = validate(newNames + "\n  visibility = \"public\"")
	if err == nil || !strings.Contains(out, "image_visibility and visibility are the same option") {
		t.Errorf("both names: %v\n%s", err, out)
	}
	out, err = validate(`image_visibility = "shared"
  image_members = ["a/b/c"]`)
	if err == nil || !strings.Contains(out, `image_members[0] "a/b/c"`) {
		t.Errorf("bad member: %v\n%s", err, out)
	}
}
