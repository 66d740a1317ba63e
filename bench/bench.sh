#!/usr/bin/env bash
# bench.sh - time `chromogenic convert` against `qemu-img convert` on the same input, in the
# same run, and print a table (wall time, CPU time, peak RSS, output size, ratios).
#
# Input: a 4 GiB raw ext4 disk with ~1 GiB of data (~730 MiB of random files in 32
# directories plus a copy of the Go toolchain tree), built once and cached in
# $CHROMOGENIC_CACHE/bench-v1/ (default /var/cache/chromogenic), with a qcow2 copy made by
# qemu-img for the qcow2 -> raw case. Every measurement starts cold (sync, drop caches)
# and includes a sync of its output, so both tools are timed to durable output.
#
# Needs root (loop mount, drop_caches). Environment:
#   CHROMOGENIC_CACHE  cache directory (default /var/cache/chromogenic)
#   BENCH_DIR          scratch directory for outputs (default /var/tmp/chromogenic-bench)
#   BENCH_CASES        space-separated subset of: qcow2 qcow2-zlib qcow2-zstd vmdk ova
#                      qcow2-raw vhd (default: all), e.g. BENCH_CASES="qcow2 vhd" for the
#                      uncompressed writers (cp --sparse=always runs whenever a case
#                      compares with it)
#   BENCH_REPEAT       rounds (default 1): every measurement runs once per round, round
#                      robin; the fastest run of each is reported, a guard against other
#                      jobs on a shared machine
#   BENCH_TABLE        also write the markdown table to this file
#   BENCH_STORAGE      "disk" (default) or "memory": with memory, the inputs are copied
#                      into a tmpfs (/dev/shm) and the outputs are written there, so no disk
#                      is involved and the table shows the conversion work of each tool on
#                      its own. On a virtual disk whose flush dominates the synced times (see
#                      docs/benchmarks.md) this is the part a tool can change.
#   BENCH_MEMORY_DIR   the tmpfs directory of BENCH_STORAGE=memory (default
#                      /dev/shm/chromogenic-bench); it needs 5 GiB free
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cache=${CHROMOGENIC_CACHE:-/var/cache/chromogenic}/bench-v1
work=${BENCH_DIR:-/var/tmp/chromogenic-bench}
cases=${BENCH_CASES:-"qcow2 qcow2-zlib qcow2-zstd vmdk ova qcow2-raw vhd"}

[ "$(id -u)" -eq 0 ] || { echo "bench.sh: run as root (loop mount, drop_caches)" >&2; exit 2; }
apt_install() {
  echo ">> apt-get install $*" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
command -v qemu-img >/dev/null || apt_install qemu-utils
command -v mkfs.ext4 >/dev/null || apt_install e2fsprogs
[ -x /usr/bin/time ] || apt_install time

mkdir -p "$cache" "$work"

# --- the input image (cached) ----------------------------------------------------------
build_image() {
  local img=$cache/disk.raw tmp=$cache/disk.raw.tmp mnt
  echo ">> building the benchmark image $img (once)" >&2
  rm -f "$tmp"
  truncate -s 4G "$tmp"
  mkfs.ext4 -q -E lazy_itable_init=0,lazy_journal_init=0 "$tmp"
  mnt=$(mktemp -d)
  mount -o loop "$tmp" "$mnt"
  trap 'umount "$mnt" 2>/dev/null || true; rmdir "$mnt" 2>/dev/null || true' EXIT
  local total=0 i=0 dir sz
  while [ $total -lt $((730 * 1024 * 1024)) ]; do
    dir=$mnt/d$((i % 32))
    mkdir -p "$dir"
    sz=$(((RANDOM % 512 + 1) * 64 * 1024))
    head -c $sz /dev/urandom >"$dir/f$i.bin"
    total=$((total + sz))
    i=$((i + 1))
  done
  cp -a "$(go env GOROOT)" "$mnt/go"
  sync
  umount "$mnt"
  rmdir "$mnt"
  trap - EXIT
  mv "$tmp" "$img"
}
[ -s "$cache/disk.raw" ] || build_image
raw=$cache/disk.raw
if [ ! -s "$cache/disk.qcow2" ]; then
  qemu-img convert -f raw -O qcow2 "$raw" "$cache/disk.qcow2.tmp"
  mv "$cache/disk.qcow2.tmp" "$cache/disk.qcow2"
fi
qcow=$cache/disk.qcow2
storage=${BENCH_STORAGE:-disk}
case $storage in
disk) ;;
memory)
  # 1 GiB allocated per input copy and per output at a time, plus room: 5 GiB.
  work=${BENCH_MEMORY_DIR:-/dev/shm/chromogenic-bench}
  mkdir -p "$work"
  avail=$(df --output=avail -k "$work" | tail -1)
  if [ "$avail" -lt $((5 << 20)) ]; then
    echo "bench.sh: BENCH_STORAGE=memory needs 5 GiB free in $work (tmpfs); it has $((avail >> 10)) MiB" >&2
    exit 2
  fi
  echo ">> copying the inputs into $work (tmpfs)" >&2
  cp --sparse=always "$raw" "$work/in.raw"
  cp --sparse=always "$qcow" "$work/in.qcow2"
  raw=$work/in.raw qcow=$work/in.qcow2
  trap 'rm -f "$work/in.raw" "$work/in.qcow2" "$work/chromogenic"' EXIT
  ;;
