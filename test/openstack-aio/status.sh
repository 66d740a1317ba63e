#!/usr/bin/env bash
# status.sh - one line per service: running or not, pid, answering or not, RSS of its
# processes. Also lists the guests and any listener not on loopback. Exit 0 when every
# service is running and answering, 1 otherwise.
set -uo pipefail
. "$(dirname "$(realpath "$0")")/lib.sh"
need_root
rc=0
total=0
printf '%-15s %-8s %-8s %-6s %s\n' SERVICE STATE PID RSS_MB CHECK
for s in "${AIO_SERVICES[@]}"; do
  n=${s%%|*}
  check=$(aio_field "$s" 2)
  if pid=$(aio_pid "$n"); then
    rss=$(ps -o rss= -p "$(aio_service_pids "$pid" | paste -sd,)" 2>/dev/null | awk '{t += $1} END {print int(t / 1024)}')
    total=$((total + rss))
    if $check; then ok=answers; else ok="NOT ANSWERING ($check)"; rc=1; fi
    printf '%-15s %-8s %-8s %-6s %s\n' "$n" running "$pid" "$rss" "$ok"
  else
    printf '%-15s %-8s %-8s %-6s %s\n' "$n" stopped - - -
    rc=1
  fi
done
stray=$(aio_stray_pids | tr '\n' ' ')
if [ -n "$stray" ]; then
  srss=$(ps -o rss= -p "$(aio_stray_pids | paste -sd,)" 2>/dev/null | awk '{t += $1} END {print int(t / 1024)}')
  total=$((total + srss))
  printf '%-15s %-8s %-8s %-6s %s\n' guests/privsep - "$(echo $stray | tr ' ' ,)" "$srss" -
fi
echo "total RSS: ${total} MiB"
bad=$(aio_nonloopback_listeners)
if [ -n "$bad" ]; then
  echo "NON-LOOPBACK LISTENERS:"
  echo "$bad"
  rc=1
fi
exit $rc
