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
// input artifact's state (root_partition, root_volume, root_subvolume) unless the block sets
// its own: a bad value in the state is refused naming it; the block's value wins over the
// state's.
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

	// root_partition: a number of any integer type in the state (as Packer's RPC hands it
	// on), refused when it is not one; the block's partition or volume replaces the state's
	// partition and volume together.
	p.config.Bootable.RootVolume = ""
	in = &packersdk.MockArtifact{StateValues: map[string]interface{}{bootable.StateRootPartition: "two"}}
	_, err = p.makeBootable(context.Background(), ui, in, []string{missing}, "raw", filepath.Join(dir, "out.raw"))
	if err == nil || !strings.Contains(err.Error(), "root_partition state is a string") {
		t.Errorf("root_partition \"two\" in the artifact's state: %v", err)
	}
	in = &packersdk.MockArtifact{StateValues: map[string]interface{}{bootable.StateRootPartition: int64(2), bootable.StateRootVolume: "vg/root"}}
	_, err = p.makeBootable(context.Background(), ui, in, []string{missing}, "raw", filepath.Join(dir, "out.raw"))
	if err == nil || !strings.Contains(err.Error(), `root_partition (bootable.root_partition or the artifact's state) 2 and root_volume "vg/root" are both set`) {
		t.Errorf("root_partition and root_volume both in the artifact's state: %v", err)
	}
	out := new(bytes.Buffer)
	ui = &packersdk.BasicUi{Reader: new(bytes.Buffer), Writer: out, ErrorWriter: new(bytes.Buffer)}
	in = &packersdk.MockArtifact{StateValues: map[string]interface{}{bootable.StateRootPartition: uint64(2)}}
	_, err = p.makeBootable(context.Background(), ui, in, []string{missing}, "raw", filepath.Join(dir, "out.raw"))
	if err == nil || !strings.Contains(err.Error(), "missing.raw") || !strings.Contains(out.String(), "root partition 2") {
		t.Errorf("root_partition 2 from the artifact's state: %v\n%s", err, out)
	}
	p.config.Bootable.RootVolume = "vg/root"
	in = &packersdk.MockArtifact{StateValues: map[string]interface{}{bootable.StateRootPartition: 2}}
	out.Reset()
	_, err = p.makeBootable(context.Background(), ui, in, []string{missing}, "raw", filepath.Join(dir, "out.raw"))
	if err == nil || !strings.Contains(err.Error(), "missing.raw") || strings.Contains(out.String(), "root partition") {
		t.Errorf("the block's root_volume over the state's root_partition: %v\n%s", err, out)
	}
}
