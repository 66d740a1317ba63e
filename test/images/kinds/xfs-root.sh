# shellcheck shell=bash
# xfs-root: MBR; p1 xfs /; fstab by UUID
# (Sourced by test/images/mkimage.sh, whose helpers and variables it uses.)
use_tree
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$tmp"
read -r o1 s1 < <(part_geom "$tmp" 1)
img_loop root_dev "$tmp" "$o1" "$s1"
mkfs.xfs -q -L root "$root_dev"
img_mount "$root_dev" "$mnt"
populate
{
  fstab_header
  printf '# / was on /dev/sda1 during installation\n'
  printf 'UUID=%s /               xfs     defaults        0       0\n' "$(blkid -s UUID -o value "$root_dev")"
} >"$mnt/etc/fstab"
