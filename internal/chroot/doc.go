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
// The guest image is untrusted: mount points inside it are resolved in-root with
// internal/guestfs and mounted through O_PATH descriptors, so a guest symlink such as
// /boot -> /etc on the host can never redirect a mount onto a host path.
package chroot
