package openstack

import (
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
)

// The build variables Prepare declares, in either mode, are those
// docs/builders/openstack.mdx lists.
func TestBuildVarsMatchDocs(t *testing.T) {
	t.Setenv("OS_CLOUD", "")
	t.Setenv("OS_AUTH_URL", "")
	for _, mode := range []string{"image", "snapshot"} {
		var b Builder
		vars, _, err := b.Prepare(map[string]interface{}{"cloud": "test", "clouds_file": cloudsFile(t),
			"instance_name": "web", "image_name": "captured", "packer_build_name": "b", "mode": mode})
		if err != nil {
			t.Fatal(err)
		}
		packertest.CheckBuildVars(t, "openstack", vars)
	}
}
