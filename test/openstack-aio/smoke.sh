#!/usr/bin/env bash
# smoke.sh [--debian] - end-to-end check of the all-in-one cloud with the Debian openstack CLI:
# upload a qcow2 image to Glance, boot a server from it (networks "none"), wait ACTIVE and for
# the guest's own boot marker on its serial console, snapshot it (`server image create`), wait
# for the snapshot to be active, download it and check its data (checksums against Glance,
# qemu-img, and the file/boot code inside); then Cinder: create a volume, attach it to the
# server (in-use, an rbd disk in the libvirt domain, its RBD image in Ceph), stop the server,
# detach the volume (available again) and delete it; then delete everything it created.
# Prints timings.
#
# Default image: a 16 MiB disk made here (tiny-image.py: an MBR program that prints a marker
# on the serial port, plus an ext4 partition holding a known file); the guest uses no CPU once
# booted. --debian: the project's sample Debian image (scripts/images/sample-image.sh; 2 GiB,
# a full systemd boot, about 50 s under TCG), with flavor m1.small.
# Env: OS_CLOUD (default aio-a), AIO_SMOKE_KEEP=1 keeps the work directory.
set -euo pipefail
. "$(dirname "$(realpath "$0")")/lib.sh"
need_root
export OS_CLOUD="${OS_CLOUD:-aio-a}" OS_COMPUTE_API_VERSION=2.37
KIND=tiny
[ "${1:-}" = --debian ] && KIND=debian
OSC=(timeout 180 openstack) # one CLI call never hangs for ever

"$AIO_DIR/status.sh" >/dev/null 2>&1 || {
  "$AIO_DIR/status.sh" >&2 || true
  die "the cloud is not fully up: run $AIO_DIR/start.sh"
}

