package artifact

import (
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/bootable"
)

// TestRootChoiceState: the template's root_volume and root_subvolume, put in the build state
// by StepOpenImage, are in the local artifact's state for chromogenic-convert's bootable; a
// build that chose nothing hands nothing on.
func TestRootChoiceState(t *testing.T) {
	state := new(multistep.BasicStateBag)
	a := New("b", "/x/image.raw", state)
	if v, w := a.State(bootable.StateRootVolume), a.State(bootable.StateRootSubvolume); v != nil || w != nil {
		t.Errorf("root choice without one: %v %v", v, w)
	}
	state.Put(bootable.StateRootVolume, "rhel/root")
	state.Put(bootable.StateRootSubvolume, "@/.snapshots/2/snapshot")
	a = New("b", "/x/image.raw", state)
	if v, w := a.State(bootable.StateRootVolume), a.State(bootable.StateRootSubvolume); v != "rhel/root" || w != "@/.snapshots/2/snapshot" {
		t.Errorf("root choice in the artifact: %v %v", v, w)
	}
}
