#!/usr/bin/env bash
# debootstrap-tree.sh [FLAVOR] - build (once) and cache a Debian 12 debootstrap tree as a tarball.
#
# The tree is the common base of the sample image (sample-image.sh) and of the test disks
# (test/images/mkimage.sh). It is cached at
#   $CHROMOGENIC_CACHE/debootstrap-<key>.tar.zst   (default cache: /var/cache/chromogenic)
# where <key> is the sha256 of the recipe (suite, variant, package list, TREE_VERSION), so it is
# rebuilt only when the recipe changes. The build runs in a temporary directory and the
# tarball is written to a temporary name and renamed, so an interrupted build never leaves a
# bad cache entry; a lock serialises concurrent callers. A cold build takes about 2 minutes.
#
# FLAVOR adds packages to the tree, cached as $CHROMOGENIC_CACHE/debootstrap-FLAVOR-<key>.tar.zst:
#   grub-lvm   + lvm2 (its initramfs-tools hook activates LVM at boot), grub-pc-bin and
#              grub2-common (grub-mkconfig, update-grub, grub-probe and the i386-pc modules: what
#              virt-v2v runs to regenerate a GRUB guest's grub.cfg), and the /etc/default/grub
#              Debian's grub-pc package would write (grub-pc itself is left out: its postinst
#              asks for the disks to install GRUB on, which a tree has none of).
#
# Prints the tarball path on its last stdout line; progress goes to stderr.
#   DEBIAN_MIRROR (default http://deb.debian.org/debian), CHROMOGENIC_CACHE
set -euo pipefail

here=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
# shellcheck source=scripts/images/lib.sh
. "$here/lib.sh"

# Bump TREE_VERSION whenever the build steps below change in a way the key does not see.
TREE_VERSION=2
SUITE=bookworm
VARIANT=minbase
PACKAGES=(linux-image-amd64 systemd-sysv udev kmod ifupdown e2fsprogs)
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

flavor="${1:-}"
name=debootstrap # the cache file's prefix
case "$flavor" in
"") ;;
grub-lvm)
  PACKAGES+=(lvm2 grub-pc-bin grub2-common)
  name=debootstrap-$flavor
  ;;
*) die "unknown tree flavor '$flavor' (want grub-lvm or none)" ;;
esac

[ "$(id -u)" -eq 0 ] || die "must run as root"
# The default tree's key is what it was before flavors existed; a flavor's adds its name.
key=$(printf 'suite=%s\nvariant=%s\npackages=%s\nversion=%s\n%s' \
  "$SUITE" "$VARIANT" "${PACKAGES[*]}" "$TREE_VERSION" "${flavor:+flavor=$flavor}" | sha256sum | cut -c1-16)
out="$CHROMOGENIC_CACHE/$name-$key.tar.zst"

if [ -s "$out" ]; then
  touch "$out" 2>/dev/null || true # marks it in use for the pruning below
  printf '%s\n' "$out"
  exit 0
fi

need_pkgs debootstrap zstd tar debian-archive-keyring
mkdir -p "$CHROMOGENIC_CACHE"
exec 9>"$CHROMOGENIC_CACHE/.$name-$key.lock"
flock 9
if [ -s "$out" ]; then # built by another caller while we waited
  printf '%s\n' "$out"
  exit 0
fi

work=$(mktemp -d "$CHROMOGENIC_CACHE/.$name-$key.XXXXXX")
cleanup() {
  umount_under "$work/root"
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

log "debootstrap $SUITE ($VARIANT + ${PACKAGES[*]}) into $work/root (about 2 min)"
start=$SECONDS
if ! debootstrap --variant="$VARIANT" --include="$(IFS=,; echo "${PACKAGES[*]}")" \
  "$SUITE" "$work/root" "$MIRROR" >"$work/debootstrap.log" 2>&1; then
  tail -n 30 "$work/debootstrap.log" >&2
  die "debootstrap failed"
fi
umount_under "$work/root"

# Neutral tree: per-image settings (hostname, fstab, machine-id, passwords) are left to the
# image scripts, and nothing of the build host (debootstrap copies its resolv.conf) is kept.
# Drop caches that only make the tree bigger.
chroot "$work/root" apt-get clean
rm -rf "$work/root"/var/lib/apt/lists/* "$work/root"/var/log/bootstrap.log
: >"$work/root/etc/machine-id"
rm -f "$work/root/var/lib/dbus/machine-id"
printf 'localhost\n' >"$work/root/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$work/root/etc/hosts"
: >"$work/root/etc/resolv.conf"
if [ "$flavor" = grub-lvm ]; then
  # What grub-pc's postinst writes (from /usr/share/grub/default/grub), as on an installed Debian.
  cp "$work/root/usr/share/grub/default/grub" "$work/root/etc/default/grub"
fi
printf 'deb %s %s main\n' "$MIRROR" "$SUITE" >"$work/root/etc/apt/sources.list"

log "packing tree"
tar --numeric-owner --xattrs --xattrs-include='*' -C "$work/root" -cf - . |
  zstd -q -T0 -6 -o "$work/tree.tar.zst"
mv "$work/tree.tar.zst" "$out"
# Trees of older recipes are not used again; those untouched for 2 hours are dropped (younger
# ones may still be in use by a run that started before the recipe changed).
# Only trees of this flavor: debootstrap-<16 hex>.tar.zst for the default one.
pat=$name-'*'
[ -n "$flavor" ] || pat='debootstrap-????????????????'
find "$CHROMOGENIC_CACHE" -maxdepth 1 -type f \( -name "$pat.tar.zst" -o -name ".$pat.lock" \) \
  ! -name "$name-$key.tar.zst" ! -name ".$name-$key.lock" -mmin +120 -delete
log "tree cached at $out ($(du -h "$out" | cut -f1), $((SECONDS - start)) s)"
printf '%s\n' "$out"
