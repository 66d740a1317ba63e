package common

import (
	"strings"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"
)

// root_volume and root_subvolume: good values pass Prepare; each bad one is refused naming
// its field.
func TestRootChoiceConfig(t *testing.T) {
	for _, c := range []ChrootConfig{
		{RootVolume: "rhel/root"},
		{RootSubvolume: "@/.snapshots/2/snapshot"},
		{RootSubvolume: "/"},
		{RootPartition: 2, RootSubvolume: "root"},
	} {
		if errs := c.Prepare(&interpolate.Context{}); len(errs) > 0 {
			t.Errorf("%+v: %v", c, errs)
		}
	}
	for _, c := range []struct {
		c    ChrootConfig
		want string
	}{
		{ChrootConfig{RootVolume: "root"}, `root_volume "root": want a logical volume as vg/lv`},
		{ChrootConfig{RootVolume: "vg/"}, `root_volume "vg/": want a logical volume as vg/lv`},
		{ChrootConfig{RootVolume: "a/b/c"}, `root_volume "a/b/c": want`},
		{ChrootConfig{RootVolume: "vg/root", RootPartition: 2}, "root_partition and root_volume are both set"},
		{ChrootConfig{RootSubvolume: "@/../etc"}, `root_subvolume: subvolume path "@/../etc" climbs with ".."`},
		{ChrootConfig{RootPartition: -1}, "root_partition must be 0 (find it) or a partition number, not -1"},
	} {
		errs := c.c.Prepare(&interpolate.Context{})
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), c.want) {
			t.Errorf("%+v: %v, want one error saying %q", c.c, errs, c.want)
		}
	}
}
