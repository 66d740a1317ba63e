package convert

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/bootable"
)

// TestBootableRootFromState: bootable takes the root the builder's template chose from the
// input artifact's state (root_volume, root_subvolume) unless the block sets its own: a bad
// value in the state is refused naming it; the block's value wins over the state's.
func TestBootableRootFromState(t *testing.T) {
	var p PostProcessor
	if err := p.Configure(map[string]interface{}{"formats": []string{"raw"}, "bootable": map[string]interface{}{}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ui := &packersdk.BasicUi{Reader: new(bytes.Buffer), Writer: new(bytes.Buffer), ErrorWriter: new(bytes.Buffer)}
	in := &packersdk.MockArtifact{StateValues: map[string]interface{}{bootable.StateRootVolume: "notvg", bootable.StateRootSubvolume: "@"}}
	missing := filepath.Join(dir, "missing.raw")
	_, err := p.makeBootable(context.Background(), ui, in, []string{missing}, "raw", filepath.Join(dir, "out.raw"))
	if err == nil || !strings.Contains(err.Error(), `root_volume (bootable.root_volume or the artifact's state) "notvg"`) {
		t.Errorf("root_volume from the artifact's state: %v", err)
	}
	p.config.Bootable.RootVolume = "vg/root"
	_, err = p.makeBootable(context.Background(), ui, in, []string{missing}, "raw", filepath.Join(dir, "out.raw"))
	if err == nil || strings.Contains(err.Error(), "root_volume") || !strings.Contains(err.Error(), "missing.raw") {
		t.Errorf("the block's root_volume over the state's: %v", err)
	}
}
