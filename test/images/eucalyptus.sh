#!/usr/bin/env bash
# eucalyptus.sh SAMPLE OUTDIR - make a Eucalyptus-shaped image from the sample disk.
#
# Eucalyptus (and OpenStack images with kernel_id/ramdisk_id) keep the guest as one bare
# filesystem and boot it with a kernel and ramdisk stored apart. From SAMPLE (the bootable
# sample disk, scripts/images/sample-image.sh) this writes:
#   OUTDIR/euca.img      partition 1 of SAMPLE as a bare ext4 filesystem (sparse), with no
#                        kernel, no initramfs and no bootloader in /boot, and the fstab root
#                        named /dev/sda1 as the cloud attached it
#   OUTDIR/vmlinuz       the kernel taken out of it (eki)
#   OUTDIR/initrd.img    its initramfs (eri)
# Loops and mounts are released on every exit path. Prints OUTDIR/euca.img last.
set -euo pipefail

here=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
repo=$(realpath "$here/../..")
# shellcheck source=scripts/images/lib.sh
. "$repo/scripts/images/lib.sh"

[ $# -eq 2 ] || { echo "usage: $(basename "$0") SAMPLE OUTDIR" >&2; exit 2; }
sample=$1
out=$2
[ "$(id -u)" -eq 0 ] || die "must run as root"
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/eucalyptus.XXXXXX")
cleanup() {
  img_umount_all
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

read -r off size < <(part_geom "$sample" 1)
img="$out/euca.img"
rm -f "$img"
dd if="$sample" of="$img" bs=1M iflag=skip_bytes,count_bytes skip="$off" count="$size" conv=sparse status=none
dev=""
img_loop dev "$img"
img_mount "$dev" "$work/mnt"
m="$work/mnt"
kernel=$(find "$m/boot" -maxdepth 1 -name 'vmlinuz-*' | sort -V | tail -n 1)
initrd=$(find "$m/boot" -maxdepth 1 -name 'initrd.img-*' | sort -V | tail -n 1)
if [ -z "$kernel" ] || [ -z "$initrd" ]; then die "no kernel or initrd in $sample"; fi
mv "$kernel" "$out/vmlinuz"
mv "$initrd" "$out/initrd.img"
rm -f "$m"/boot/vmlinuz-* "$m"/boot/initrd.img-* "$m"/vmlinuz* "$m"/initrd.img*
chattr -i "$m/boot/extlinux/ldlinux.sys" 2>/dev/null || true
rm -rf "$m/boot/extlinux"
cat >"$m/etc/fstab" <<'FSTAB'
# /etc/fstab written for a Eucalyptus instance: the cloud attaches the image as sda1.
/dev/sda1	/	ext4	errors=remount-ro	0	1
FSTAB
img_umount_all
printf '%s\n' "$img"
