# shellcheck shell=bash
# two-disk: two disks, as one instance's: OUT is disk 1, MBR, p1 ext4 / (fstab UUID=);
# OUT-disk2 (OUT's name with -disk2 before .raw, 512 MiB) is disk 2, MBR, p1 ext4
# /srv (fstab UUID=, LABEL srv) and p2 ext4 /var/lib/data (fstab /dev/vdb2: a
# kernel name, resolved by disk order).
# (Sourced by test/images/mkimage.sh, whose helpers and variables it uses.)
use_tree
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$tmp"
truncate -s 512M "$tmp2"
printf 'label: dos\nstart=2048, size=256MiB, type=83\ntype=83\n' | sfdisk -q "$tmp2"
read -r o1 s1 < <(part_geom "$tmp" 1)
read -r b1 z1 < <(part_geom "$tmp2" 1)
read -r b2 z2 < <(part_geom "$tmp2" 2)
img_loop root_dev "$tmp" "$o1" "$s1"
img_loop srv_dev "$tmp2" "$b1" "$z1"
img_loop data_dev "$tmp2" "$b2" "$z2"
mkfs.ext4 -q -L root "$root_dev"
mkfs.ext4 -q -L srv "$srv_dev"
mkfs.ext4 -q -L data "$data_dev"
img_mount "$root_dev" "$mnt"
img_mount "$srv_dev" "$mnt/srv"
img_mount "$data_dev" "$mnt/var/lib/data"
populate
printf 'on the second disk\n' >"$mnt/srv/disk2.txt"
{
  fstab_header
  printf '# / was on /dev/vda1 during installation\n'
  printf 'UUID=%s /               ext4    errors=remount-ro 0       1\n' "$(blkid -s UUID -o value "$root_dev")"
  printf '# /srv was on /dev/vdb1 during installation\n'
  printf 'UUID=%s /srv            ext4    defaults        0       2\n' "$(blkid -s UUID -o value "$srv_dev")"
  printf '/dev/vdb2       /var/lib/data   ext4    defaults        0       2\n'
} >"$mnt/etc/fstab"
