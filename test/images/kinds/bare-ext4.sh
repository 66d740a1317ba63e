# shellcheck shell=bash
# bare-ext4: no partition table: the whole file is ext4 (Eucalyptus style); fstab LABEL=root
# (Sourced by test/images/mkimage.sh, whose helpers and variables it uses.)
use_tree
img_loop root_dev "$tmp"
mkfs.ext4 -q -L root "$root_dev"
img_mount "$root_dev" "$mnt"
populate
{
  fstab_header
  printf 'LABEL=root      /               ext4    defaults        0       1\n'
} >"$mnt/etc/fstab"
