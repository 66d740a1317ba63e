# shellcheck shell=bash
# lvm-grub: MBR; p1 ext4 /boot (256 MiB, bootable flag, UUID), p2 (type 8e) LVM2 PV of VG
# grub-vg with one LV, root (ext4 /, fstab /dev/mapper/grub--vg-root); made like
# lvm (no activation) from the grub-lvm flavor of the Debian tree, which has lvm2
# and GRUB's tools and modules (grub-pc-bin, grub2-common) as an installed cloud
# guest has, and the sample's boot marker unit: internal/bootable makes it
# bootable with lvm = keep, boots it and converts it with virt-v2v.
# (Sourced by test/images/mkimage.sh, whose helpers and variables it uses.)
use_tree grub-lvm
boot_and_part 8e pv_dev
lvm_init
lvm_run pvcreate -y "$pv_dev"
lvm_run vgcreate grub-vg "$pv_dev"
lvm_run lvcreate --activate n --zero n --wipesignatures n -n root -l 100%FREE grub-vg
lv_dev root_dev grub-vg root "$o2"
mkfs.ext4 -q -L boot "$boot_dev"
mkfs.ext4 -q -L root "$root_dev"
img_mount "$root_dev" "$mnt"
img_mount "$boot_dev" "$mnt/boot"
populate
boot_marker
{
  fstab_header
  printf '/dev/mapper/grub--vg-root /               ext4    errors=remount-ro 0       1\n'
  printf '# /boot was on /dev/sda1 during installation\n'
  printf 'UUID=%s /boot           ext4    defaults        0       2\n' "$(blkid -s UUID -o value "$boot_dev")"
} >"$mnt/etc/fstab"
