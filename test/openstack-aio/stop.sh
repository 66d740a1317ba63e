#!/usr/bin/env bash
# stop.sh [SERVICE...] - stop the all-in-one cloud (or only the named services) and check that
# none of its processes is left. Guests still running are destroyed first (libvirt would
# otherwise leave their qemu processes behind).
set -euo pipefail
. "$(dirname "$(realpath "$0")")/lib.sh"
need_root
aio_dirs
names=()
if [ $# -gt 0 ]; then
  for n in "$@"; do aio_spec "$n" >/dev/null || die "unknown service $n"; names+=("$n"); done
else
  for ((i = ${#AIO_SERVICES[@]} - 1; i >= 0; i--)); do names+=("${AIO_SERVICES[i]%%|*}"); done
fi
# the processes to check afterwards
sids=()
for n in "${names[@]}"; do
  if pid=$(aio_pid "$n"); then mapfile -t -O "${#sids[@]}" sids < <(aio_service_pids "$pid"); fi
done
for n in "${names[@]}"; do
  if [ "$n" = libvirtd ] && aio_running libvirtd; then
    for d in $(virsh -c qemu:///system list --name 2>/dev/null | grep . || true); do
      log "destroying leftover guest $d"
      virsh -c qemu:///system destroy "$d" >/dev/null 2>&1 || true
    done
  fi
  aio_stop_one "$n"
done
if [ $# -eq 0 ]; then
  # guests or privsep helpers that outlived their parents (for example after a crash)
  for p in $(aio_stray_pids); do
    log "killing stray process $p: $(tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null | cut -c1-100)"
    kill -TERM "$p" 2>/dev/null || true
  done
  sleep 1
  for p in $(aio_stray_pids); do kill -KILL "$p" 2>/dev/null || true; done
fi
left=""
left=$(aio_alive "${sids[@]}" | tr '\n' ' ' || true)
[ $# -gt 0 ] || left="$left $(aio_stray_pids | tr '\n' ' ')"
left=$(echo "$left" | xargs)
[ -z "$left" ] || die "processes left after stop: $left"
log "stopped: ${names[*]}"
