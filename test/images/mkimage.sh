#!/usr/bin/env bash
# mkimage.sh KIND OUT | --list - make a raw, sparse test disk for root-filesystem discovery.
#
# Every kind with a Linux guest is made from a cached Debian 12 debootstrap tree
# (scripts/images/debootstrap-tree.sh, built once) and carries a realistic /etc/fstab.
# None is bootable unless its recipe says so. Each kind's recipe is its own file,
# test/images/kinds/KIND.sh (the layout it makes described at its top), sourced below with this
# script's helpers: the kinds are the files there (--list). internal/testimages keys the
# disks it caches by the recipe of each kind (this script, the kind's file and the scripts
# they use), so adding or changing one kind remakes that kind's disks only.
#
# The disk is 2 GiB virtual (MKIMAGE_SIZE), written to OUT.tmp.PID and renamed to OUT (a
# second disk first, to its own name: OUT present means every disk is complete).
# Loops and mounts are released on every exit path. Prints OUT on its last stdout line.
set -euo pipefail
export MTOOLS_SKIP_CHECK=1

here=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
repo=$(realpath "$here/../..")
# shellcheck source=scripts/images/lib.sh
. "$repo/scripts/images/lib.sh"

KINDS=()
for f in "$here"/kinds/*.sh; do
  f=${f##*/}
  KINDS+=("${f%.sh}")
done
SIZE="${MKIMAGE_SIZE:-2G}"
ESP_TYPE=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
LINUX_FS_TYPE=0FC63DAF-8483-4772-8E79-3D69D8477DE4

usage() {
  printf 'usage: %s KIND OUT | --list\nkinds: %s\n' "$(basename "$0")" "${KINDS[*]}" >&2
  exit 2
}

if [ "${1:-}" = "--list" ]; then
  printf '%s\n' "${KINDS[@]}"
  exit 0
fi
[ $# -eq 2 ] || usage
kind=$1
OUT=$2
case " ${KINDS[*]} " in *" $kind "*) ;; *) usage ;; esac
[ "$(id -u)" -eq 0 ] || die "must run as root"
need_pkgs fdisk e2fsprogs dosfstools mtools xfsprogs lvm2 util-linux zstd jq btrfs-progs

# The Debian tree the recipe unpacks (populate), chosen by it with use_tree [FLAVOR].
tree=""
use_tree() {
  if [ -n "${1:-}" ]; then
    tree=$("$repo/scripts/images/debootstrap-tree.sh" "$1" | tail -n 1)
  else
    tree=$(tree_tarball)
  fi
}

