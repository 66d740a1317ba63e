#!/usr/bin/env bash
# clean-bench.sh - time `chromogenic clean --image` against `virt-sysprep -a` on the sample
# image, both with their default operations, on two copies of the same image in the same run,
# and print a table (wall time, ratio). The issue's target: chromogenic >= 20x faster.
#
# The sample image is scripts/images/sample-image.sh's (bootable Debian 12, 2 GiB raw).
# Both tools start from a fresh sparse copy and a cold page cache (sync, drop caches); each
# time includes everything the tool does to the image (attach or appliance launch, mount,
# inspection, cleaning, trim or sync, release). The copies are not timed.
#
# virt-sysprep runs with LIBGUESTFS_BACKEND=direct and LIBGUESTFS_BACKEND_SETTINGS=force_tcg
# (KVM does not work on this project's hosts). Its first run on a host builds the supermin
# appliance (cached in /var/tmp/.guestfs-0); an untimed warm-up run does that first, so the
# table times the steady state. supermin needs a kernel and its modules: when the host has none
# in /boot (containers), the sample image's own kernel is extracted once into the cache.
#
# Needs root. Environment:
#   CHROMOGENIC_CACHE  cache directory (default /var/cache/chromogenic)
#   BENCH_DIR          scratch directory (default /var/tmp/chromogenic-clean-bench)
#   BENCH_REPEAT       timed runs per tool (default 1); the fastest is reported
#   BENCH_TABLE        also write the markdown table to this file
#   BENCH_STRICT=1     exit 1 when the ratio is below 20
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cache=${CHROMOGENIC_CACHE:-/var/cache/chromogenic}
work=${BENCH_DIR:-/var/tmp/chromogenic-clean-bench}
repeat=${BENCH_REPEAT:-1}

[ "$(id -u)" -eq 0 ] || { echo "clean-bench.sh: run as root (loop devices, mounts, drop_caches)" >&2; exit 2; }
if ! command -v virt-sysprep >/dev/null; then
  echo ">> apt-get install libguestfs-tools" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libguestfs-tools >/dev/null
fi
mkdir -p "$work"
export TMPDIR=${TMPDIR:-/var/tmp}

echo ">> building chromogenic" >&2
(cd "$root" && go build -o "$work/chromogenic" ./cmd/chromogenic)
sample=$("$root/scripts/images/sample-image.sh")
echo ">> sample image $sample" >&2

# --- a kernel for supermin --------------------------------------------------------------
export LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg
if ! ls /boot/vmlinuz-* >/dev/null 2>&1 && [ -z "${SUPERMIN_KERNEL:-}" ]; then
  kdir=$cache/supermin-kernel-$(sha256sum <<<"$sample" | cut -c1-12)
  if [ ! -s "$kdir/ok" ]; then
    echo ">> extracting the sample's kernel for supermin into $kdir" >&2
    rm -rf "$kdir"
    mkdir -p "$kdir"
    mnt=$(mktemp -d)
    off=$(sfdisk -J "$sample" | python3 -c 'import json,sys; print(json.load(sys.stdin)["partitiontable"]["partitions"][0]["start"]*512)')
    mount -o ro,loop,offset="$off" "$sample" "$mnt"
    trap 'umount "$mnt" 2>/dev/null || true; rmdir "$mnt" 2>/dev/null || true' EXIT
    k=$(find "$mnt/boot" -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' | sort -V | tail -n 1)
    cp "$mnt/boot/$k" "$kdir/"
    mkdir -p "$kdir/modules"
    cp -a "$mnt/lib/modules/${k#vmlinuz-}" "$kdir/modules/"
    umount "$mnt"
    rmdir "$mnt"
    trap - EXIT
    echo "${k#vmlinuz-}" >"$kdir/ok"
  fi
  kver=$(cat "$kdir/ok")
  export SUPERMIN_KERNEL=$kdir/vmlinuz-$kver SUPERMIN_MODULES=$kdir/modules/$kver SUPERMIN_KERNEL_VERSION=$kver
fi

cold() {
  sync
  echo 3 >/proc/sys/vm/drop_caches
}

fresh() { # fresh DEST: a sparse copy of the sample
  rm -f "$1"
  cp --sparse=always "$sample" "$1"
}

elapsed() { # elapsed START: seconds since START (date +%s.%N)
  awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }'
}

best() { # best A B: the smaller
  awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'
}

run_chromogenic() {
  fresh "$work/chromogenic.raw"
  cold
  local start
  start=$(date +%s.%N)
  "$work/chromogenic" clean --image "$work/chromogenic.raw" --json >"$work/chromogenic-report.json" 2>"$work/chromogenic.log" || return 1
  sync
  elapsed "$start"
}

run_sysprep() {
  fresh "$work/sysprep.raw"
  cold
  local start
  start=$(date +%s.%N)
  virt-sysprep --format raw -a "$work/sysprep.raw" >"$work/sysprep.log" 2>&1 || return 1
  sync
  elapsed "$start"
}

echo ">> virt-sysprep warm-up (builds the supermin appliance once; not timed)" >&2
run_sysprep >/dev/null || { echo "clean-bench.sh: virt-sysprep failed:" >&2; tail -n 30 "$work/sysprep.log" >&2; exit 1; }

failed() {
  echo "clean-bench.sh: $1 failed:" >&2
  tail -n 30 "$2" >&2
  exit 1
}

tc="" ts=""
for _ in $(seq "$repeat"); do
  echo ">> chromogenic clean --image" >&2
  t=$(run_chromogenic) || failed "chromogenic clean" "$work/chromogenic.log"
  tc=$(best "$tc" "$t")
  echo ">> virt-sysprep -a" >&2
  t=$(run_sysprep) || failed virt-sysprep "$work/sysprep.log"
  ts=$(best "$ts" "$t")
done

changes=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["clean"]["totals"]; print(t["removed"]+t["truncated"]+t["edited"]+t["created"])' "$work/chromogenic-report.json")
ops_c=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["clean"]; print(sum(1 for o in r["ops"] if o["status"]=="done"))' "$work/chromogenic-report.json")
ops_s=$(grep -c 'Performing "' "$work/sysprep.log" || true)
ratio=$(awk -v a="$ts" -v b="$tc" 'BEGIN { printf "%.1f", a / b }')

table=$(
  cat <<EOF
| tool (default operations, sample image, cold cache) | wall s | ops run | ratio |
|---|---:|---:|---:|
| \`chromogenic clean --image\` | $tc | $ops_c ($changes changes) | 1.0 |
| \`virt-sysprep -a\` (direct backend, TCG) | $ts | $ops_s | $ratio |
EOF
)
printf '%s\n' "$table"
[ -z "${BENCH_TABLE:-}" ] || printf '%s\n' "$table" >"$BENCH_TABLE"
if awk -v r="$ratio" 'BEGIN { exit !(r >= 20) }'; then
  echo "target (chromogenic >= 20x faster): met (${ratio}x)"
else
  echo "target (chromogenic >= 20x faster): NOT met (${ratio}x)"
  [ "${BENCH_STRICT:-}" != 1 ] || exit 1
fi
rm -f "$work/chromogenic.raw" "$work/sysprep.raw"
