//go:build linux

package chroot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ImageOptions say how OpenImage attaches and mounts a raw disk image.
type ImageOptions struct {
	// ReadOnly attaches the loop devices read-only and mounts every guest filesystem "ro":
	// nothing can write to the image. Trim does nothing on such an image.
	ReadOnly bool
	// Exclusive refuses an image that loop devices are already attached to (another build or
	// a mount of it by hand): two writers would corrupt it.
	Exclusive bool
	// MountPath is the host directory the guest root is mounted on, created 0700 with its
	// missing parents if needed and left in place by Close. Empty: MountPathFor picks it,
	// or OpenImage makes a new directory in TempDir (os.MkdirTemp with TempPattern), which
	// Close removes again.
	MountPath string
	// MountPathFor, when set and MountPath is empty, is called once the disk is attached
	// and before anything is mounted (a mount path naming the loop device); "" asks for a
	// temporary directory. An error from it ends OpenImage unchanged.
	MountPathFor func(d *Disk) (string, error)
	// TempDir and TempPattern name the temporary mount directory (os.MkdirTemp's arguments).
	TempDir, TempPattern string
	// Guest says which root to mount and which fstab mounts and options to add.
	Guest GuestOptions
	// ChrootMounts are mounted in the guest tree after its filesystems (proc, sys, dev for
	// running guest programs with plain chroot).
	ChrootMounts []ChrootMount
	// LayoutOnly attaches the disk and finds the guest's root partition (probe-mounted
	// read-only on the mount path and unmounted again) but mounts nothing: Image.Guest is nil.
	LayoutOnly bool
	// Fsck checks or repairs each guest filesystem just before it is mounted (see Fsck and
	// FsckMode; "" skips). With ReadOnly, FsckRepair only checks. Repair only a working copy.
	Fsck FsckMode
	// ExtraDisks are the other disks of a several-disk image, after the one OpenImage is given
	// (OpenImages sets it): see OpenImages.
	ExtraDisks []string
}

// Image is a raw disk image attached to loop devices with its guest tree mounted: the one way
// the builders, the CLI and bootable reach a guest on a disk. Close releases all of it.
type Image struct {
	Path      string     // the image file, absolute
	Paths     []string   // every disk's image file, absolute, Path first (OpenImages)
	Disk      *Disk      // its loop devices and partitions
	Root      *Partition // the guest's root partition
	Guest     *Guest     // the mounted guest tree (nil with LayoutOnly)
	MountPath string     // host directory the guest root is (or was probed) on
	readOnly  bool
	tempDir   bool // MountPath was made by OpenImage: Close removes it
}

// OpenImage attaches the raw image at path to loop devices (one for the disk, one per
// partition), finds the guest's root filesystem and mounts it on the mount path with the
// guest fstab's entries for opts.Guest.FstabMounts below it (nosuid,nodev always), then
// opts.ChrootMounts. On error everything opened so far is released again: no loop device,
// mount or temporary directory is left.
func OpenImage(path string, opts ImageOptions) (img *Image, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, err
	}
	if opts.Exclusive {
		if loops := LoopsBackedBy(abs); len(loops) > 0 {
			return nil, fmt.Errorf("%s is in use (attached to %s)", path, strings.Join(loops, ", "))
		}
	}
	d, paths, err := attachDisks(abs, opts)
	if err != nil {
		return nil, err
	}
	img = &Image{Path: abs, Paths: paths, Disk: d, readOnly: opts.ReadOnly}
	defer func() {
		if err != nil {
			err = errors.Join(err, img.Close())
			img = nil
		}
	}()
	dir := opts.MountPath
	if dir == "" && opts.MountPathFor != nil {
		if dir, err = opts.MountPathFor(d); err != nil {
			return img, err
		}
	}
	if dir == "" {
		if dir, err = os.MkdirTemp(opts.TempDir, opts.TempPattern); err != nil {
			return img, err
		}
		img.tempDir = true
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return img, err
	}
	img.MountPath = dir
	if busy := MountedUnder(dir); len(busy) > 0 {
		return img, fmt.Errorf("mount path %s is already in use (%s mounted)", dir, busy[0])
	}
	if opts.LayoutOnly {
		img.Root, err = FindRoot(d, dir, opts.Guest.rootChoice())
		return img, err
	}
	gopts := opts.Guest
	if opts.ReadOnly {
		gopts.MountOptions = append(append([]string(nil), gopts.MountOptions...), "ro")
	}
	if opts.Fsck != "" && opts.Fsck != FsckSkip {
		gopts.BeforeMount = fsckBefore(opts.Fsck, opts.ReadOnly, gopts.BeforeMount)
	}
	g, err := MountGuest(d, dir, gopts)
	if err != nil {
		return img, err
	}
	img.Guest, img.Root, img.MountPath = g, g.Root, g.Mounts.Root
	if err := g.mountOtherDisks(gopts); err != nil {
		return img, err
	}
	if len(opts.ChrootMounts) > 0 {
		if err := g.MountChroot(opts.ChrootMounts); err != nil {
			return img, err
		}
	}
	return img, nil
}

// KillProcesses kills the processes left running in the guest tree (daemons a guest program
// started), as Close does before it unmounts, and returns how many it killed.
func (img *Image) KillProcesses() int {
	if img.Guest == nil || len(img.Guest.Paths()) == 0 {
		return 0
	}
	return KillProcessesIn(img.Guest.Mounts.Root)
}

// Trim discards the free blocks of every guest filesystem mounted, root first, so that the
// image file stays sparse; each, when not nil, hears of every filesystem's outcome. It
// returns the bytes trimmed and the failures joined; it goes on past a failure. A read-only
// image trims nothing.
func (img *Image) Trim(each func(dir string, trimmed uint64, err error)) (uint64, error) {
	if img.Guest == nil || img.readOnly {
		return 0, nil
	}
	var total uint64
	var errs []error
	for _, fs := range img.Guest.Filesystems {
		n, err := Trim(fs)
		if each != nil {
			each(fs, n, err)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		total += n
	}
	return total, errors.Join(errs...)
}

// Close releases the image in reverse order: processes left in the guest tree are killed,
// every mount is unmounted (chroot mounts, fstab mounts, the root), the loop devices are
// detached and a temporary mount directory is removed. It goes on past failures and returns
// them joined; a second Close does nothing more.
func (img *Image) Close() error {
	if img == nil {
		return nil
	}
	var errs []error
	if img.Guest != nil {
		if err := img.Guest.UnmountAll(); err != nil {
			errs = append(errs, err)
		}
	}
	if img.Disk != nil {
		if err := img.Disk.Detach(); err != nil {
			errs = append(errs, err)
		}
	}
	if img.tempDir && len(errs) == 0 {
		// Not RemoveAll: should a mount have stayed, rmdir fails rather than delete through it.
		if err := os.Remove(img.MountPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		} else {
			img.tempDir = false
		}
	}
	return errors.Join(errs...)
}
