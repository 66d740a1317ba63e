#!/usr/bin/env bash
# sample-image.sh [OUT] - build (once) and cache a small bootable Debian 12 raw disk.
#
# The disk: 2 GiB virtual, MBR, one bootable ext4 root partition from sector 2048, extlinux,
# kernel console on ttyS0, hostname chromogenic-sample, root password locked, and a systemd
# unit that writes CHROMOGENIC-BOOT-OK to /dev/ttyS0 once multi-user.target is reached;
# devices are waited for up to 15 min (slow udev under TCG load).
# It is fstrim'ed, so it stays sparse (about 700 MiB allocated).
#
# It is made from the cached debootstrap tree (debootstrap-tree.sh) and cached at
#   $CHROMOGENIC_CACHE/sample-<key>/disk.raw
# where <key> hashes the tree's name and the contents of this script and lib.sh, so any
# change of the recipe makes a new image. The build happens in a temporary directory that
# is renamed when complete; mounts and loops are released on every exit path.
# With OUT, the image is also copied there (cp --sparse=always). Prints the image path last
# (OUT when given). Callers must not modify the cached image: copy it first.
set -euo pipefail

here=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
# shellcheck source=scripts/images/lib.sh
. "$here/lib.sh"

OUT="${1:-}"
HOSTNAME_=chromogenic-sample
SIZE=2G

[ "$(id -u)" -eq 0 ] || die "must run as root"
need_pkgs extlinux syslinux-common fdisk e2fsprogs util-linux zstd jq

tree=$(tree_tarball)
[ -s "$tree" ] || die "no debootstrap tree"
key=$( {
  basename "$tree"
  cat "$here/sample-image.sh" "$here/lib.sh"
} | sha256sum | cut -c1-16)
dir="$CHROMOGENIC_CACHE/sample-$key"
img="$dir/disk.raw"

finish() {
  touch "$dir" 2>/dev/null || true # marks it in use for the pruning below
  if [ -n "$OUT" ]; then
    mkdir -p "$(dirname "$OUT")"
    cp --sparse=always "$img" "$OUT"
    printf '%s\n' "$OUT"
  else
    printf '%s\n' "$img"
  fi
}

if [ -s "$img" ]; then
  finish
  exit 0
fi

exec 9>"$CHROMOGENIC_CACHE/.sample-$key.lock"
flock 9
if [ -s "$img" ]; then
  finish
  exit 0
fi

work=$(mktemp -d "$CHROMOGENIC_CACHE/.sample-$key.XXXXXX")
cleanup() {
  img_umount_all
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
start=$SECONDS
log "building sample image in $work from $(basename "$tree")"

raw="$work/disk.raw"
truncate -s "$SIZE" "$raw"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$raw"
read -r off size < <(part_geom "$raw" 1)
root_dev=""
img_loop root_dev "$raw" "$off" "$size"
# extlinux (syslinux 6.04) does not understand metadata_csum_seed.
mkfs.ext4 -q -L root -O ^metadata_csum_seed "$root_dev"
uuid=$(blkid -s UUID -o value "$root_dev")
mnt="$work/mnt"
img_mount "$root_dev" "$mnt"
extract_tree "$tree" "$mnt"

kver=$(find "$mnt/boot" -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' | sed 's/^vmlinuz-//' | sort -V | tail -n 1)
[ -n "$kver" ] || die "no kernel in the tree"

cat >"$mnt/etc/fstab" <<FSTAB
# /etc/fstab: static file system information.
# <file system> <mount point> <type> <options> <dump> <pass>
UUID=$uuid / ext4 errors=remount-ro 0 1
FSTAB
printf '%s\n' "$HOSTNAME_" >"$mnt/etc/hostname"
cat >"$mnt/etc/hosts" <<HOSTS
127.0.0.1	localhost
127.0.1.1	$HOSTNAME_

::1	localhost ip6-localhost ip6-loopback
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters
HOSTS
cat >"$mnt/etc/network/interfaces" <<'IFACES'
# interfaces(5) file used by ifup(8) and ifdown(8)
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback
IFACES
: >"$mnt/etc/machine-id"
chroot "$mnt" passwd -q -l root

cat >"$mnt/etc/systemd/system/chromogenic-marker.service" <<'UNIT'
[Unit]
Description=Print the chromogenic boot marker on the serial console
After=multi-user.target systemd-user-sessions.service

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo CHROMOGENIC-BOOT-OK > /dev/ttyS0'

[Install]
WantedBy=multi-user.target
UNIT
mkdir -p "$mnt/etc/systemd/system/multi-user.target.wants"
# Boot tests run under TCG, often several guests on two busy cores: udev may take minutes to
# announce ttyS0, and systemd's 90 s device timeout then leaves the serial console without a
# getty (no login prompt). A test guest waits for its devices as long as it takes.
mkdir -p "$mnt/etc/systemd/system.conf.d"
printf '[Manager]\nDefaultDeviceTimeoutSec=15min\n' >"$mnt/etc/systemd/system.conf.d/chromogenic-tcg.conf"
ln -sf /etc/systemd/system/chromogenic-marker.service \
  "$mnt/etc/systemd/system/multi-user.target.wants/chromogenic-marker.service"

mkdir -p "$mnt/boot/extlinux"
cat >"$mnt/boot/extlinux/extlinux.conf" <<CONF
DEFAULT linux
TIMEOUT 1
PROMPT 0
LABEL linux
  LINUX /boot/vmlinuz-$kver
  INITRD /boot/initrd.img-$kver
  APPEND root=UUID=$uuid ro console=ttyS0,115200 net.ifnames=0
CONF
extlinux --install "$mnt/boot/extlinux" 2>/dev/null
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$raw" bs=440 count=1 conv=notrunc status=none

fstrim "$mnt"
img_umount_all
e2fsck -fn "$raw?offset=$off" >"$work/fsck.log" 2>&1 || { cat "$work/fsck.log" >&2; die "e2fsck found errors"; }
rm -f "$work/fsck.log"
rmdir "$mnt"

chmod 755 "$work"
mv "$work" "$dir.new.$$"
rm -rf "$dir"
mv "$dir.new.$$" "$dir"
trap - EXIT
# Images of older recipes are not used again; those untouched for 2 hours are dropped so the
# cache does not grow (younger ones may still be in use by a run that started earlier).
find "$CHROMOGENIC_CACHE" -maxdepth 1 -type d -name 'sample-*' ! -name "sample-$key" -mmin +120 -exec rm -rf {} +
find "$CHROMOGENIC_CACHE" -maxdepth 1 -type f -name '.sample-*.lock' ! -name ".sample-$key.lock" -mmin +120 -delete
log "sample image cached at $img ($(du -h "$img" | cut -f1) allocated, $((SECONDS - start)) s)"
finish
