#!/usr/bin/env bash
# openstack-bench.sh - on the all-in-one OpenStack (test/openstack-aio), in one run, from one
# server booted from the sample Debian image (2 GiB raw, uploaded as qcow2):
#
#  1. capture -> clean -> upload:
#     (a) `packer build` of chromogenic-openstack in image mode with chromogenic-clean
#         (defaults) and image_disk_format qcow2: Nova snapshot, qcow2 read in place through
#         Range requests into the sparse working copy, cleaned in a chroot, uploaded as qcow2
#         streamed from the working copy, snapshot deleted;
#     (b) the script a user would write: `openstack server image create --wait`,
#         `openstack image save`, `virt-sysprep` (direct backend, TCG), `openstack image
#         create --file`, `openstack image delete` of the snapshot;
#     printing wall time, the ratio, and the peak extra local disk of each (the bytes
#     allocated under its working directory, sampled every 0.5 s with du), against the
#     image's allocated data (the issue's goal: <= 1.1x);
#  2. Glance -> Glance migration (bench/openstack: chromogenic-openstack-import's own code)
#     against download alone and upload alone (goal: within 1.2x of the slower).
#
# virt-sysprep's supermin appliance is built by an untimed warm-up first (as in
# clean-bench.sh, with which the kernel cache is shared).
#
# Needs root and the all-in-one cloud (it runs test/openstack-aio/setup.sh, idempotent).
# Environment:
#   CHROMOGENIC_CACHE  cache directory (default /var/cache/chromogenic)
#   BENCH_DIR          scratch directory (default /var/tmp/chromogenic-openstack-bench)
#   BENCH_TABLE        also write the markdown tables to this file
#   BENCH_STRICT=1     exit 1 when a goal is not met
#   BENCH_PARTS        "capture migrate" (default): which of the two parts to run
#   BENCH_REPEAT       rounds of the migration part (default 1): each measurement runs once
#                      per round, round robin, and the fastest of each is reported with every
#                      round's ratio (a guard against other load on the machine)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cache=${CHROMOGENIC_CACHE:-/var/cache/chromogenic}
work=${BENCH_DIR:-/var/tmp/chromogenic-openstack-bench}
tag=bench-$$
parts=" ${BENCH_PARTS:-capture migrate} "

[ "$(id -u)" -eq 0 ] || { echo "openstack-bench.sh: run as root (loop devices, mounts, chroot)" >&2; exit 2; }
for tool in openstack:python3-openstackclient virt-sysprep:libguestfs-tools; do
  command -v "${tool%%:*}" >/dev/null || {
    echo ">> apt-get install ${tool#*:}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${tool#*:}" >/dev/null
  }
done
rm -rf "$work"
mkdir -p "$work/a/tmp" "$work/b/tmp"
export TMPDIR=/var/tmp CHECKPOINT_DISABLE=1 GOFLAGS=-buildvcs=false
export PACKER_PLUGIN_PATH=${PACKER_PLUGIN_PATH:-$cache/plugins-dev}
export PATH=$(cd "$root" && bash scripts/tools.sh | tail -n 1):$PATH

echo ">> building and installing the plugin, building bench/openstack" >&2
(cd "$root" && go build -ldflags="-X 'github.com/chromogenic/packer-plugin-chromogenic/version.VersionPrerelease=dev'" -o "$work/packer-plugin-chromogenic" . &&
  go build -o "$work/migrate-bench" ./bench/openstack)
packer plugins install --path "$work/packer-plugin-chromogenic" github.com/chromogenic/chromogenic >/dev/null

echo ">> starting the all-in-one cloud (test/openstack-aio/setup.sh)" >&2
bash "$root/test/openstack-aio/setup.sh" >"$work/aio-setup.log" 2>&1 || { tail -n 30 "$work/aio-setup.log" >&2; exit 1; }
clouds=$cache/openstack-aio/clouds.yaml
export OS_CLIENT_CONFIG_FILE=$clouds OS_CLOUD=aio-a

sample=$(bash "$root/scripts/images/sample-image.sh" | tail -n 1)
alloc=$(du --block-size=1 "$sample" | cut -f1)
echo ">> sample image $sample: $((alloc >> 20)) MiB allocated" >&2

