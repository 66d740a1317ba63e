package chroot

import "fmt"

// FsckMode says whether OpenImage checks the guest filesystems before mounting them.
type FsckMode string

const (
	// FsckSkip mounts without checking (the default; "" means the same).
	FsckSkip FsckMode = "skip"
	// FsckCheck checks every guest filesystem to be mounted read-only first (e2fsck -n -f,
	// xfs_repair -n, btrfs check --readonly); one found damaged fails the open.
	FsckCheck FsckMode = "check"
	// FsckRepair repairs what the tools repair without asking (e2fsck -p -f, xfs_repair);
	// Btrfs is only checked (btrfs check --repair can make damage worse), an XFS whose log
	// needs replaying is not repaired (xfs_repair -L would throw the log away), and a
	// read-only image is only checked.
	FsckRepair FsckMode = "repair"
)

// FsckModes lists the modes in the words a template uses.
var FsckModes = []FsckMode{FsckSkip, FsckCheck, FsckRepair}

// ParseFsckMode reads a mode ("" is FsckSkip).
func ParseFsckMode(s string) (FsckMode, error) {
	if s == "" {
		return FsckSkip, nil
	}
	for _, m := range FsckModes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("%q is not one of skip, check, repair", s)
}
