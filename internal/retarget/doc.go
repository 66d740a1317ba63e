// Package retarget converts a Linux guest tree set up for Xen to boot on another platform:
// "kvm" (virtio, ttyS0), "aws" (NVMe, ENA) or "pc" (a generic PC: internal/bootable's
// stand-alone disks). Run follows virt-v2v's Linux conversion: consoles, disk names, modprobe
// aliases and the initramfs configuration are edited, then the guest's own tools rebuild the
// initramfs and regenerate grub.cfg.
//
// Guest programs: unlike internal/clean's ops, retargeting runs the guest's initramfs tool
// (update-initramfs, dracut, mkinitrd) and grub-mkconfig/update-grub, never on the host and
// only inside internal/sandbox (no network), or, with Options.TrustGuest (`sandbox = false`),
// with plain chroot(2) in a root with proc, sys and dev mounted. It trusts the sandbox to
// contain them (TrustGuest: the guest itself) and checks only that they left an initramfs;
// guest files are data, read and written only through internal/clean's Env (in-root, dry-run
// aware, reported). The old initramfs is kept as *.pre-chromogenic. MountedDeviceSpecs reads
// the host's mount table and runs the host's blkid.
//
// Design: retarget imports clean, never the reverse. Run drives its steps with clean.RunSteps
// (report entries "convert-<step>"), and init registers the same steps as clean's xen-to-kvm
// op with clean.Register, so that op exists in every program importing this package (the
// plugin, the chromogenic command).
package retarget