*)
  echo "bench.sh: BENCH_STORAGE is disk or memory, not $storage" >&2
  exit 2
  ;;
esac

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo ">> building chromogenic" >&2
(cd "$root" && go build -o "$work/chromogenic" ./cmd/chromogenic)
cg=$work/chromogenic

# --- measurement -------------------------------------------------------------------------
# measure NAME OUT CMD...: queues a measurement. The queue is run BENCH_REPEAT times round
# robin (every tool once per round, in the same order), so that a change of load on a shared
# machine hits chromogenic, qemu-img and cp alike; the fastest run of each is kept.
# measure1 NAME OUT CMD...: cold caches, runs CMD then syncs OUT; appends a result row.
results=$work/results.tsv
: >"$results"
queue=()
measure() {
  queue+=("$(printf '%q ' "$@")")
}
measure1() {
  local name=$1 out=$2
  shift 2
  rm -f "$out"
  sync
  echo 3 >/proc/sys/vm/drop_caches
  /usr/bin/time -v -o "$work/time.txt" bash -c '"$@" && sync "'"$out"'"' _ "$@" >"$work/cmd.log" 2>&1 || {
    echo "bench.sh: $name failed:" >&2
    cat "$work/cmd.log" "$work/time.txt" >&2
    exit 1
  }
  local wall user sys rss size alloc
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$work/time.txt")
  user=$(awk -F': ' '/User time/ { print $2 }' "$work/time.txt")
  sys=$(awk -F': ' '/System time/ { print $2 }' "$work/time.txt")
  rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/time.txt")
  size=$(stat -c %s "$out")
  alloc=$(($(stat -c %b "$out") * 512))
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$wall" "$user" "$sys" "$rss" "$size" "$alloc" >>"$results"
  printf '   %-34s %7.2f s wall %7.2f s cpu %6d MB rss  (load %s)\n' "$name" "$wall" "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" $((rss / 1024)) "$(cut -d' ' -f1 /proc/loadavg)" >&2
  rm -f "$out"
}

# qemu-img has no OVA: streamOptimized VMDK, descriptor, sha256 manifest, tar.
qemu_ova() {
  local out=$1 d
  d=$(dirname "$out")/qemu-ova
  rm -rf "$d"
  mkdir -p "$d"
  qemu-img convert -f raw -O vmdk -o subformat=streamOptimized,adapter_type=lsilogic "$raw" "$d/vm-disk1.vmdk"
  local size cap
  size=$(stat -c %s "$d/vm-disk1.vmdk")
  cap=$(stat -c %s "$raw")
  cat >"$d/vm.ovf" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
  <References><File ovf:id="file1" ovf:href="vm-disk1.vmdk" ovf:size="$size"/></References>
  <DiskSection><Info>disks</Info><Disk ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:capacity="$cap" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/></DiskSection>
</Envelope>
EOF
  (cd "$d" && sha256sum vm.ovf vm-disk1.vmdk | awk '{ print "SHA256(" $2 ")= " $1 }' >vm.mf &&
    tar --format=ustar -cf "$out" vm.ovf vm-disk1.vmdk vm.mf)
  rm -rf "$d"
}
export -f qemu_ova
export raw

