#!/usr/bin/env bash
# start.sh - start every service of the all-in-one cloud (setup.sh must have run once) and wait,
# bounded, until each one answers. Services already running are left alone, so this is also
# the "health check and restart what is down" step to run before tests.
# Env: AIO_WAIT_FACTOR (multiplies every wait, default 1), CHROMOGENIC_CACHE.
set -euo pipefail
. "$(dirname "$(realpath "$0")")/lib.sh"
need_root
aio_dirs
[ -f "$AIO_STATE/configured" ] || die "the cloud is not set up: run $AIO_DIR/setup.sh"
t0=$SECONDS

start_wait() { # start several services, then wait for each
  local n
  for n in "$@"; do aio_start_one "$n"; done
  for n in "$@"; do aio_wait_ready "$n"; done
}
start_wait mariadb
start_wait epmd
start_wait rabbitmq
start_wait ceph-mon
start_wait ceph-mgr ceph-osd
start_wait keystone
start_wait glance-api placement neutron-stub nova-api cinder-api virtlogd
start_wait libvirtd
start_wait nova-conductor nova-scheduler nova-compute cinder-scheduler cinder-volume

aio_admin_env
secs=$((240 * ${AIO_WAIT_FACTOR:-1}))
# heartbeats must be newer than the oldest of the three processes (minus clock slack)
since=$(($(date +%s) - 2))
for n in nova-conductor nova-scheduler nova-compute; do
  e=$(ps -o etimes= -p "$(aio_pid "$n")" | tr -d ' ')
  [ $(($(date +%s) - e - 2)) -ge "$since" ] || since=$(($(date +%s) - e - 2))
done
if ! out=$("$PY" "$AIO_DIR/aio.py" wait-compute "$secs" "$since" 2>&1); then
  printf '%s\n' "$out" >&2
  for n in nova-conductor nova-scheduler nova-compute; do aio_tail "$n" 15; done
  die "compute services not ready"
fi
since=$(($(date +%s) - 2))
for n in cinder-scheduler cinder-volume; do
  e=$(ps -o etimes= -p "$(aio_pid "$n")" | tr -d ' ')
  [ $(($(date +%s) - e - 2)) -ge "$since" ] || since=$(($(date +%s) - e - 2))
done
if ! out=$("$PY" "$AIO_DIR/aio.py" wait-volume "$secs" "$since" 2>&1); then
  printf '%s\n' "$out" >&2
  for n in cinder-scheduler cinder-volume; do aio_tail "$n" 15; done
  die "volume services not ready"
fi
# A new compute host must be mapped to cell1 before anything can be scheduled to it.
mapped=$(mysql -N -uroot -e 'SELECT COUNT(*) FROM nova_api.host_mappings' 2>/dev/null || echo 0)
if [ "$mapped" = 0 ]; then
  log "mapping the compute host to cell1"
  setpriv --reuid=nova --regid=nova --init-groups -- nova-manage cell_v2 discover_hosts \
    >>"$AIO_LOGS/nova-manage.log" 2>&1 || die "nova-manage cell_v2 discover_hosts failed ($AIO_LOGS/nova-manage.log)"
  mapped=$(mysql -N -uroot -e 'SELECT COUNT(*) FROM nova_api.host_mappings')
  [ "$mapped" != 0 ] || die "compute host still not mapped to a cell"
fi
bad=$(aio_nonloopback_listeners)
[ -z "$bad" ] || die "a service listens on a non-loopback address: $bad"
log "all services up in $((SECONDS - t0))s; clouds: $AIO_HOME/clouds.yaml (aio-a, aio-b, aio-admin)"
