#!/usr/bin/env bash
# lib.sh - helpers shared by the image scripts (scripts/images/*.sh, test/images/mkimage.sh).
# Source it; it defines functions and CHROMOGENIC_CACHE and changes no shell options.
#
# This host has no udev: `losetup -P` creates no partition nodes, so partitions are reached
# through offset loops (losetup -o OFFSET --sizelimit SIZE). Every loop and mount made with
# img_loop/img_mount is recorded and released by img_umount_all, which callers run from a trap.

CHROMOGENIC_CACHE="${CHROMOGENIC_CACHE:-/var/cache/chromogenic}"

log() { printf '>> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# need_pkgs PKG... : apt-get install the Debian packages that are not installed yet.
need_pkgs() {
  local p missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

_IMG_LOOPS=()
_IMG_MOUNTS=()

# img_loop VAR FILE [OFFSET_BYTES SIZE_BYTES] : attach a read-write loop over FILE (or the
# given byte range of it) and store its device in VAR. Not for use in $(...): the loop must be
# recorded in this shell for img_umount_all to release it.
img_loop() {
  local _var=$1 _file=$2 _dev
  if [ $# -ge 4 ]; then
    _dev=$(losetup --show -f -o "$3" --sizelimit "$4" "$_file")
  else
    _dev=$(losetup --show -f "$_file")
  fi
  _IMG_LOOPS+=("$_dev")
  printf -v "$_var" '%s' "$_dev"
}

# img_mount DEV DIR [mount options...] : mount and record for cleanup.
img_mount() {
  local dev=$1 dir=$2
  shift 2
  mkdir -p "$dir"
  mount "$@" "$dev" "$dir"
  _IMG_MOUNTS+=("$dir")
}

# img_umount_all : unmount recorded mounts (last first), then detach recorded loops.
img_umount_all() {
  local i
  for ((i = ${#_IMG_MOUNTS[@]} - 1; i >= 0; i--)); do
    if mountpoint -q "${_IMG_MOUNTS[i]}"; then
      umount "${_IMG_MOUNTS[i]}" || umount -l "${_IMG_MOUNTS[i]}" || true
    fi
  done
  _IMG_MOUNTS=()
  for ((i = ${#_IMG_LOOPS[@]} - 1; i >= 0; i--)); do
    losetup -d "${_IMG_LOOPS[i]}" 2>/dev/null || true
  done
  _IMG_LOOPS=()
}

# umount_under DIR : unmount everything mounted at or below DIR (deepest first).
umount_under() {
  local dir m
  dir=$(realpath -m "$1")
  findmnt -rn -o TARGET | awk -v d="$dir" '$0 == d || index($0, d "/") == 1' | sort -r |
    while IFS= read -r m; do umount "$m" 2>/dev/null || umount -l "$m" || true; done
}

# part_geom FILE N : print "START_BYTES SIZE_BYTES" of partition N of FILE (from sfdisk --json).
part_geom() {
  sfdisk --json "$1" | jq -r --argjson n "$2" \
    '.partitiontable as $t | ($t.sectorsize // 512) as $s | $t.partitions[$n - 1] | "\(.start * $s) \(.size * $s)"'
}

# tree_tarball : print the path of the cached debootstrap tree, building it if needed.
tree_tarball() {
  local here
  here=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
  "$here/debootstrap-tree.sh" | tail -n 1
}

# extract_tree TARBALL DIR : unpack the cached tree into DIR (owners, modes, xattrs kept).
extract_tree() {
  local tarball=$1 dir=$2
  local -a tar_opts=(--numeric-owner --xattrs --xattrs-include='*' -xpf - -C "$dir")
  case "$tarball" in
    *.zst) zstd -q -d -c -T0 "$tarball" | tar "${tar_opts[@]}" ;;
    *) tar "${tar_opts[@]}" <"$tarball" ;;
  esac
}