mkdir -p "$(dirname "$OUT")"
tmp="$OUT.tmp.$$"
OUT2="${OUT%.raw}-disk2.raw"
tmp2="$OUT2.tmp.$$"
work=$(mktemp -d "${TMPDIR:-/tmp}/mkimage-$kind.XXXXXX")
cleanup() {
  img_umount_all
  rm -rf --one-file-system "$work"
  rm -f "$tmp" "$tmp2"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
mnt="$work/root"
# Devices, set by img_loop in the case below.
boot_dev="" root_dev="" esp_dev="" data_dev="" pv_dev="" pv2_dev="" swap_dev="" var_dev="" srv_dev=""
rm -f "$tmp"
truncate -s "$SIZE" "$tmp"

# populate: unpack the tree at $mnt (with any sub-mounts already in place) and give the
# guest its identity; the caller writes /etc/fstab.
populate() {
  extract_tree "$tree" "$mnt"
  printf 'chromogenic-%s\n' "$kind" >"$mnt/etc/hostname"
  : >"$mnt/etc/machine-id"
}

# boot_marker: the sample's boot marker unit (scripts/images/sample-image.sh), for a kind that
# internal/bootable makes bootable and boots: CHROMOGENIC-BOOT-OK on ttyS0 at multi-user.target.
boot_marker() {
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
  mkdir -p "$mnt/etc/systemd/system/multi-user.target.wants" "$mnt/etc/systemd/system.conf.d"
  printf '[Manager]\nDefaultDeviceTimeoutSec=15min\n' >"$mnt/etc/systemd/system.conf.d/chromogenic-tcg.conf"
  ln -sf /etc/systemd/system/chromogenic-marker.service \
    "$mnt/etc/systemd/system/multi-user.target.wants/chromogenic-marker.service"
}

# boot_report: a unit run just before the boot marker that prints, on ttyS0, one line
# "CHROMOGENIC-ROOT <root's path in its filesystem> <the root's /etc/chromogenic-subvol>
# <the kernel command line>": which btrfs subvolume is mounted at / and which kernel file the
# boot loader started (GRUB's BOOT_IMAGE=).
boot_report() {
  cat >"$mnt/etc/chromogenic-boot-report" <<'SCRIPT'
#!/bin/sh
fsroot=$(awk '$5 == "/" { print $4; exit }' /proc/self/mountinfo)
echo "CHROMOGENIC-ROOT fsroot=$fsroot marker=$(head -n1 /etc/chromogenic-subvol 2>/dev/null) cmdline=$(cat /proc/cmdline)" >/dev/ttyS0
SCRIPT
  chmod 755 "$mnt/etc/chromogenic-boot-report"
  cat >"$mnt/etc/systemd/system/chromogenic-report.service" <<'UNIT'
[Unit]
Description=Print which root and kernel booted on the serial console
Before=chromogenic-marker.service
After=local-fs.target

[Service]
Type=oneshot
ExecStart=/etc/chromogenic-boot-report

[Install]
WantedBy=multi-user.target
UNIT
  ln -sf /etc/systemd/system/chromogenic-report.service \
    "$mnt/etc/systemd/system/multi-user.target.wants/chromogenic-report.service"
}

fstab_header() {
  printf '# /etc/fstab: static file system information.\n'
  printf '# <file system> <mount point>   <type>  <options>       <dump>  <pass>\n'
}

# boot_and_part TYPE VAR: an MBR of a 256 MiB /boot partition (83, active) and the rest of
# type TYPE; sets o1 s1 o2 s2 (byte offset and size of each), boot_dev to a loop over the first
# and the variable named VAR to a loop over the second.
boot_and_part() {
  printf 'label: dos\nstart=2048, size=256MiB, type=83, bootable\ntype=%s\n' "$1" | sfdisk -q "$tmp"
  read -r o1 s1 < <(part_geom "$tmp" 1)
  read -r o2 s2 < <(part_geom "$tmp" 2)
  img_loop boot_dev "$tmp" "$o1" "$s1"
  img_loop "$2" "$tmp" "$o2" "$s2"
}

# LVM on the PV loop $pv_dev, without activation: this host has no device-mapper (and no
# udev), so LVM is never asked to talk to it (--driverloaded n; without it lvcreate refuses,
# as the dm "striped" target is missing), looks only at our PV (--devices: never a host VG of
# the same name), and touches no host state (backups, archives, hints, the devices file).
# lvm_init [PV...]: LVM sees the PVs given (default: $pv_dev) and no other device.
lvm_opts=()
lvm_init() {
  export LVM_SUPPRESS_FD_WARNINGS=1
  local d
  lvm_opts=(--driverloaded n)
  for d in "${@:-$pv_dev}"; do lvm_opts+=(--devices "$d"); done
  lvm_opts+=(--config
    'devices { obtain_device_list_from_udev=0 hints="none" use_devicesfile=0 } activation { udev_sync=0 udev_rules=0 } backup { backup=0 archive=0 }')
}
# lvm_run CMD ARGS... : run an LVM command quietly (it warns about the missing activation),
# showing its output only when it fails.
lvm_run() {
  "$1" "${lvm_opts[@]}" "${@:2}" >"$work/lvm.log" 2>&1 || { cat "$work/lvm.log" >&2; die "$1 failed"; }
}
# lv_dev VAR VG LV PV_OFFSET [DISK PV]: offset loop over the (single, linear) segment of VG/LV,
# as LVM reads it back, on the PV (default: $pv_dev) at byte PV_OFFSET of the disk file DISK
# (default: $tmp), into VAR: exactly where dm-linear would map it.
lv_dev() {
  local segs first last pe_start extent disk=${5:-$tmp} pv=${6:-$pv_dev}
  pe_start=$(pvs "${lvm_opts[@]}" --noheadings --units b --nosuffix -o pe_start "$pv" 2>/dev/null | tr -d ' ')
  extent=$(vgs "${lvm_opts[@]}" --noheadings --units b --nosuffix -o vg_extent_size "$2" 2>/dev/null | tr -d ' ')
  segs=$(lvs "${lvm_opts[@]}" --noheadings -o seg_pe_ranges "$2/$3" 2>/dev/null | tr -d ' ')
  case "$segs" in *,* | "" | *$'\n'*) die "LV $2/$3 is not one linear segment: $segs" ;; esac
  [ "${segs%%:*}" = "$pv" ] || die "LV $2/$3 is on ${segs%%:*}, not on $pv"
  first=${segs##*:}
  last=${first#*-}
  first=${first%-*}
  img_loop "$1" "$disk" $(($4 + pe_start + first * extent)) $(((last - first + 1) * extent))
}

# The kind's recipe: it lays out $tmp (and $tmp2 for a second disk), mounts the guest's
# filesystems at $mnt, populates them and writes /etc/fstab.
# shellcheck source=/dev/null
. "$here/kinds/$kind.sh"

for m in "${_IMG_MOUNTS[@]}"; do fstrim "$m" 2>/dev/null || true; done
img_umount_all
if [ -e "$tmp2" ]; then mv "$tmp2" "$OUT2"; fi
mv "$tmp" "$OUT"
printf '%s\n' "$OUT"
