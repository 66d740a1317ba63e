# shellcheck shell=bash
# btrfs-suse: MBR; p1 btrfs (openSUSE shape): @, @/var, @/home, @/opt, @/.snapshots and
# snapper's snapshots @/.snapshots/{1,2,3}/snapshot; the default subvolume is
# snapshot 1 (the tree, /etc/chromogenic-subvol "snapshot 1"); 2 is an older copy
# ("snapshot 2"), 3 a decoy with another /etc/os-release ("snapshot 3"); /var,
# /home and /opt live in their own subvolumes; fstab by UUID: / without subvol=
# (the default), /var, /home, /opt, /.snapshots with subvol=/@/...; the boot
# marker unit and a report unit before it printing the mounted root's subvolume
# path and /proc/cmdline (CHROMOGENIC-ROOT ..., see boot_report)
# (Sourced by test/images/mkimage.sh, whose helpers and variables it uses.)
use_tree
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$tmp"
read -r o1 s1 < <(part_geom "$tmp" 1)
img_loop root_dev "$tmp" "$o1" "$s1"
mkfs.btrfs -q -L suse "$root_dev" >/dev/null
top="$work/top"
img_mount "$root_dev" "$top" -o subvolid=5
for sv in @ @/var @/home @/opt @/.snapshots; do btrfs -q subvolume create "$top/$sv" >/dev/null; done
mkdir "$top/@/.snapshots/1"
btrfs -q subvolume create "$top/@/.snapshots/1/snapshot" >/dev/null
btrfs -q subvolume set-default "$top/@/.snapshots/1/snapshot"
img_mount "$root_dev" "$mnt" -o subvol=@/.snapshots/1/snapshot
for sv in var home opt .snapshots; do img_mount "$root_dev" "$mnt/$sv" -o "subvol=@/$sv"; done
populate
boot_marker
boot_report
uuid=$(blkid -s UUID -o value "$root_dev")
{
  fstab_header
  printf 'UUID=%s  /             btrfs  defaults                  0  0\n' "$uuid"
  printf 'UUID=%s  /var          btrfs  subvol=/@/var             0  0\n' "$uuid"
  printf 'UUID=%s  /home         btrfs  subvol=/@/home            0  0\n' "$uuid"
  printf 'UUID=%s  /opt          btrfs  subvol=/@/opt             0  0\n' "$uuid"
  printf 'UUID=%s  /.snapshots   btrfs  subvol=/@/.snapshots      0  0\n' "$uuid"
} >"$mnt/etc/fstab"
printf 'var\n' >"$mnt/var/chromogenic-subvol"
printf 'home\n' >"$mnt/home/chromogenic-subvol"
for n in 2 3; do
  mkdir "$top/@/.snapshots/$n"
  btrfs -q subvolume snapshot "$mnt" "$top/@/.snapshots/$n/snapshot" >/dev/null
  printf 'snapshot %s\n' "$n" >"$top/@/.snapshots/$n/snapshot/etc/chromogenic-subvol"
done
rm -f "$top/@/.snapshots/3/snapshot/etc/os-release"
printf 'ID=chromogenic-decoy\nNAME="not the booted root"\n' >"$top/@/.snapshots/3/snapshot/etc/os-release"
printf 'snapshot 1\n' >"$mnt/etc/chromogenic-subvol"
