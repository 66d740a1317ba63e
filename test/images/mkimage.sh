#!/usr/bin/env bash
# mkimage.sh KIND OUT | --list - make a raw, sparse test disk for root-filesystem discovery.
#
# Every kind is made from the cached Debian 12 debootstrap tree
# (scripts/images/debootstrap-tree.sh, built once) and carries a realistic /etc/fstab.
# None is bootable. Kinds (see --list):
#   mbr-boot   MBR; p1 ext4 /boot (256 MiB, bootable flag), p2 ext4 /; fstab by UUID
#   gpt-efi    GPT; p1 ESP vfat 100 MiB at /boot/efi (UUID), p2 ext4 / (PARTUUID)
#   bare-ext4  no partition table: the whole file is ext4 (Eucalyptus style); fstab LABEL=root
#   xfs-root   MBR; p1 xfs /; fstab by UUID
#   no-linux   MBR; p1 vfat data partition holding a few files, no Linux root at all
#   lvm        MBR; p1 (type 8e) LVM2 PV of VG guestvg with LVs root (ext4 /) and swap_1;
#              fstab by /dev/mapper/guestvg-*. This host has no device-mapper, so the LVs are
#              never activated: the file systems are written through offset loops placed at
#              each LV's extents, which is exactly where dm-linear would map them.
#   lvm-var    MBR; p1 ext4 /boot (256 MiB, UUID), p2 (type 8e) LVM2 PV of VG chromo-vg
#              (a dash: device-mapper names double it) with 4 MiB extents and LVs written by
#              vgcfgrestore from a metadata file: root (ext4 /, fstab
#              /dev/mapper/chromo--vg-root), var (ext4 /var, fstab /dev/chromo-vg/var), both
#              linear, and home, two segments apart on the PV (no file system; fstab /home
#              nofail): the layout an offset loop cannot map. Made like lvm: no activation.
#   lvm-grub   MBR; p1 ext4 /boot (256 MiB, bootable flag, UUID), p2 (type 8e) LVM2 PV of VG
#              grub-vg with one LV, root (ext4 /, fstab /dev/mapper/grub--vg-root); made like
#              lvm (no activation) from the grub-lvm flavor of the Debian tree, which has lvm2
#              and GRUB's tools and modules (grub-pc-bin, grub2-common) as an installed cloud
#              guest has, and the sample's boot marker unit: internal/bootable makes it
#              bootable with lvm = keep, boots it and converts it with virt-v2v.
#   two-disk   two disks, as one instance's: OUT is disk 1, MBR, p1 ext4 / (fstab UUID=);
#              OUT-disk2 (OUT's name with -disk2 before .raw, 512 MiB) is disk 2, MBR, p1 ext4
#              /srv (fstab UUID=, LABEL srv) and p2 ext4 /var/lib/data (fstab /dev/vdb2: a
#              kernel name, resolved by disk order).
#   btrfs-fedora MBR; p1 ext4 /boot (256 MiB, UUID), p2 btrfs (Fedora 33+ shape): subvolumes
#              root (the tree; /) and home (/home), the default subvolume the top level (5),
#              which holds no root; fstab by UUID with subvol=root,compress=zstd:1 and
#              subvol=home. Markers: /etc/chromogenic-subvol in root says "root",
#              /home/chromogenic-subvol in home says "home", /chromogenic-top on the top level;
#              the sample's boot marker unit (made bootable by internal/bootable and booted).
#   btrfs-suse MBR; p1 btrfs (openSUSE shape): @, @/var, @/home, @/opt, @/.snapshots and
#              snapper's snapshots @/.snapshots/{1,2,3}/snapshot; the default subvolume is
#              snapshot 1 (the tree, /etc/chromogenic-subvol "snapshot 1"); 2 is an older copy
#              ("snapshot 2"), 3 a decoy with another /etc/os-release ("snapshot 3"); /var,
#              /home and /opt live in their own subvolumes; fstab by UUID: / without subvol=
#              (the default), /var, /home, /opt, /.snapshots with subvol=/@/...; the boot
#              marker unit and a report unit before it printing the mounted root's subvolume
#              path and /proc/cmdline (CHROMOGENIC-ROOT ..., see boot_report)
# The disk is 2 GiB virtual (MKIMAGE_SIZE), written to OUT.tmp.PID and renamed to OUT (a
# second disk first, to its own name: OUT present means every disk is complete).
# Loops and mounts are released on every exit path. Prints OUT on its last stdout line.
set -euo pipefail
export MTOOLS_SKIP_CHECK=1

