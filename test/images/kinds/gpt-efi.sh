# shellcheck shell=bash
# gpt-efi: GPT; p1 ESP vfat 100 MiB at /boot/efi (UUID), p2 ext4 / (PARTUUID)
# (Sourced by test/images/mkimage.sh, whose helpers and variables it uses.)
use_tree
printf 'label: gpt\nstart=2048, size=100MiB, type=%s, name="EFI System Partition"\ntype=%s, name="root"\n' \
  "$ESP_TYPE" "$LINUX_FS_TYPE" | sfdisk -q "$tmp"
read -r o1 s1 < <(part_geom "$tmp" 1)
read -r o2 s2 < <(part_geom "$tmp" 2)
img_loop esp_dev "$tmp" "$o1" "$s1"
img_loop root_dev "$tmp" "$o2" "$s2"
mkfs.vfat -F 32 -n EFI "$esp_dev" >/dev/null
mkfs.ext4 -q -L root "$root_dev"
root_uuid=$(blkid -s UUID -o value "$root_dev")
partuuid=$(sfdisk --part-uuid "$tmp" 2 | tr 'A-F' 'a-f')
img_mount "$root_dev" "$mnt"
populate
mkdir -p "$mnt/boot/efi"
cat >"$work/grub.cfg" <<GRUB
search.fs_uuid $root_uuid root
set prefix=(\$root)'/boot/grub'
configfile \$prefix/grub.cfg
GRUB
mmd -i "$tmp@@$o1" ::/EFI ::/EFI/debian
mcopy -i "$tmp@@$o1" "$work/grub.cfg" ::/EFI/debian/grub.cfg
{
  fstab_header
  printf '# / was on /dev/sda2 during installation\n'
  printf 'PARTUUID=%s /               ext4    errors=remount-ro 0       1\n' "$partuuid"
  printf '# /boot/efi was on /dev/sda1 during installation\n'
  printf 'UUID=%s  /boot/efi       vfat    umask=0077      0       1\n' "$(blkid -s UUID -o value "$esp_dev")"
} >"$mnt/etc/fstab"
