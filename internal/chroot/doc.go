// Package chroot attaches a raw disk image to loop devices, finds the guest's root filesystem,
// mounts the guest tree (root, its fstab's /boot and /boot/efi, then proc/sys/dev for a chroot)
// and releases all of it again, in reverse order, also after errors and interrupts.
//
// OpenImage is the one call that does all of it for a raw image file (attach, find the root,
// mount, and on Close kill what was left running, unmount, detach); the builders' open-image
// step, the CLI's clean --image and bootable use it. The package knows nothing of Packer.
//
// Loop devices are driven through ioctls rather than losetup so the partition mapping works
// without udev (this is what `losetup -P` needs udev for): each partition gets its own loop
// device with an offset and size limit, and every loop device is created with
// LO_FLAGS_AUTOCLEAR so the kernel frees it even if this process dies.
//
// LVM2 physical volumes among the partitions are read with internal/lvm (never LVM's tools,
// which would scan the host and could touch a host volume group of the same name; this needs
// no device-mapper): each linear logical volume gets an offset loop over its extents, probed
// and mounted like a partition (Disk.Volumes), found as the root and named in fstab as
// /dev/mapper/<vg>-<lv> or /dev/<vg>/<lv>. Its loops are backed by the image file, so Close
// and the lease recovery release them with the partitions' loops. Striped, multi-segment
// (non-contiguous) and other LV types are refused, naming the layout, when the guest needs
// them. Activation through device-mapper with a private LVM configuration, where a host has
// it, is not implemented.
//
// A guest on several disks (the disks of one machine) is opened by OpenImages: every disk is
// attached, the root found on any, the guest fstab resolved across them (kernel names such as
// /dev/vdb1 by disk order, with a warning in Disk.Warnings) and its entries on the other
// disks mounted; a VG may span the disks (each LV's loop over its own disk's file). The
// lease names every disk's file, so the recovery after a killed build releases them all.
//
// A btrfs root may be a subvolume (Fedora, openSUSE's snapper, Ubuntu): FindRoot lists the
// subvolumes with the host's btrfs tool (bounded) and picks the root by a fixed rule, and the
// guest fstab's subvol= entries are mounted by subvolid (see btrfs.go).
//
// XFS is always mounted with nouuid: a working copy shares its UUID with its source, which
// may be mounted on the host. ImageOptions.Fsck runs the host's e2fsck, xfs_repair or btrfs
// check on each guest filesystem just before it is mounted (Fsck): these host programs read
// guest-controlled data, so each runs with a time limit and a bounded output.
//
// The guest image is untrusted: mount points inside it are resolved in-root with
// internal/guestfs and mounted through O_PATH descriptors, so a guest symlink such as
// /boot -> /etc on the host can never redirect a mount onto a host path.
package chroot