here=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
repo=$(realpath "$here/../..")
# shellcheck source=scripts/images/lib.sh
. "$repo/scripts/images/lib.sh"

KINDS=(mbr-boot gpt-efi bare-ext4 xfs-root no-linux lvm lvm-var lvm-grub two-disk btrfs-fedora btrfs-suse)
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

tree=""
case "$kind" in
no-linux) ;;
lvm-grub) tree=$("$repo/scripts/images/debootstrap-tree.sh" grub-lvm | tail -n 1) ;;
*) tree=$(tree_tarball) ;;
esac

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
boot_dev="" root_dev="" esp_dev="" data_dev="" pv_dev="" swap_dev="" var_dev="" srv_dev=""
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
lvm_opts=()
lvm_init() {
  export LVM_SUPPRESS_FD_WARNINGS=1
  lvm_opts=(--driverloaded n --devices "$pv_dev" --config
    'devices { obtain_device_list_from_udev=0 hints="none" use_devicesfile=0 } activation { udev_sync=0 udev_rules=0 } backup { backup=0 archive=0 }')
}
# lvm_run CMD ARGS... : run an LVM command quietly (it warns about the missing activation),
# showing its output only when it fails.
lvm_run() {
  "$1" "${lvm_opts[@]}" "${@:2}" >"$work/lvm.log" 2>&1 || { cat "$work/lvm.log" >&2; die "$1 failed"; }
}
# lv_dev VAR VG LV PV_OFFSET : offset loop over the (single, linear) segment of VG/LV, as LVM
# reads it back, on the PV at byte PV_OFFSET of the disk, into VAR: exactly where dm-linear
# would map it.
lv_dev() {
  local segs first last pe_start extent
  pe_start=$(pvs "${lvm_opts[@]}" --noheadings --units b --nosuffix -o pe_start "$pv_dev" 2>/dev/null | tr -d ' ')
  extent=$(vgs "${lvm_opts[@]}" --noheadings --units b --nosuffix -o vg_extent_size "$2" 2>/dev/null | tr -d ' ')
  segs=$(lvs "${lvm_opts[@]}" --noheadings -o seg_pe_ranges "$2/$3" 2>/dev/null | tr -d ' ')
  case "$segs" in *,* | "" | *$'\n'*) die "LV $2/$3 is not one linear segment: $segs" ;; esac
  first=${segs##*:}
  last=${first#*-}
  first=${first%-*}
  img_loop "$1" "$tmp" $(($4 + pe_start + first * extent)) $(((last - first + 1) * extent))
}

case "$kind" in
mbr-boot)
  boot_and_part 83 root_dev
  mkfs.ext4 -q -L boot "$boot_dev"
  mkfs.ext4 -q -L root "$root_dev"
  img_mount "$root_dev" "$mnt"
  img_mount "$boot_dev" "$mnt/boot"
  populate
  {
    fstab_header
    printf '# / was on /dev/sda2 during installation\n'
    printf 'UUID=%s /               ext4    errors=remount-ro 0       1\n' "$(blkid -s UUID -o value "$root_dev")"
    printf '# /boot was on /dev/sda1 during installation\n'
    printf 'UUID=%s /boot           ext4    defaults        0       2\n' "$(blkid -s UUID -o value "$boot_dev")"
  } >"$mnt/etc/fstab"
  ;;
