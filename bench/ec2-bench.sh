#!/usr/bin/env bash
# ec2-bench.sh - how fast a disk image travels to and from AWS on each path, measured against
# the EC2/EBS/S3 wire emulator (test/ec2emu) with an AWS-like latency on every request:
# EBS direct upload and download through the plugin's own transfer code (internal/cloud/ec2)
# at a few concurrency levels, versus S3 multipart upload + ImportImage (and an S3 ranged
# download) on the same emulator; and the changed-block paths next to the full ones: a
# recapture from the previous working copy with ListChangedBlocks, and a delta push with
# ParentSnapshotId, after EC2_BENCH_CHANGED_PCT % of the disk's blocks changed at random
# places (bench/ec2/incremental.go); and the Eucalyptus bundle capture over a base (no
# changed-block API: the bundle read whole, only the differing blocks written into a copy of
# the base's working copy) next to the full download (bench/ec2/eucabase.go). Prints a markdown table (bench/ec2/main.go says what each
# row measures) and the changed-block ratios.
#
# Input: the benchmark image of bench/bench.sh (4 GiB raw ext4, ~1 GiB of data), cached in
# $CHROMOGENIC_CACHE/bench-v1/disk.raw; run bench/bench.sh once first to build it.
#
# Environment:
#   CHROMOGENIC_CACHE     cache directory (default /var/cache/chromogenic)
#   BENCH_DIR             scratch directory (default /var/tmp/chromogenic-bench)
#   EC2_BENCH_LATENCY     latency added to every request (default 40ms; AWS in-region
#                         requests take 20-60 ms)
#   EC2_BENCH_WORKERS     EBS direct concurrency levels (default "16 64": the plugin's
#                         default and coldsnap's)
#   EC2_BENCH_S3_CONC     S3 manager concurrency (default 8), EC2_BENCH_PART_MIB part size (16)
#   EC2_BENCH_CHANGED_PCT percent of the blocks changed for the incremental paths (default 1;
#                         0 skips them)
#   EC2_BENCH_ONLY        "incremental": measure the EBS changed-block paths only; "euca-base":
#                         only the Eucalyptus update over a base
#   EC2_BENCH_REFLINK     "auto" (default): where BENCH_DIR cannot reflink (ext4), measure the
#                         changed-block paths a second time in a working directory that can
#                         (XFS with reflink=1 on a sparse loop file under BENCH_DIR, made and
#                         removed by this script), so both figures are in one run; "no" skips it
#   BENCH_TABLE           also write the markdown table to this file
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cache=${CHROMOGENIC_CACHE:-/var/cache/chromogenic}/bench-v1
work=${BENCH_DIR:-/var/tmp/chromogenic-bench}
raw=$cache/disk.raw

[ -s "$raw" ] || { echo "ec2-bench.sh: $raw missing: run bench/bench.sh first (it builds and caches the image)" >&2; exit 2; }
mkdir -p "$work"

echo ">> building bench/ec2" >&2
(cd "$root" && go build -o "$work/ec2-bench" ./bench/ec2)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
workers=${EC2_BENCH_WORKERS:-"16 64"}
"$work/ec2-bench" -image "$raw" -work "$work" \
  -latency "${EC2_BENCH_LATENCY:-40ms}" -workers "${workers// /,}" \
  -s3-concurrency "${EC2_BENCH_S3_CONC:-8}" -part-mib "${EC2_BENCH_PART_MIB:-16}" \
  -changed-pct "${EC2_BENCH_CHANGED_PCT:-1}" -only "${EC2_BENCH_ONLY:-}" \
  ${BENCH_TABLE:+-table "$BENCH_TABLE"}

# A recapture starts from a copy of the previous working copy (never written in place): on a
# filesystem that reflinks the copy is free, elsewhere it is a sparse copy of the data. Measure
# the changed-block paths again where the copy is a reflink, when BENCH_DIR cannot.
reflinks() { # reflinks DIR: does a clone of a file in DIR work there?
  local a=$1/.reflink-probe.$$ ok=1
  head -c 65536 /dev/zero >"$a" && cp --reflink=always "$a" "$a.2" 2>/dev/null && ok=0
  rm -f "$a" "$a.2"; return $ok
}
if [ "${EC2_BENCH_REFLINK:-auto}" = auto ] && [ "${EC2_BENCH_CHANGED_PCT:-1}" != 0 ] && [ "${EC2_BENCH_ONLY:-}" != euca-base ] \
   && ! reflinks "$work" && command -v mkfs.xfs >/dev/null && [ "$(id -u)" = 0 ]; then
  xfs=$work/xfs.img mnt=$work/xfs
  cleanup_xfs() {
    if mountpoint -q "$mnt"; then umount "$mnt"; fi
    rm -f "$xfs"; rmdir "$mnt" 2>/dev/null || true
  }
  trap cleanup_xfs EXIT
  rm -f "$xfs"; truncate -s 12G "$xfs"
  mkfs.xfs -q -f -m reflink=1 "$xfs"
  mkdir -p "$mnt"
  mount -o loop "$xfs" "$mnt"   # the loop device goes with the umount (autoclear)
  echo
  echo "### the changed-block paths again, working directory on XFS with reflink (loop file $xfs)"
  "$work/ec2-bench" -image "$raw" -work "$mnt" \
    -latency "${EC2_BENCH_LATENCY:-40ms}" -workers "${workers%% *}" \
    -changed-pct "${EC2_BENCH_CHANGED_PCT:-1}" -only incremental \
    ${BENCH_TABLE:+-table "$BENCH_TABLE.reflink"}
  cleanup_xfs
  trap - EXIT
fi
echo
echo "$(nproc) CPUs; load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end."
