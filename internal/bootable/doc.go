// Package bootable turns a guest image into a disk that boots on its own: on bare metal, in
// VirtualBox or VMware, or in plain QEMU, without a cloud to hand it a kernel.
//
// Many cloud images cannot do that. Eucalyptus images are a bare filesystem booted with an
// external kernel and ramdisk (eki/eri), OpenStack images may rely on kernel_id/ramdisk_id,
// and others have no bootloader or only cloud drivers in their initramfs. Make takes such an
// image (any format internal/diskimage reads; partitioned, or one bare ext4/xfs/btrfs
// filesystem) and writes a sparse raw disk with:
//
//   - a partition table: MBR for firmware "bios"; GPT with an EFI system partition for "efi";
//     GPT with an ESP and a legacy-BIOS-bootable root for "both" (hybrid);
//   - the guest's filesystems copied extent by extent (holes stay holes; UUIDs kept), the root
//     optionally grown by ExtraSize (resize2fs, xfs_growfs, btrfs resize);
//   - a guest on LVM (read with internal/lvm, never LVM's tools) flattened: each logical volume
//     it mounts becomes a plain partition; or kept (LVMKeep): its physical volumes copied whole,
//     booted with root=/dev/mapper/<vg>-<lv> by the guest's own lvm2 in its initramfs;
//   - an external kernel and ramdisk, when given, folded into the guest's /boot;
//   - an initramfs rebuilt by the guest's own tool in the sandbox (internal/sandbox) with the drivers a generic PC
//     needs (internal/retarget, target "pc": ahci, virtio, nvme, e1000, ext4...);
//   - /etc/fstab naming the root (and every copied filesystem) by UUID;
//   - a bootloader: for BIOS, extlinux from the host's syslinux (boot code in the MBR, or
//     gptmbr.bin on GPT); for EFI, a standalone GRUB (BOOTX64.EFI at the removable-media path,
//     so no NVRAM entry is needed) built by the guest's own grub-mkstandalone in the sandbox
//     when the guest has GRUB's x86_64-efi modules, else by the host's (grub-efi-amd64-bin),
//     on a FAT ESP written with mkfs.vfat and mtools (no vfat mount needed);
//   - a kernel command line with a VGA and a serial console (console=tty0 console=ttyS0,115200).
//
// External kernels: the kernel's version is read from its bzImage header. Its modules must be
// in the guest (/lib/modules/<version>); then the initramfs is rebuilt for it. When the guest
// lacks them but an external ramdisk was given, that ramdisk is used as it is (the cloud booted
// it that way, so it holds the drivers it needs; nothing can be added to it). Without either
// Make fails, naming what is missing, as it does for an image with no kernel at all.
//
// GRUB for BIOS through the guest's grub-install is not attempted: grub-install must map the
// root filesystem to a partition of a disk it can see, which offset loop devices without udev
// (what internal/chroot uses) do not give it; extlinux needs no such probing.
//
// Why in-house: the job is a sequence of well-known tools (sfdisk, resize2fs, extlinux,
// grub-mkstandalone, mtools) around internal/chroot and internal/retarget; virt-v2v and
// disk-image-builder do parts of it but need a libguestfs appliance (about 40 s per call
// under TCG here) or a full build pipeline, and none folds external kernels in.
package bootable
