package bootable

import (
	"strings"
	"testing"
)

func TestValidateRoot(t *testing.T) {
	for _, c := range []struct{ volume, subvolume, want string }{
		{"", "", ""},
		{"rhel/root", "", ""},
		{"chromo-vg/root", "@/.snapshots/2/snapshot", ""},
		{"", "/", ""},
		{"root", "", `v "root": want an LVM logical volume as vg/lv`},
		{"/root", "", `v "/root"`},
		{"vg/", "", `v "vg/"`},
		{"vg/lv/x", "", `v "vg/lv/x"`},
		{"vg/l\nv", "", `v "vg/l\nv"`},
		{"", "@/../x", `s: subvolume path "@/../x" climbs`},
		{"", "@\x00", `s: subvolume path "@\x00" holds a NUL`},
	} {
		err := ValidateRoot("v", c.volume, "s", c.subvolume)
		if (err == nil) != (c.want == "") || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("ValidateRoot(%q, %q) = %v, want %q", c.volume, c.subvolume, err, c.want)
		}
	}
}
