# shellcheck shell=bash
# mbr-boot: MBR; p1 ext4 /boot (256 MiB, bootable flag), p2 ext4 /; fstab by UUID
# (Sourced by test/images/mkimage.sh, whose helpers and variables it uses.)
use_tree
boot_and_part 83 root_dev
mkfs.ext4 -q -L boot "$boot_dev"
mkfs.ext4 -q -L root "$root_dev"
img_mount "$root_dev" "$mnt"
img_mount "$boot_dev" "$mnt/boot"
populate
{
  fstab_header
  printf '# / was on /dev/sda2 during installation\n'
  printf 'UUID=%s /               ext4    errors=remount-ro 0       1\n' "$(blkid -s UUID -o value "$root_dev")"
  printf '# /boot was on /dev/sda1 during installation\n'
  printf 'UUID=%s /boot           ext4    defaults        0       2\n' "$(blkid -s UUID -o value "$boot_dev")"
} >"$mnt/etc/fstab"
