package artifact

import (
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/bootable"
)

// TestRootChoiceState: the template's root_partition, root_volume and root_subvolume, put in
// the build state by StepOpenImage, are in the local artifact's state for chromogenic-convert's
// bootable; a build that chose nothing hands nothing on.
func TestRootChoiceState(t *testing.T) {
	state := new(multistep.BasicStateBag)
	a := New("b", "/x/image.raw", state)
	if p, v, w := a.State(bootable.StateRootPartition), a.State(bootable.StateRootVolume), a.State(bootable.StateRootSubvolume); p != nil || v != nil || w != nil {
		t.Errorf("root choice without one: %v %v %v", p, v, w)
	}
	state.Put(bootable.StateRootVolume, "rhel/root")
	state.Put(bootable.StateRootSubvolume, "@/.snapshots/2/snapshot")
	state.Put(bootable.StateRootPartition, 3)
	a = New("b", "/x/image.raw", state)
	if p := a.State(bootable.StateRootPartition); p != 3 {
		t.Errorf("root partition in the artifact: %v", p)
	}
	if v, w := a.State(bootable.StateRootVolume), a.State(bootable.StateRootSubvolume); v != "rhel/root" || w != "@/.snapshots/2/snapshot" {
		t.Errorf("root choice in the artifact: %v %v", v, w)
	}
}
