# shellcheck shell=bash
# lvm-var: MBR; p1 ext4 /boot (256 MiB, UUID), p2 (type 8e) LVM2 PV of VG chromo-vg
# (a dash: device-mapper names double it) with 4 MiB extents and LVs written by
# vgcfgrestore from a metadata file: root (ext4 /, fstab
# /dev/mapper/chromo--vg-root), var (ext4 /var, fstab /dev/chromo-vg/var), both
# linear, and home, two segments apart on the PV (no file system; fstab /home
# nofail): the layout an offset loop cannot map. Made like lvm: no activation.
# (Sourced by test/images/mkimage.sh, whose helpers and variables it uses.)
use_tree
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
