# shellcheck shell=bash
# lvm-span: a volume group spanning two disks, as one instance's, named like a Debian
# installer's (debian-vg, 4 MiB extents). OUT is disk 1: MBR; p1 ext4 /boot (256 MiB,
# bootable flag, UUID), p2 (type 8e) an LVM2 PV of debian-vg holding LV root (ext4 /, fstab
# /dev/mapper/debian--vg-root). OUT-disk2 (512 MiB) is disk 2: MBR; p1 (type 8e) the VG's
# other PV, holding LV data (ext4, label data, /srv, fstab /dev/mapper/debian--vg-data).
# Markers: /etc/chromogenic-span in root says "root LV on disk 1", /srv/chromogenic-span in
# data "data LV on disk 2". Made like lvm-grub (no activation) from the grub-lvm flavor of
# the Debian tree, which has lvm2 (its initramfs activates the root) and GRUB's modules.
# (Sourced by test/images/mkimage.sh, whose helpers and variables it uses.)
use_tree grub-lvm
boot_and_part 8e pv_dev
truncate -s 512M "$tmp2"
printf 'label: dos\nstart=2048, type=8e\n' | sfdisk -q "$tmp2"
read -r b1 z1 < <(part_geom "$tmp2" 1)
img_loop pv2_dev "$tmp2" "$b1" "$z1"
lvm_init "$pv_dev" "$pv2_dev"
vg=debian-vg
lvm_run pvcreate -y "$pv_dev" "$pv2_dev"
lvm_run vgcreate -s 4m "$vg" "$pv_dev" "$pv2_dev"
lvm_run lvcreate --activate n --zero n --wipesignatures n -n root -l 100%PVS "$vg" "$pv_dev"
lvm_run lvcreate --activate n --zero n --wipesignatures n -n data -l 100%PVS "$vg" "$pv2_dev"
lv_dev root_dev "$vg" root "$o2"
lv_dev data_dev "$vg" data "$b1" "$tmp2" "$pv2_dev"
mkfs.ext4 -q -L boot "$boot_dev"
mkfs.ext4 -q -L root "$root_dev"
mkfs.ext4 -q -L data "$data_dev"
img_mount "$root_dev" "$mnt"
img_mount "$boot_dev" "$mnt/boot"
img_mount "$data_dev" "$mnt/srv"
populate
printf 'root LV on disk 1\n' >"$mnt/etc/chromogenic-span"
printf 'data LV on disk 2\n' >"$mnt/srv/chromogenic-span"
{
  fstab_header
  printf '/dev/mapper/debian--vg-root /               ext4    errors=remount-ro 0       1\n'
  printf '# /boot was on /dev/sda1 during installation\n'
  printf 'UUID=%s /boot           ext4    defaults        0       2\n' "$(blkid -s UUID -o value "$boot_dev")"
  printf '/dev/mapper/debian--vg-data /srv            ext4    defaults        0       2\n'
} >"$mnt/etc/fstab"
