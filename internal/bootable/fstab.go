//go:build linux

package bootable

import (
	"strings"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
)

// rewriteFstab returns the guest's fstab with "/" mounted by UUID=rootUUID, every entry that
// names a copied filesystem (by any spec the old disk resolves: UUID, LABEL, PARTUUID,
// kernel names) by its UUID, and /boot/efi pointing at the new ESP (espUUID) or, without an
// ESP, commented out (no entry is added when the guest had none). all, when the guest has
// other disks, is the old disk with them (chroot.OpenImages): an entry on one of those (a
// kernel name such as /dev/vdb2 taken by disk order, a LABEL...) is named by its
// filesystem's UUID, which no hypervisor's disk order changes. Comments and unrelated lines
// are kept as they are.
func rewriteFstab(text string, old, all *chroot.Disk, uuids map[*chroot.Partition]string, rootUUID, espUUID string) (string, bool) {
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
			if p := onOtherDisk(all, f[0]); p != nil {
				if p.UUID != "" {
					want = "UUID=" + p.UUID
				}
			} else if p, err := old.ResolveSpec(f[0]); err == nil && p != nil && uuids[p] != "" {
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

// onOtherDisk is the filesystem an fstab spec names on a disk of all other than the first,
// or nil (all nil: the guest has one disk).
func onOtherDisk(all *chroot.Disk, spec string) *chroot.Partition {
	if all == nil || len(all.Others) == 0 {
		return nil
	}
	p, err := all.ResolveSpec(spec)
	if err != nil || p == nil || p.Disk == 0 {
		return nil
	}
	return p
}
