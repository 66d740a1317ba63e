# shellcheck shell=bash
# no-linux: MBR; p1 vfat data partition holding a few files, no Linux root at all
# (Sourced by test/images/mkimage.sh, whose helpers and variables it uses.)
printf 'label: dos\nstart=2048, type=c\n' | sfdisk -q "$tmp"
read -r o1 s1 < <(part_geom "$tmp" 1)
img_loop data_dev "$tmp" "$o1" "$s1"
mkfs.vfat -F 32 -n DATA "$data_dev" >/dev/null
mkdir -p "$work/data/photos" "$work/data/docs"
printf 'This disk holds data only: there is no operating system on it.\r\n' >"$work/data/README.TXT"
printf 'quarterly report\r\n' >"$work/data/docs/report.txt"
head -c 65536 /dev/urandom >"$work/data/photos/img_0001.jpg"
mcopy -s -i "$tmp@@$o1" "$work/data/README.TXT" "$work/data/docs" "$work/data/photos" ::/
