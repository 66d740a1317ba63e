# shellcheck shell=bash
# lvm: MBR; p1 (type 8e) LVM2 PV of VG guestvg with LVs root (ext4 /) and swap_1;
# fstab by /dev/mapper/guestvg-*. This host has no device-mapper, so the LVs are
# never activated: the file systems are written through offset loops placed at
# each LV's extents, which is exactly where dm-linear would map them.
# (Sourced by test/images/mkimage.sh, whose helpers and variables it uses.)
use_tree
printf 'label: dos\nstart=2048, type=8e\n' | sfdisk -q "$tmp"
read -r o1 s1 < <(part_geom "$tmp" 1)
img_loop pv_dev "$tmp" "$o1" "$s1"
lvm_init
lvm_run pvcreate -y "$pv_dev"
lvm_run vgcreate guestvg "$pv_dev"
lvm_run lvcreate --activate n --zero n --wipesignatures n -n root -l 90%VG guestvg
lvm_run lvcreate --activate n --zero n --wipesignatures n -n swap_1 -l 100%FREE guestvg
lv_dev root_dev guestvg root "$o1"
lv_dev swap_dev guestvg swap_1 "$o1"
mkfs.ext4 -q -L root "$root_dev"
mkswap -q -L swap "$swap_dev"
img_mount "$root_dev" "$mnt"
populate
{
  fstab_header
  printf '/dev/mapper/guestvg-root /               ext4    errors=remount-ro 0       1\n'
  printf '/dev/mapper/guestvg-swap_1 none            swap    sw              0       0\n'
} >"$mnt/etc/fstab"
