//go:build linux

package chroot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

const backupSuffix = ".chromogenic-orig"

// CopiedFile is a host file placed in the guest for the build (resolv.conf), with what it
// replaced, so Restore leaves the guest as it was: a guest symlink stays a symlink.
type CopiedFile struct {
	GuestPath string
	hadOrig   bool
}

// CopyIn copies the host file hostPath into the guest at the same path. The guest's own file
// (or symlink) is renamed aside and put back by Restore. A guest without the parent directory
// gets nothing and no error.
func (g *Guest) CopyIn(hostPath string) (*CopiedFile, error) {
	data, err := os.ReadFile(hostPath)
	if err != nil {
		return nil, fmt.Errorf("copy_files: %w", err)
	}
	r := g.Guest()
	c := &CopiedFile{GuestPath: hostPath}
	if _, err := r.Lstat(hostPath); err == nil {
		if err := r.Rename(hostPath, hostPath+backupSuffix); err != nil {
			return nil, fmt.Errorf("copy_files: set aside guest %s: %w", hostPath, err)
		}
		c.hadOrig = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("copy_files: guest %s: %w", hostPath, err)
	}
	if err := r.WriteFile(hostPath, data, 0o644); err != nil {
		if c.hadOrig {
			r.Rename(hostPath+backupSuffix, hostPath)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("copy_files: write guest %s: %w", hostPath, err)
	}
	return c, nil
}

// Restore removes the copied file and puts back the guest's original.
func (c *CopiedFile) Restore(g *Guest) error {
	if c == nil {
		return nil
	}
	r := g.Guest()
	if err := r.Remove(c.GuestPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if c.hadOrig {
		return r.Rename(c.GuestPath+backupSuffix, c.GuestPath)
	}
	return nil
}
