package bootable

import (
	"fmt"
	"strings"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
)

// Artifact state keys a builder sets when its template chose the guest's root
// (root_partition, root_volume, root_subvolume), so that bootable makes the same root boot
// instead of finding one by its own rule.
const (
	StateRootPartition = "root_partition" // an int (a partition number of the first disk)
	StateRootVolume    = "root_volume"
	StateRootSubvolume = "root_subvolume"
)

// ValidateRootPartition checks Options.RootPartition (0: found by the rule, else a partition
// number) against Options.RootVolume: one of the two at most. Errors name them as
// partitionField and volumeField.
func ValidateRootPartition(partitionField string, partition int, volumeField, volume string) error {
	if partition < 0 {
		return fmt.Errorf("%s must be 0 (find it) or a partition number, not %d", partitionField, partition)
	}
	if partition != 0 && volume != "" {
		return fmt.Errorf("%s %d and %s %q are both set: give one", partitionField, partition, volumeField, volume)
	}
	return nil
}

// StateRootPartitionValue reads the root_partition state of an artifact: 0 when it is
// absent, else a partition number, whatever integer type the state's trip through Packer's
// RPC left it as. Another type, or a number out of range, is an error naming the state.
func StateRootPartitionValue(v interface{}) (int, error) {
	var n int64
	switch x := v.(type) {
	case nil:
		return 0, nil
	case int:
		n = int64(x)
	case int8:
		n = int64(x)
	case int16:
		n = int64(x)
	case int32:
		n = int64(x)
	case int64:
		n = x
	case uint8:
		n = int64(x)
	case uint16:
		n = int64(x)
	case uint32:
		n = int64(x)
	case uint64:
		if x > 1<<20 {
			return 0, fmt.Errorf("the artifact's %s state %d: not a partition number", StateRootPartition, x)
		}
		n = int64(x)
	case float64:
		if x != float64(int64(x)) {
			return 0, fmt.Errorf("the artifact's %s state %v: not a partition number", StateRootPartition, x)
		}
		n = int64(x)
	default:
		return 0, fmt.Errorf("the artifact's %s state is a %T (%v), not a partition number", StateRootPartition, v, v)
	}
	if n < 0 || n > 1<<20 {
		return 0, fmt.Errorf("the artifact's %s state %d: not a partition number", StateRootPartition, n)
	}
	return int(n), nil
}

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
