#!/usr/bin/env bash
# boot.sh IMAGE FORMAT [TIMEOUT] - boot a disk image under qemu TCG and wait for the marker.
#
# Boots IMAGE (qemu -drive format FORMAT: raw, qcow2, vmdk, ...) as a virtio disk with
# -snapshot, so the image is never modified, and the serial console in a log file. Waits up to
# TIMEOUT seconds (default 300) for CHROMOGENIC-BOOT-OK on the serial console, which the sample
# image (scripts/images/sample-image.sh) prints once multi-user.target is reached.
# On success prints the seconds taken (from qemu launch) on stdout and exits 0; on timeout or if
# qemu exits first, prints the log tail on stderr and exits 1. qemu is killed on every exit.
# KVM does not work on this project's CI hosts, so this always uses -accel tcg.
#   BOOT_LOG: keep the serial log at this path (default: a temporary file, removed)
#   BOOT_MEM: guest memory in MiB (default 1024)
set -euo pipefail

MARKER=CHROMOGENIC-BOOT-OK
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $(basename "$0") IMAGE FORMAT [TIMEOUT]" >&2
  exit 2
fi
image=$1
format=$2
timeout=${3:-300}
[ -r "$image" ] || { echo "error: cannot read $image" >&2; exit 2; }
if ! command -v qemu-system-x86_64 >/dev/null; then
  [ "$(id -u)" -eq 0 ] || { echo "error: qemu-system-x86_64 missing (apt-get install qemu-system-x86)" >&2; exit 2; }
  # shellcheck source=scripts/images/lib.sh
  . "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/../../scripts/images/lib.sh"
  need_pkgs qemu-system-x86
fi

tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/boot.XXXXXX")
log=${BOOT_LOG:-$tmpdir/serial.log}
: >"$log"
qpid=""
cleanup() {
  if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
    kill "$qpid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qpid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$qpid" 2>/dev/null || true
  fi
  if [ -n "$qpid" ]; then wait "$qpid" 2>/dev/null || true; fi
  rm -rf "$tmpdir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

start=$(date +%s.%N)
qemu-system-x86_64 -accel tcg -m "${BOOT_MEM:-1024}" -display none -monitor none -nic none \
  -no-reboot -snapshot -drive "file=$image,format=$format,if=virtio" \
  -serial "file:$log" </dev/null >"$tmpdir/qemu.out" 2>&1 &
qpid=$!

fail() {
  printf 'boot.sh: %s\n--- last serial lines%s ---\n' "$1" "${BOOT_LOG:+ ($BOOT_LOG)}" >&2
  tail -n 40 "$log" >&2 || true
  if [ -s "$tmpdir/qemu.out" ]; then
    printf -- '--- qemu output ---\n' >&2
    tail -n 20 "$tmpdir/qemu.out" >&2
  fi
  exit 1
}

deadline=$((SECONDS + timeout))
while :; do
  if grep -q "$MARKER" "$log"; then
    awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", e - s }'
    exit 0
  fi
  kill -0 "$qpid" 2>/dev/null || fail "qemu exited before $MARKER"
  [ "$SECONDS" -lt "$deadline" ] || fail "no $MARKER within ${timeout}s"
  sleep 0.2
done