gpt-efi)
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
  ;;
bare-ext4)
  img_loop root_dev "$tmp"
  mkfs.ext4 -q -L root "$root_dev"
  img_mount "$root_dev" "$mnt"
  populate
  {
    fstab_header
    printf 'LABEL=root      /               ext4    defaults        0       1\n'
  } >"$mnt/etc/fstab"
  ;;
xfs-root)
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
  ;;
no-linux)
  printf 'label: dos\nstart=2048, type=c\n' | sfdisk -q "$tmp"
  read -r o1 s1 < <(part_geom "$tmp" 1)
  img_loop data_dev "$tmp" "$o1" "$s1"
  mkfs.vfat -F 32 -n DATA "$data_dev" >/dev/null
  mkdir -p "$work/data/photos" "$work/data/docs"
  printf 'This disk holds data only: there is no operating system on it.\r\n' >"$work/data/README.TXT"
  printf 'quarterly report\r\n' >"$work/data/docs/report.txt"
  head -c 65536 /dev/urandom >"$work/data/photos/img_0001.jpg"
  mcopy -s -i "$tmp@@$o1" "$work/data/README.TXT" "$work/data/docs" "$work/data/photos" ::/
  ;;
lvm)
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
  ;;
lvm-var)
  boot_and_part 8e pv_dev
  lvm_init
  vg=chromo-vg
  lvm_run pvcreate -y "$pv_dev"
  lvm_run vgcreate -s 4m "$vg" "$pv_dev"
  pe_count=$(pvs "${lvm_opts[@]}" --noheadings -o pv_pe_count "$pv_dev" 2>/dev/null | tr -d ' ')
  [ "$pe_count" -ge 430 ] || die "PV of $pe_count extents: lvm-var needs 430 (MKIMAGE_SIZE too small)"
  lvm_run vgcfgbackup -f "$work/vg.meta" "$vg"
  # lv NAME ID SEGMENTS, then seg N START COUNT PE for each: an LV, and its segment N of
  # COUNT extents from its extent START, on pv0 from extent PE (vgcfgbackup's format).
  seg() { printf '\t\t\tsegment%s {\n\t\t\t\tstart_extent = %s\n\t\t\t\textent_count = %s\n\t\t\t\ttype = "striped"\n\t\t\t\tstripe_count = 1\n\t\t\t\tstripes = [\n\t\t\t\t\t"pv0", %s\n\t\t\t\t]\n\t\t\t}\n' "$1" "$2" "$3" "$4"; }
  lv() { printf '\t\t%s {\n\t\t\tid = "%s"\n\t\t\tstatus = ["READ", "WRITE", "VISIBLE"]\n\t\t\tflags = []\n\t\t\tsegment_count = %s\n' "$1" "$2" "$3"; }
  {
    printf '\tlogical_volumes {\n'
    lv root 0LbdTd-8Ioa-nq0A-4EgS-1vT3-gKxI-aRooT1 1; seg 1 0 300 0; printf '\t\t}\n'
    lv var 0LbdTd-8Ioa-nq0A-4EgS-1vT3-gKxI-aVar01 1; seg 1 0 100 300; printf '\t\t}\n'
    lv home 0LbdTd-8Ioa-nq0A-4EgS-1vT3-gKxI-aHome1 2; seg 1 0 5 410; seg 2 5 5 420; printf '\t\t}\n'
    printf '\t}\n'
  } >"$work/lvs.meta"
  # The LVs go at the end of the VG section: before its closing brace, the first line "}".
  awk -v lvs="$work/lvs.meta" '!done && $0 == "}" { while ((getline l < lvs) > 0) print l; done = 1 } { print }' \
    "$work/vg.meta" >"$work/vg-lvs.meta"
  lvm_run vgcfgrestore -f "$work/vg-lvs.meta" "$vg"
  lv_dev root_dev "$vg" root "$o2"
  lv_dev var_dev "$vg" var "$o2"
  mkfs.ext4 -q -L boot "$boot_dev"
  mkfs.ext4 -q -L root "$root_dev"
  mkfs.ext4 -q -L var "$var_dev"
  img_mount "$root_dev" "$mnt"
  img_mount "$boot_dev" "$mnt/boot"
  img_mount "$var_dev" "$mnt/var"
  populate
  {
    fstab_header
    printf '/dev/mapper/chromo--vg-root /               ext4    errors=remount-ro 0       1\n'
    printf '# /boot was on /dev/sda1 during installation\n'
    printf 'UUID=%s /boot           ext4    defaults        0       2\n' "$(blkid -s UUID -o value "$boot_dev")"
    printf '/dev/chromo-vg/var /var            ext4    defaults        0       2\n'
    printf '/dev/mapper/chromo--vg-home /home           ext4    defaults,nofail 0       2\n'
  } >"$mnt/etc/fstab"
  ;;