# --- a kernel for supermin (clean-bench.sh's cache) -----------------------------------
export LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg
if ! ls /boot/vmlinuz-* >/dev/null 2>&1 && [ -z "${SUPERMIN_KERNEL:-}" ]; then
  kdir=$cache/supermin-kernel-$(sha256sum <<<"$sample" | cut -c1-12)
  if [ ! -s "$kdir/ok" ]; then
    echo ">> extracting the sample's kernel for supermin into $kdir" >&2
    rm -rf "$kdir" && mkdir -p "$kdir/modules"
    mnt=$(mktemp -d)
    off=$(sfdisk -J "$sample" | python3 -c 'import json,sys; print(json.load(sys.stdin)["partitiontable"]["partitions"][0]["start"]*512)')
    mount -o ro,loop,offset="$off" "$sample" "$mnt"
    k=$(find "$mnt/boot" -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' | sort -V | tail -n 1)
    cp "$mnt/boot/$k" "$kdir/" && cp -a "$mnt/lib/modules/${k#vmlinuz-}" "$kdir/modules/"
    umount "$mnt" && rmdir "$mnt"
    echo "${k#vmlinuz-}" >"$kdir/ok"
  fi
  kver=$(cat "$kdir/ok")
  export SUPERMIN_KERNEL=$kdir/vmlinuz-$kver SUPERMIN_MODULES=$kdir/modules/$kver SUPERMIN_KERNEL_VERSION=$kver
fi

# --- the source: image + server in project A (not timed) ------------------------------
cleanup() {
  set +e
  [ -z "${sampler:-}" ] || kill "$sampler" 2>/dev/null
  [ -z "${server:-}" ] || openstack server delete --wait "$server" >/dev/null 2>&1
  for c in aio-a aio-b; do
    for id in $(openstack --os-cloud "$c" image list -f value -c ID -c Name | awk -v t="$tag" 'index($2, t) { print $1 }'); do
      openstack --os-cloud "$c" image delete "$id" >/dev/null 2>&1
    done
  done
  grep -q " $work/mnt" /proc/mounts && umount -R "$work/mnt"
  rm -rf "$work/a" "$work/b" "$work/src.qcow2"
}
trap cleanup EXIT

echo ">> uploading the sample as qcow2 (and booting a server from it)" >&2
qemu-img convert -O qcow2 "$sample" "$work/src.qcow2"
lastword() { awk 'NF { l = $NF } END { print l }'; } # the value, past the CLI's blank lines
src_id=$(openstack image create -f value -c id --disk-format qcow2 --container-format bare \
  --property os_distro=debian --property hw_disk_bus=virtio --file "$work/src.qcow2" "$tag-src" | lastword)
if [[ $parts == *" capture "* ]]; then
  server=$(openstack server create -f value -c id --flavor m1.small --nic none --image "$src_id" --wait "$tag-server" | lastword)
fi

elapsed() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }
start_sampler() { # start_sampler DIR OUT: the peak of `du -sx DIR` into OUT, every 0.5 s
  echo 0 >"$2"
  (
    peak=0
    while :; do
      s=$(du -sx --block-size=1 "$1" 2>/dev/null | cut -f1) || true
      if [ "${s:-0}" -gt "$peak" ]; then peak=$s && echo "$peak" >"$2"; fi
      sleep 0.5
    done
  ) &
  sampler=$!
}
stop_sampler() { kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true; sampler=""; }

ta="" tb="" pa=0 pb=0 mig="" goals=""
# --- (a) chromogenic-openstack image mode + chromogenic-clean -------------------------
if [[ $parts == *" capture "* ]]; then
cat >"$work/a.pkr.hcl" <<EOF
source "chromogenic-openstack" "bench" {
  cloud             = "aio-a"
  clouds_file       = "$clouds"
  instance_id       = "$server"
  image_name        = "$tag-chromogenic"
  image_disk_format = "qcow2"
  output_directory  = "$work/a/out"
  mount_path        = "$work/mnt/a"
}
build {
  sources = ["source.chromogenic-openstack.bench"]
  provisioner "chromogenic-clean" {
    operations = ["defaults"]
  }
}
EOF
echo ">> (a) packer build: chromogenic-openstack image mode + chromogenic-clean" >&2
start_sampler "$work/a" "$work/a.peak"
t0=$(date +%s.%N)
(cd "$work" && TMPDIR=$work/a/tmp packer build -color=false a.pkr.hcl >"$work/a.log" 2>&1) ||
  { stop_sampler; tail -n 40 "$work/a.log" >&2; exit 1; }
