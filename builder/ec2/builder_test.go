package ec2

import (
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
)

// The build variables Prepare declares are those docs/builders/ec2.mdx lists.
func TestBuildVarsMatchDocs(t *testing.T) {
	var b Builder
	vars, _, err := b.Prepare(map[string]interface{}{"instance_id": "i-1", "ami_name": "captured", "packer_build_name": "b"})
	if err != nil {
		t.Fatal(err)
	}
	packertest.CheckBuildVars(t, "ec2", vars)
}
