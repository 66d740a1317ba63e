#!/usr/bin/env bash
# ec2-bench.sh - how fast a disk image travels to and from AWS on each path, measured against
# the EC2/EBS/S3 wire emulator (test/ec2emu) with an AWS-like latency on every request:
# EBS direct upload and download through the plugin's own transfer code (internal/cloud/ec2)
# at a few concurrency levels, versus S3 multipart upload + ImportImage (and an S3 ranged
# download) on the same emulator; and the changed-block paths next to the full ones: a
# recapture from the previous working copy with ListChangedBlocks, and a delta push with
# ParentSnapshotId, after EC2_BENCH_CHANGED_PCT % of the disk's blocks changed at random
# places (bench/ec2/incremental.go). Prints a markdown table (bench/ec2/main.go says what each
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
#   EC2_BENCH_ONLY        "incremental": measure the changed-block paths only
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
echo
echo "$(nproc) CPUs; load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end."