rows=()
for c in $cases; do
  case $c in
  qcow2)
    measure "raw->qcow2 qemu-img" "$work/q.qcow2" qemu-img convert -f raw -O qcow2 "$raw" "$work/q.qcow2"
    measure "raw->qcow2 chromogenic" "$work/c.qcow2" "$cg" convert -f raw -O qcow2 "$raw" "$work/c.qcow2"
    rows+=("raw->qcow2|raw->qcow2 qemu-img|raw->qcow2 chromogenic|cp")
    ;;
  qcow2-zlib)
    measure "raw->qcow2 zlib qemu-img" "$work/q.qcow2" qemu-img convert -c -f raw -O qcow2 "$raw" "$work/q.qcow2"
    measure "raw->qcow2 zlib chromogenic" "$work/c.qcow2" "$cg" convert -f raw -O qcow2 -o compression=zlib "$raw" "$work/c.qcow2"
    rows+=("raw->qcow2 compressed (zlib)|raw->qcow2 zlib qemu-img|raw->qcow2 zlib chromogenic|")
    ;;
  qcow2-zstd)
    measure "raw->qcow2 zstd qemu-img" "$work/q.qcow2" qemu-img convert -c -o compression_type=zstd -f raw -O qcow2 "$raw" "$work/q.qcow2"
    measure "raw->qcow2 zstd chromogenic" "$work/c.qcow2" "$cg" convert -f raw -O qcow2 -o compression=zstd "$raw" "$work/c.qcow2"
    rows+=("raw->qcow2 compressed (zstd)|raw->qcow2 zstd qemu-img|raw->qcow2 zstd chromogenic|")
    ;;
  vmdk)
    measure "raw->vmdk stream qemu-img" "$work/q.vmdk" qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$raw" "$work/q.vmdk"
    measure "raw->vmdk stream chromogenic" "$work/c.vmdk" "$cg" convert -f raw -O vmdk -o subformat=streamOptimized "$raw" "$work/c.vmdk"
    # To standard output (hidden from the writer even when it is a file): the writer cannot
    # patch its header, so it compresses every grain twice (a sizing pass, then the write).
    measure "raw->vmdk stream-to-stdout chromogenic" "$work/c2.vmdk" bash -c '"$1" convert -f raw -O vmdk "$2" - >"$3"' _ "$cg" "$raw" "$work/c2.vmdk"
    rows+=("raw->VMDK streamOptimized|raw->vmdk stream qemu-img|raw->vmdk stream chromogenic|")
    rows+=("raw->VMDK streamOptimized to stdout|raw->vmdk stream qemu-img|raw->vmdk stream-to-stdout chromogenic|")
    ;;
  ova)
    measure "raw->ova qemu-img+tar" "$work/q.ova" bash -c 'qemu_ova "$1"' _ "$work/q.ova"
    measure "raw->ova chromogenic" "$work/c.ova" "$cg" convert -f raw -O ova -o name=vm "$raw" "$work/c.ova"
    rows+=("raw->OVA|raw->ova qemu-img+tar|raw->ova chromogenic|")
    ;;
  qcow2-raw)
    measure "qcow2->raw qemu-img" "$work/q.raw" qemu-img convert -f qcow2 -O raw "$qcow" "$work/q.raw"
    measure "qcow2->raw chromogenic" "$work/c.raw" "$cg" convert -f qcow2 -O raw "$qcow" "$work/c.raw"
    rows+=("qcow2->raw|qcow2->raw qemu-img|qcow2->raw chromogenic|cp")
    ;;
  vhd)
    measure "raw->vhd qemu-img" "$work/q.vhd" qemu-img convert -f raw -O vpc -o subformat=dynamic "$raw" "$work/q.vhd"
    measure "raw->vhd chromogenic" "$work/c.vhd" "$cg" convert -f raw -O vhd -o subformat=dynamic "$raw" "$work/c.vhd"
    rows+=("raw->VHD dynamic|raw->vhd qemu-img|raw->vhd chromogenic|cp")
    ;;
  *)
    echo "bench.sh: unknown case $c" >&2
    exit 2
    ;;
  esac
done
if printf '%s\n' "${rows[@]}" | grep -q '|cp$'; then
  measure "cp --sparse=always" "$work/cp.raw" cp --sparse=always "$raw" "$work/cp.raw"
fi
for ((round = 1; round <= ${BENCH_REPEAT:-1}; round++)); do
  echo ">> round $round of ${BENCH_REPEAT:-1} (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  for m in "${queue[@]}"; do
    eval "measure1 $m"
  done