lvm-grub)
  boot_and_part 8e pv_dev
  lvm_init
  lvm_run pvcreate -y "$pv_dev"
  lvm_run vgcreate grub-vg "$pv_dev"
  lvm_run lvcreate --activate n --zero n --wipesignatures n -n root -l 100%FREE grub-vg
  lv_dev root_dev grub-vg root "$o2"
  mkfs.ext4 -q -L boot "$boot_dev"
  mkfs.ext4 -q -L root "$root_dev"
  img_mount "$root_dev" "$mnt"
  img_mount "$boot_dev" "$mnt/boot"
  populate
  boot_marker
  {
    fstab_header
    printf '/dev/mapper/grub--vg-root /               ext4    errors=remount-ro 0       1\n'
    printf '# /boot was on /dev/sda1 during installation\n'
    printf 'UUID=%s /boot           ext4    defaults        0       2\n' "$(blkid -s UUID -o value "$boot_dev")"
  } >"$mnt/etc/fstab"
  ;;
two-disk)
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
  ;;
btrfs-fedora)
  boot_and_part 83 root_dev
  mkfs.ext4 -q -L boot "$boot_dev"
  mkfs.btrfs -q -L fedora "$root_dev" >/dev/null
  img_mount "$root_dev" "$work/top" -o subvolid=5
  btrfs -q subvolume create "$work/top/root" >/dev/null
  btrfs -q subvolume create "$work/top/home" >/dev/null
  printf 'top level\n' >"$work/top/chromogenic-top"
  img_mount "$root_dev" "$mnt" -o subvol=root,compress=zstd:1
  img_mount "$boot_dev" "$mnt/boot"
  img_mount "$root_dev" "$mnt/home" -o subvol=home,compress=zstd:1
  populate
  printf 'root\n' >"$mnt/etc/chromogenic-subvol"
  printf 'home\n' >"$mnt/home/chromogenic-subvol"
  boot_marker
  uuid=$(blkid -s UUID -o value "$root_dev")
  {
    fstab_header
    printf 'UUID=%s /                       btrfs   subvol=root,compress=zstd:1 0 0\n' "$uuid"
    printf 'UUID=%s /boot                   ext4    defaults        1 2\n' "$(blkid -s UUID -o value "$boot_dev")"
    printf 'UUID=%s /home                   btrfs   subvol=home,compress=zstd:1 0 0\n' "$uuid"
  } >"$mnt/etc/fstab"
  ;;
btrfs-suse)
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
  ;;
esac

for m in "${_IMG_MOUNTS[@]}"; do fstrim "$m" 2>/dev/null || true; done
img_umount_all
if [ -e "$tmp2" ]; then mv "$tmp2" "$OUT2"; fi
mv "$tmp" "$OUT"
printf '%s\n' "$OUT"
