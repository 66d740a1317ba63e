package bootable

import (
	"fmt"
	"strings"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
)

// Artifact state keys a builder sets when its template chose the guest's root (root_volume,
// root_subvolume), so that bootable makes the same root boot instead of finding one by its
// own rule.
const (
	StateRootVolume    = "root_volume"
	StateRootSubvolume = "root_subvolume"
)

// ValidateRoot checks Options.RootVolume ("vg/lv", or "") and Options.RootSubvolume (a
// subvolume path from the btrfs top level, "/" for the top level itself, or ""); errors name
// them as volumeField and subvolumeField ("bootable.root_volume", "--root-volume").
func ValidateRoot(volumeField, volume, subvolumeField, subvolume string) error {
	if volume != "" {
		if vg, lv, ok := strings.Cut(volume, "/"); !ok || vg == "" || lv == "" || strings.Count(volume, "/") != 1 ||
			strings.ContainsAny(volume, "\x00\n") {
			return fmt.Errorf("%s %q: want an LVM logical volume as vg/lv, such as rhel/root", volumeField, volume)
		}
	}
	if subvolume != "" {
		if _, err := chroot.CleanSubvolPath(subvolume); err != nil {
			return fmt.Errorf("%s: %w", subvolumeField, err)
		}
	}
	return nil
}
