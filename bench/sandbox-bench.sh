#!/usr/bin/env bash
# sandbox-bench.sh - the cost of the guest-program sandbox per command: the same static guest
# program run BENCH_N times under bubblewrap (internal/sandbox) and under plain chroot, in the
# same run; prints both, the difference per command and the ratio. Needs root and bwrap.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
n=${BENCH_N:-50}
out=$(cd "$root" && go test -run XXX -bench 'BenchmarkRun' -benchtime "${n}x" -count 1 ./internal/sandbox/)
sb=$(awk '/BenchmarkRun\/sandbox/ { print $3 }' <<<"$out")
ch=$(awk '/BenchmarkRun\/chroot/ { print $3 }' <<<"$out")
[ -n "$sb" ] && [ -n "$ch" ] || { echo "$out" >&2; exit 1; }
awk -v s="$sb" -v c="$ch" -v n="$n" 'BEGIN {
  printf "guest command, %d runs each (load %s)\n", n, "'"$(cut -d' ' -f1-3 /proc/loadavg)"'"
  printf "  sandbox (bwrap)  %7.1f ms\n  plain chroot     %7.1f ms\n", s / 1e6, c / 1e6
  printf "  sandbox cost     %7.1f ms per command (%.1fx); budget 50 ms: %s\n", (s - c) / 1e6, s / c, ((s - c) / 1e6 < 50 ? "ok" : "OVER")
}'
