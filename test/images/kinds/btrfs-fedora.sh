# shellcheck shell=bash
# btrfs-fedora: MBR; p1 ext4 /boot (256 MiB, UUID), p2 btrfs (Fedora 33+ shape): subvolumes
# root (the tree; /) and home (/home), the default subvolume the top level (5),
# which holds no root; fstab by UUID with subvol=root,compress=zstd:1 and
# subvol=home. Markers: /etc/chromogenic-subvol in root says "root",
# /home/chromogenic-subvol in home says "home", /chromogenic-top on the top level;
# the sample's boot marker unit (made bootable by internal/bootable and booted).
# (Sourced by test/images/mkimage.sh, whose helpers and variables it uses.)
use_tree
boot_and_part 83 root_dev
mkfs.ext4 -q -L boot "$boot_dev"
mkfs.btrfs -q -L fedora "$root_dev" >/dev/null
img_mount "$root_dev" "$work/top" -o subvolid=5
btrfs -q subvolume create "$work/top/root" >/dev/null
btrfs -q subvolume create "$work/top/home" >/dev/null
printf 'top level\n' >"$work/top/chromogenic-top"
img_mount "$root_dev" "$mnt" -o subvol=root,compress=zstd:1
img_mount "$boot_dev" "$mnt/boot"
img_mount "$root_dev" "$mnt/home" -o subvol=home,compress=zstd:1
populate
printf 'root\n' >"$mnt/etc/chromogenic-subvol"
printf 'home\n' >"$mnt/home/chromogenic-subvol"
boot_marker
uuid=$(blkid -s UUID -o value "$root_dev")
{
  fstab_header
  printf 'UUID=%s /                       btrfs   subvol=root,compress=zstd:1 0 0\n' "$uuid"
  printf 'UUID=%s /boot                   ext4    defaults        1 2\n' "$(blkid -s UUID -o value "$boot_dev")"
  printf 'UUID=%s /home                   btrfs   subvol=home,compress=zstd:1 0 0\n' "$uuid"
} >"$mnt/etc/fstab"