S="aio-smoke-$(date +%s)-$$"
WORK=$(mktemp -d /var/tmp/aio-smoke.XXXXXX)
T0=$SECONDS
TIMES=()
step() { # label start
  TIMES+=("$1=$((SECONDS - $2))s")
  log "$1: $((SECONDS - $2))s"
}
DONE=0
cleanup() {
  local rc=$?
  set +e
  if [ $DONE = 1 ]; then
    [ "${AIO_SMOKE_KEEP:-0}" = 1 ] || rm -rf "$WORK"
    exit $rc
  fi
  if [ $rc -ne 0 ]; then
    log "FAILED (rc=$rc): cleaning up; logs in $AIO_LOGS"
    aio_tail nova-compute 20
  fi
  if "${OSC[@]}" server show "$S-vm" -f value -c id >/dev/null 2>&1; then
    "${OSC[@]}" server delete "$S-vm" >/dev/null 2>&1
    for _ in $(seq 1 60); do
      "${OSC[@]}" server show "$S-vm" -f value -c id >/dev/null 2>&1 || break
      sleep 2
    done
  fi
  if "${OSC[@]}" volume show "$S-vol" -f value -c id >/dev/null 2>&1; then
    for _ in $(seq 1 30); do
      "${OSC[@]}" volume delete "$S-vol" >/dev/null 2>&1 && break
      sleep 2
    done
  fi
  for i in "$S-snap" "$S-img"; do
    "${OSC[@]}" image show "$i" -f value -c id >/dev/null 2>&1 && "${OSC[@]}" image delete "$i" >/dev/null 2>&1
  done
  [ "${AIO_SMOKE_KEEP:-0}" = 1 ] || rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# poll SECONDS WANT FAIL-REGEX CMD...: run CMD every 2 s until it prints WANT
poll() {
  local secs=$1 want=$2 fail=$3 t0=$SECONDS v=""
  shift 3
  while :; do
    v=$("$@" 2>/dev/null || true)
    [ "$v" = "$want" ] && return 0
    if [ -n "$fail" ] && [[ $v =~ $fail ]]; then
      log "state is '$v'"
      return 1
    fi
    [ $((SECONDS - t0)) -lt "$secs" ] || {
      log "still '$v' after ${secs}s (wanted '$want')"
      return 1
    }
    sleep 2
  done
}
jfield() { # KEY... from the JSON on stdin, or its "properties": the first one present
  "$PY" -c '
import json, sys
d = json.load(sys.stdin)
d = dict(d.get("properties") or {}, **d)
print(next((d[k] for k in sys.argv[1:] if d.get(k)), ""))' "$@"
}

# 0. the image
t=$SECONDS
PROPS=()
if [ $KIND = tiny ]; then
  # the tiny guest ignores ACPI power-off: no 60 s grace before Nova destroys it on stop
  PROPS=(--property os_shutdown_timeout=0)
  FLAVOR=m1.tiny MARKER=CHROMOGENIC-AIO-BOOT-OK BOOT_SECS=120
  mkdir "$WORK/tree"
  echo "hello from the chromogenic aio smoke test" >"$WORK/tree/hello.txt"
  "$PY" "$AIO_DIR/tiny-image.py" "$WORK/disk.raw"
  truncate -s 15M "$WORK/part.ext4"
  mkfs.ext4 -q -F -L aio-smoke -d "$WORK/tree" "$WORK/part.ext4"
  dd if="$WORK/part.ext4" of="$WORK/disk.raw" bs=1M seek=1 conv=notrunc,sparse status=none
  rm -f "$WORK/part.ext4"
else
  FLAVOR=m1.small MARKER=CHROMOGENIC-BOOT-OK BOOT_SECS=420
  sample=$(bash "$AIO_DIR/../../scripts/images/sample-image.sh" | tail -1)
  [ -s "$sample" ] || die "no sample image"
  cp --sparse=always "$sample" "$WORK/disk.raw"
fi
qemu-img convert -f raw -O qcow2 "$WORK/disk.raw" "$WORK/disk.qcow2"
rm -f "$WORK/disk.raw"
log "image: $KIND, $(du -h --apparent-size "$WORK/disk.qcow2" | cut -f1) qcow2; cloud $OS_CLOUD"
step make-image "$t"

# 1. upload
t=$SECONDS
"${OSC[@]}" image create --disk-format qcow2 --container-format bare "${PROPS[@]}" \
  --file "$WORK/disk.qcow2" "$S-img" -f value -c id >/dev/null
poll 120 active 'killed|deleted' "${OSC[@]}" image show "$S-img" -f value -c status ||
  die "uploaded image is not active"
step upload "$t"

# 2. boot
t=$SECONDS
# --wait polls inside one CLI process (each CLI start costs seconds); timeout bounds it
timeout 300 openstack server create --image "$S-img" --flavor "$FLAVOR" --nic none --wait \
  "$S-vm" -f value -c id >/dev/null || log "server create --wait failed or timed out (300s)"
if ! poll 10 ACTIVE 'ERROR' "${OSC[@]}" server show "$S-vm" -f value -c status; then
  "${OSC[@]}" server show "$S-vm" -f value -c fault >&2 || true
  die "server did not become ACTIVE"
fi
step boot-active "$t"
t=$SECONDS
marker() {
  local out
  out=$("${OSC[@]}" console log show "$S-vm" 2>/dev/null) || return 0
  grep -q "$MARKER" <<<"$out" && echo yes
}
poll "$BOOT_SECS" yes '' marker || die "the guest did not print $MARKER on its console"
step guest-marker "$t"

# 3. snapshot (Nova createImage)
t=$SECONDS
timeout 600 openstack server image create --name "$S-snap" --wait "$S-vm" -f value -c id >/dev/null ||
  log "server image create --wait failed or timed out (600s)"
poll 10 active 'killed|deleted' "${OSC[@]}" image show "$S-snap" -f value -c status ||
  die "snapshot did not become active"
step snapshot "$t"

# 4. download and check
t=$SECONDS
"${OSC[@]}" image save --file "$WORK/snap.img" "$S-snap"
step download "$t"
t=$SECONDS
info=$("${OSC[@]}" image show "$S-snap" -f json)
md5=$(jfield checksum <<<"$info")
algo=$(jfield os_hash_algo hash_algo <<<"$info")
hash=$(jfield os_hash_value hash_value <<<"$info")
[ -n "$md5" ] && [ -n "$algo" ] && [ -n "$hash" ] || die "Glance gave no checksum/os_hash for the snapshot: $info"
[ "$(md5sum <"$WORK/snap.img" | cut -d' ' -f1)" = "$md5" ] || die "snapshot md5 differs from Glance's checksum"
[ "$("${algo}sum" <"$WORK/snap.img" | cut -d' ' -f1)" = "$hash" ] || die "snapshot $algo differs from Glance's os_hash_value"
fmt=$(qemu-img info --output=json "$WORK/snap.img" | jfield format)
[ "$fmt" = qcow2 ] || die "snapshot data is '$fmt', not qcow2"
qemu-img check -q "$WORK/snap.img" || die "qemu-img check failed on the snapshot"
if [ $KIND = tiny ]; then
  qemu-img convert -O raw "$WORK/snap.img" "$WORK/snap.raw"
  head -c 446 "$WORK/snap.raw" | grep -qa "$MARKER" || die "boot code missing from the snapshot"
  dd if="$WORK/snap.raw" of="$WORK/snap.ext4" bs=1M skip=1 status=none
  got=$(debugfs -R 'cat /hello.txt' "$WORK/snap.ext4" 2>/dev/null)
  [ "$got" = "$(cat "$WORK/tree/hello.txt")" ] || die "hello.txt missing or wrong in the snapshot"
fi
step verify "$t"

# 5. a Cinder volume (RBD in Ceph): attach, in-use, stop the server, detach, delete
t=$SECONDS
vol=$("${OSC[@]}" volume create --size 1 "$S-vol" -f value -c id)
poll 120 available 'error' "${OSC[@]}" volume show "$S-vol" -f value -c status || die "volume did not become available"
step volume-create "$t"
t=$SECONDS
"${OSC[@]}" server add volume "$S-vm" "$S-vol" >/dev/null
poll 120 in-use 'error' "${OSC[@]}" volume show "$S-vol" -f value -c status || die "volume did not become in-use"
dom=$(OS_CLOUD=aio-admin "${OSC[@]}" server show "$(openstack server show "$S-vm" -f value -c id)" \
  -f value -c OS-EXT-SRV-ATTR:instance_name)
xml=$(virsh -c qemu:///system dumpxml "$dom") # not piped into grep -q: with pipefail, virsh's SIGPIPE fails it
[[ $xml == *"protocol='rbd' name='volumes/volume-$vol'"* ]] || die "the libvirt domain $dom has no rbd disk volumes/volume-$vol"
rbd -c "$AIO_CEPH_CONF" info "volumes/volume-$vol" >/dev/null || die "no RBD image volumes/volume-$vol in Ceph"
step volume-attach "$t"
t=$SECONDS
"${OSC[@]}" server stop "$S-vm"
poll 180 SHUTOFF 'ERROR' "${OSC[@]}" server show "$S-vm" -f value -c status || die "server did not stop"
"${OSC[@]}" server remove volume "$S-vm" "$S-vol"
poll 120 available 'error' "${OSC[@]}" volume show "$S-vol" -f value -c status || die "volume was not detached"
step volume-detach "$t"
t=$SECONDS
"${OSC[@]}" volume delete "$S-vol"
poll 120 gone '' sh -c "${OSC[*]} volume show $S-vol -f value -c status >/dev/null 2>&1 || echo gone" ||
  die "volume was not deleted"
! rbd -c "$AIO_CEPH_CONF" info "volumes/volume-$vol" >/dev/null 2>&1 || die "RBD image volumes/volume-$vol left in Ceph"
step volume-delete "$t"

# 6. delete
t=$SECONDS
timeout 180 openstack server delete --wait "$S-vm" || die "server was not deleted within 180s"
"${OSC[@]}" image delete "$S-snap" "$S-img"
step delete "$t"
DONE=1

echo "$(date '+%F %T') smoke($KIND, $OS_CLOUD): ${TIMES[*]} total=$((SECONDS - T0))s" >>"$AIO_LOGS/timings.log"
log "timings: ${TIMES[*]} total=$((SECONDS - T0))s"
echo SMOKE-OK