done

# --- table -----------------------------------------------------------------------------
# Keep every run for the per-round ratios, then the fastest run of each measurement.
cp "$results" "$work/all-runs.tsv"
# roundratio Q OURS: the geometric mean of qemu-img's wall time over chromogenic's, round by
# round (both ran in the same round, one after the other), and the range: steadier than the
# ratio of the fastest runs when the machine's disk or CPU is shared.
roundratio() {
  awk -F'\t' -v q="$1" -v o="$2" '
    $1 == q { qs[++nq] = $2 } $1 == o { os[++no] = $2 }
    END {
      n = nq < no ? nq : no
      if (n < 2) exit
      for (i = 1; i <= n; i++) {
        r = qs[i] / os[i]; s += log(r)
        if (i == 1 || r < lo) lo = r
        if (i == 1 || r > hi) hi = r
      }
      printf "%.2f× (%.2f–%.2f, %d rounds)", exp(s / n), lo, hi, n
    }' "$work/all-runs.tsv"
}
sort -t$'\t' -k1,1 -k2,2g "$results" | awk -F'\t' '!seen[$1]++' >"$results.best"
mv "$results.best" "$results"
get() { awk -F'\t' -v n="$1" -v f="$2" '$1 == n { print $f }' "$results"; }
table=$(
  echo "| case | tool | wall s | CPU s (user+sys) | peak RSS MB | output MB (allocated) | wall: qemu-img / chromogenic | CPU: qemu-img / chromogenic | wall: chromogenic / cp | wall: qemu-img / chromogenic per round, geometric mean (range) |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  cpw=$(get "cp --sparse=always" 2)
  for r in "${rows[@]}"; do
    IFS='|' read -r title q ours cp <<<"$r"
    qw=$(get "$q" 2)
    ow=$(get "$ours" 2)
    qc=$(awk -v u="$(get "$q" 3)" -v s="$(get "$q" 4)" 'BEGIN { print u + s }')
    oc=$(awk -v u="$(get "$ours" 3)" -v s="$(get "$ours" 4)" 'BEGIN { print u + s }')
    rr=$(roundratio "$q" "$ours")
    for n in "$q" "$ours"; do
      tool=${n##* }
      awk -F'\t' -v n="$n" -v title="$title" -v tool="$tool" -v qw="$qw" -v ow="$ow" -v cpw="$cpw" -v cp="$cp" -v ours="$ours" -v qc="$qc" -v oc="$oc" -v rr="$rr" '
        $1 == n {
          # two decimals near the 1.1x targets, so that 1.06 does not print as 1.1
          ratio = (n == ours) ? sprintf(qw / ow < 2 ? "**%.2f×**" : "**%.1f×**", qw / ow) : ""
          cratio = (n == ours && oc > 0) ? sprintf(qc / oc < 2 ? "%.2f×" : "%.1f×", qc / oc) : ""
          vscp = (n == ours && cp != "" && cpw > 0) ? sprintf("%.2f", ow / cpw) : ""
          printf "| %s | %s | %.2f | %.2f | %d | %.0f (%.0f) | %s | %s | %s | %s |\n", title, tool, $2, $3 + $4, $5 / 1024, $6 / 1048576, $7 / 1048576, ratio, cratio, vscp, (n == ours) ? rr : ""
        }' "$results"
    done
  done
  if [ -n "$cpw" ]; then
    awk -F'\t' '$1 == "cp --sparse=always" { printf "| raw copy (reference) | cp --sparse=always | %.2f | %.2f | %d | %.0f (%.0f) | | | | |\n", $2, $3 + $4, $5 / 1024, $6 / 1048576, $7 / 1048576 }' "$results"
  fi
)
echo
if [ "$storage" = memory ]; then
  how="input and output in tmpfs (no disk involved)"
else
  how="cold cache, output synced"
fi
echo "Input: $raw ($(($(stat -c %s "$raw") >> 20)) MiB virtual, $(($(stat -c %b "$raw") * 512 >> 20)) MiB allocated); $(nproc) CPUs; qemu-img $(qemu-img --version | awk 'NR == 1 { print $3 }'); $how; fastest of ${BENCH_REPEAT:-1} run(s); load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end."
echo
echo "$table"
if [ -n "${BENCH_TABLE:-}" ]; then
  echo "$table" >"$BENCH_TABLE"
fi
