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
//   - /etc/fstab naming the root (and every copied filesystem) by UUID, and, given the guest's
//     other disks (Options.OtherDisks, read only), the filesystems on them too: a kernel name
//     such as /dev/vdb2 holds only for the disk order and bus the guest had;
//   - a bootloader: for BIOS, GRUB 2 by default (Options.Bootloader; below), or extlinux from
//     the host's syslinux (boot code in the MBR, or gptmbr.bin on GPT); for EFI, a standalone GRUB (BOOTX64.EFI at the removable-media path,
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
// GRUB for BIOS is installed without grub-install (grub.go). grub-install must map the
// filesystem holding /boot to a partition of a disk it can see, which offset loop devices
// without udev or device-mapper (what internal/chroot uses, all this machine has) do not give
// it, and grub-bios-setup wants the same mapping through a device map. Both only assemble
// what Make can write itself, on a disk whose layout it planned: grub-mkimage -O i386-pc
// builds core.img with every module the boot needs built in (biosdisk, part_msdos, part_gpt,
// lvm, ext2, xfs, btrfs, search, normal, linux, serial...) and an early configuration that finds
// /boot's filesystem by UUID (search --fs-uuid) and sets the prefix; core.img goes into the
// gap between the MBR and the first partition (MBR, 1 MiB) or into a 1 MiB BIOS boot
// partition (type 21686148-6449-6E6F-744E-656564454649) put first on a "both" disk; boot.img
// goes into the MBR's first 440 bytes with core.img's sector in it and the BIOS drive check
// on, and core.img's blocklist names its other sectors: what grub-bios-setup writes. The
// host's grub-mkimage and modules (grub-pc-bin) are used when present; else the guest's own
// grub-mkimage runs in the sandbox when the guest has GRUB's i386-pc modules, its output read
// back as data (bounded, shape-checked) and written into the new disk only. grub.cfg is ours
// (not grub-mkconfig, which would run the guest's /etc/grub.d scripts): one menuentry that
// searches /boot's filesystem by UUID and boots the kernel with the command line below,
// paths relative to a separate /boot. A btrfs root in a subvolume with the kernel in its own
// /boot (openSUSE's snapper snapshot) is read by GRUB from the filesystem's top level, which
// its btrfs driver always starts from, whatever the default subvolume: the prefix, kernel and
// initramfs paths start with the subvolume's path (/@/.snapshots/1/snapshot/boot/...), and the
// command line gets rootflags=subvol= (btrfs.go); extlinux cannot follow that and is refused.
// The root is the one chroot.FindRoot's rule finds, or Options.RootPartition/RootVolume/
// RootSubvolume (the builders' root_partition, root_volume and root_subvolume); on the new disk it is named by its partition
// (or kept logical volume), not found by the rule again. It is written in-root; a /boot/grub that is a symlink
// (or not a directory) is renamed aside to /boot/grub.pre-chromogenic and a real directory
// made, and a guest grub.cfg is kept as grub.cfg.pre-chromogenic. With Bootloader "" GRUB is
// used where it can be built and extlinux otherwise; "grub" fails instead. virt-v2v finds
// this GRUB (it reports "no bootloader detected" for extlinux) and, converting, runs the
// guest's grub-mkconfig on /boot/grub/grub.cfg, so it needs a guest with GRUB's tools
// (Debian: grub2-common), as installed cloud guests have (TestLVMKeepGrubBoot).
//
// Why in-house: the job is a sequence of well-known tools (sfdisk, resize2fs, grub-mkimage,
// extlinux, grub-mkstandalone, mtools) around internal/chroot and internal/retarget; virt-v2v and
// disk-image-builder do parts of it but need a libguestfs appliance (about 40 s per call
// under TCG here) or a full build pipeline, and none folds external kernels in.
package bootable