ta=$(elapsed "$t0")
stop_sampler
pa=$(cat "$work/a.peak")
grep -E "range requests|Read [0-9]+ MiB" "$work/a.log" >&2 || true

# --- (b) the user's script ---------------------------------------------------------------
echo ">> virt-sysprep warm-up (builds the supermin appliance once; not timed)" >&2
qemu-img create -f qcow2 "$work/warm.qcow2" 64M >/dev/null
virt-sysprep --format qcow2 -a "$work/warm.qcow2" >"$work/warm.log" 2>&1 || true
rm -f "$work/warm.qcow2"

echo ">> (b) openstack server image create + image save + virt-sysprep + image create" >&2
start_sampler "$work/b" "$work/b.peak"
t0=$(date +%s.%N)
(
  set -e
  cd "$work/b"
  export TMPDIR=$work/b/tmp
  snap=$(openstack server image create -f value -c id --name "$tag-snap" --wait "$server" | lastword)
  openstack image save --file snap.qcow2 "$snap"
  virt-sysprep --format qcow2 -a snap.qcow2
  openstack image create --disk-format qcow2 --container-format bare --file snap.qcow2 "$tag-script" >/dev/null
  openstack image delete "$snap"
) >"$work/b.log" 2>&1 || { stop_sampler; tail -n 40 "$work/b.log" >&2; exit 1; }
tb=$(elapsed "$t0")
stop_sampler
pb=$(cat "$work/b.peak")

fi

# --- Glance -> Glance --------------------------------------------------------------------
if [[ $parts == *" migrate "* ]]; then
  echo ">> Glance -> Glance migration (bench/openstack)" >&2
  mig=$("$work/migrate-bench" -clouds "$clouds" -image "$src_id" -qcow2 "$work/src.qcow2" -raw "$sample" -rounds "${BENCH_REPEAT:-1}" 2>"$work/migrate.log") ||
    { tail -n 30 "$work/migrate.log" >&2; exit 1; }
fi

mib() { echo $(($1 >> 20)); }
table=""
ok=1
if [[ $parts == *" capture "* ]]; then
  ratio=$(awk -v a="$tb" -v b="$ta" 'BEGIN { printf "%.2f", a / b }')
  da=$(awk -v p="$pa" -v a="$alloc" 'BEGIN { printf "%.2f", p / a }')
  db=$(awk -v p="$pb" -v a="$alloc" 'BEGIN { printf "%.2f", p / a }')
  table="Capture -> clean -> upload of one server (sample Debian 12, 2 GiB disk, $(mib "$alloc") MiB allocated; qcow2 in and out):

| path | wall s | time vs (a) | peak extra local disk MiB | × allocated data |
|---|---:|---:|---:|---:|
| (a) \`packer build\`: chromogenic-openstack image mode + chromogenic-clean | $ta | 1.00 | $(mib "$pa") | **$da** |
| (b) \`openstack server image create --wait\` + \`image save\` + \`virt-sysprep\` + \`image create\` | $tb | $ratio | $(mib "$pb") | $db |"
  if awk -v d="$da" 'BEGIN { exit !(d <= 1.1) }'; then goals="peak local disk goal (<= 1.1x allocated data): met (${da}x)"; else goals="peak local disk goal (<= 1.1x allocated data): NOT met (${da}x)"; ok=0; fi
fi
if [[ $parts == *" migrate "* ]]; then
  table="$table

Glance -> Glance (project A -> project B of the same cloud, the uploaded source image):

$mig"
fi
printf '%s\n' "$table"
[ -z "${BENCH_TABLE:-}" ] || printf '%s\n' "$table" >"$BENCH_TABLE"
[ -z "$goals" ] || echo "$goals"
for r in $(printf '%s\n' "$mig" | grep -o '\*\*[0-9.]*×\*\*' | tr -d '*×'); do
  if awk -v r="$r" 'BEGIN { exit !(r <= 1.2) }'; then echo "migration goal (<= 1.2x the slower half): met (${r}x)"; else echo "migration goal (<= 1.2x the slower half): NOT met (${r}x)"; ok=0; fi
done
[ "$ok" = 1 ] || [ "${BENCH_STRICT:-}" != 1 ] || exit 1
