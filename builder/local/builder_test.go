package local

import (
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
)

// The build variables Prepare declares are those docs/builders/local.mdx lists.
func TestBuildVarsMatchDocs(t *testing.T) {
	var b Builder
	vars, _, err := b.Prepare(map[string]interface{}{"source_path": qcow2Image(t), "packer_build_name": "demo"})
	if err != nil {
		t.Fatal(err)
	}
	packertest.CheckBuildVars(t, "local", vars)
}
