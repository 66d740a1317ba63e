//go:build linux

package bootable

import (
	"strings"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
)

// rewriteFstab returns the guest's fstab with "/" mounted by UUID=rootUUID, every entry that
// names a copied filesystem (by any spec the old disk resolves: UUID, LABEL, PARTUUID,
// kernel names) by its UUID, and /boot/efi pointing at the new ESP (espUUID) or, without an
// ESP, commented out (no entry is added when the guest had none). Comments and unrelated lines are kept as they are.
func rewriteFstab(text string, old *chroot.Disk, uuids map[*chroot.Partition]string, rootUUID, espUUID string) (string, bool) {
	lines := strings.Split(text, "\n")
	changed := false
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		f := strings.Fields(t)
		if len(f) < 2 {
			continue
		}
		want := ""
		switch {
		case f[1] == "/":
			want = "UUID=" + rootUUID
		case f[1] == "/boot/efi":
			if espUUID == "" {
				lines[i] = "# " + l + " # no EFI system partition on this BIOS disk (chromogenic)"
				changed = true
				continue
			}
			want = "UUID=" + espUUID
		default:
			if p, err := old.ResolveSpec(f[0]); err == nil && p != nil && uuids[p] != "" {
				want = "UUID=" + uuids[p]
			} else if note := lvLeftOut(old, f[0], uuids); note != "" {
				lines[i] = "# " + l + " # " + note
				changed = true
				continue
			}
		}
		if want != "" && f[0] != want {
			f[0] = want
			lines[i] = strings.Join(f, "\t")
			changed = true
		}
	}
	return strings.Join(lines, "\n"), changed
}
