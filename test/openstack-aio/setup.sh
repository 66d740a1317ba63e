#!/usr/bin/env bash
# setup.sh - install, configure and start an all-in-one OpenStack (Debian 12's Zed packages) on
# 127.0.0.1: MariaDB, RabbitMQ, Keystone, Glance (file store), Placement, Nova (api, conductor,
# scheduler, compute with libvirt/QEMU in TCG mode), Cinder (api, scheduler, volume) on a one-node
# Ceph cluster (mon, mgr, one bluestore OSD on a sparse file; RBD pool "volumes") and a
# do-nothing Neutron stub.
# Creates the projects provider-a and provider-b with their users, and writes clouds.yaml with
# the clouds aio-a, aio-b and aio-admin to /etc/openstack/ and $CHROMOGENIC_CACHE/openstack-aio/.
#
# Idempotent: each step checks whether it is done (packages installed, config files identical,
# schemas present for the installed versions, identity stamp plus a token check), so a second
# run on a set-up machine takes seconds. It always ends with the cloud running (start.sh);
# stop it with stop.sh.
#
# Env: AIO_PASSWORD (every password, default chromogenic-aio), CHROMOGENIC_CACHE
# (default /var/cache/chromogenic), AIO_APT_OPTS (extra apt-get options), AIO_WAIT_FACTOR,
# AIO_LOCK_WAIT (seconds a second caller waits for a running setup.sh, default 3600).
set -euo pipefail
. "$(dirname "$(realpath "$0")")/lib.sh"
need_root
aio_dirs
aio_lock
T0=$SECONDS
declare -A PHASE
phase() { PHASE[$1]=$((SECONDS - ${2:-$T0})); }

PKGS=(mariadb-server mariadb-client python3-pymysql rabbitmq-server
  keystone glance-api placement-api nova-api nova-conductor nova-scheduler nova-compute
  nova-compute-kvm libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils
  python3-openstackclient python3-keystoneauth1 python3-yaml uwsgi-plugin-python3
  e2fsprogs sudo curl dmidecode iproute2 util-linux
  ceph-mon ceph-mgr ceph-osd ceph-common python3-rbd python3-rados
  cinder-api cinder-scheduler cinder-volume)

###########################################################################################
# 1. packages (no Recommends: they pull a kernel, ceph, exim4 and postgresql for nothing)
###########################################################################################
t=$SECONDS
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${#missing[@]} packages (and their dependencies): ${missing[*]}"
  # The packages' own configuration (dbconfig, endpoint registration) is all turned off:
  # this script configures everything itself.
  debconf-set-selections <<'EOF'
dbconfig-common dbconfig-common/dbconfig-install boolean false
keystone keystone/configure_db boolean false
keystone keystone/create-admin-tenant boolean false
keystone keystone/register-endpoint boolean false
glance-common glance/configure_db boolean false
glance-common glance/configure_rabbit boolean false
glance-common glance/configure_ksat boolean false
glance-api glance/configure_api-endpoint boolean false
placement-common placement/configure_db boolean false
placement-common placement/configure_ksat boolean false
placement-api placement/configure_api-endpoint boolean false
nova-common nova/configure_db boolean false
nova-common nova/configure_rabbit boolean false
nova-common nova/configure_ksat boolean false
nova-common nova/configure_neutron boolean false
nova-common nova/configure_placement boolean false
nova-api novaapi/configure_db boolean false
nova-api nova/configure_api-endpoint boolean false
libvirt-daemon-system libvirt-daemon-system/id_warning boolean true
cinder-common cinder/configure_db boolean false
cinder-common cinder/configure_rabbit boolean false
cinder-common cinder/configure_ksat boolean false
cinder-api cinder/configure_api-endpoint boolean false
EOF
  # Maintainer scripts must not start any daemon: start.sh does that, on loopback only.
  prc=/usr/sbin/policy-rc.d
  prc_saved=""
  if [ -e "$prc" ]; then prc_saved=$(mktemp) && cp -a "$prc" "$prc_saved"; fi
  restore_prc() {
    if [ -n "$prc_saved" ]; then mv -f "$prc_saved" "$prc"; else rm -f "$prc"; fi
  }
  trap restore_prc EXIT
  printf '#!/bin/sh\nexit 101\n' >"$prc"
  chmod 755 "$prc"
  apt-get -o DPkg::Lock::Timeout=600 update -q >"$AIO_LOGS/apt.log" 2>&1 || {
    tail -20 "$AIO_LOGS/apt.log" >&2
    die "apt-get update failed"
  }
  # shellcheck disable=SC2086
  if ! apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends ${AIO_APT_OPTS:-} \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" >>"$AIO_LOGS/apt.log" 2>&1; then
    tail -30 "$AIO_LOGS/apt.log" >&2
    die "apt-get install failed (log: $AIO_LOGS/apt.log)"
  fi
  restore_prc
  trap - EXIT
  log "packages installed in $((SECONDS - t))s"
fi
phase packages "$t"

###########################################################################################
# 2. configuration files. put FILE OWNER:GROUP MODE SERVICE...: writes stdin to FILE only
#    when it differs, keeping the package's original once, and remembers which running
#    services must be restarted to see the change.
###########################################################################################
t=$SECONDS
RESTART=()
put() {
  local f=$1 og=$2 mode=$3 tmp
  shift 3
  tmp=$(mktemp)
  cat >"$tmp"
  if [ -f "$f" ] && cmp -s "$tmp" "$f"; then
    rm -f "$tmp"
  else
    if [ -f "$f" ] && [ ! -e "$AIO_STATE/orig$f" ]; then
      mkdir -p "$(dirname "$AIO_STATE/orig$f")" && cp -a "$f" "$AIO_STATE/orig$f"
    fi
    mkdir -p "$(dirname "$f")"
    install -o "${og%%:*}" -g "${og##*:}" -m "$mode" "$tmp" "$f"
    rm -f "$tmp"
    log "wrote $f"
    RESTART+=("$@")
  fi
  chown "$og" "$f"
  chmod "$mode" "$f"
}
# block FILE SERVICE...: a marked block appended to a package's file, replaced when it changes
block() {
  local f=$1 new
  shift
  new=$( (sed '/^# BEGIN chromogenic-aio/,/^# END chromogenic-aio/d' "$f"
    echo '# BEGIN chromogenic-aio'
    cat
    echo '# END chromogenic-aio'))
  # not a pipeline: put must run in this shell, or the services it marks for restart are lost
  put "$f" root:root 644 "$@" < <(printf '%s\n' "$new")
}

P=$AIO_PASSWORD
db() { echo "mysql+pymysql://$1:$P@127.0.0.1/$2"; }
authtoken() {
  cat <<EOF
[keystone_authtoken]
www_authenticate_uri = http://127.0.0.1:5000
auth_url = http://127.0.0.1:5000
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $P
region_name = $AIO_REGION
service_token_roles_required = true
EOF
}
svc_auth() { # section user
  cat <<EOF
[$1]
auth_type = password
auth_url = http://127.0.0.1:5000/v3
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $2
password = $P
region_name = $AIO_REGION
EOF
}

put /etc/mysql/mariadb.conf.d/99-chromogenic-aio.cnf root:root 644 mariadb <<'EOF'
[mysqld]
bind-address = 127.0.0.1
skip-name-resolve
max_connections = 300
innodb_buffer_pool_size = 96M
innodb_flush_log_at_trx_commit = 2
performance_schema = off
EOF

put /etc/rabbitmq/rabbitmq.conf root:rabbitmq 640 rabbitmq <<'EOF'
listeners.tcp.default = 127.0.0.1:5672
distribution.listener.interface = 127.0.0.1
distribution.listener.port_range.min = 25672
distribution.listener.port_range.max = 25672
loopback_users.guest = true
log.console = true
log.console.level = info
log.file = false
EOF
put /etc/rabbitmq/rabbitmq-env.conf root:rabbitmq 640 rabbitmq <<'EOF'
# for rabbitmqctl; the server gets the same through start.sh's environment
NODENAME=rabbit@localhost
NODE_IP_ADDRESS=127.0.0.1
export ERL_EPMD_ADDRESS=127.0.0.1
CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
EOF

put /etc/keystone/keystone.conf root:keystone 640 keystone <<EOF
[DEFAULT]
[database]
connection = $(db keystone keystone)
[token]
provider = fernet
[identity]
# a throw-away test cloud: cheap bcrypt, or each token costs 0.5-1 s on 2 cores
password_hash_rounds = 4
[cache]
# an in-process cache (one uwsgi process): without it each token validation (every first
# request of a new token to Glance or Nova) took 1.5-2.5 s on 2 cores, with it 20 ms
enabled = true
backend = dogpile.cache.memory
EOF

put /etc/glance/glance-api.conf root:glance 640 glance-api <<EOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = 9292
# two forked workers (~150 MB each): with one process (workers = 0) a Glance-to-Glance
# migration's download and upload, both served by this one Glance, shared one eventlet
# process whose file reads and writes block it (and one core), so the migration was slower
# than the download or the upload alone by the whole download time; two clouds would serve
# the two ends from processes of their own, as two workers do here
workers = 2
enabled_backends = fs:file
show_image_direct_url = false
[database]
connection = $(db glance glance)
$(authtoken glance)
[paste_deploy]
flavor = keystone
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = /var/lib/glance/images/
[os_glance_staging_store]
filesystem_store_datadir = /var/lib/glance/staging/
[os_glance_tasks_store]
filesystem_store_datadir = /var/lib/glance/tasks/
[oslo_concurrency]
lock_path = /var/lib/glance/lock
EOF

put /etc/placement/placement.conf root:placement 640 placement <<EOF
[DEFAULT]
[api]
auth_strategy = keystone
[placement_database]
connection = $(db placement placement)
$(authtoken placement)
EOF

put /etc/nova/nova.conf root:nova 640 nova-api nova-conductor nova-scheduler nova-compute <<EOF
[DEFAULT]
transport_url = rabbit://guest:guest@127.0.0.1:5672/
my_ip = 127.0.0.1
host = aio
state_path = /var/lib/nova
instances_path = /var/lib/nova/instances
compute_driver = libvirt.LibvirtDriver
enabled_apis = osapi_compute
osapi_compute_listen = 127.0.0.1
osapi_compute_listen_port = 8774
osapi_compute_workers = 1
metadata_listen = 127.0.0.1
metadata_workers = 1
reserved_host_memory_mb = 512
cpu_allocation_ratio = 16.0
heal_instance_info_cache_interval = -1
instance_usage_audit = false
vif_plugging_is_fatal = false
vif_plugging_timeout = 0
[api]
auth_strategy = keystone
[api_database]
connection = $(db nova nova_api)
[database]
connection = $(db nova nova)
$(authtoken nova)
[glance]
endpoint_override = http://127.0.0.1:9292
num_retries = 3
$(svc_auth placement nova)
valid_interfaces = public
$(svc_auth neutron nova)
# the stub (neutron-stub.py): not in the catalog on purpose
endpoint_override = http://127.0.0.1:9696
[cinder]
os_region_name = $AIO_REGION
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = 60
[libvirt]
virt_type = $AIO_VIRT_TYPE
cpu_mode = none
[vnc]
enabled = false
[spice]
enabled = false
[serial_console]
enabled = false
[image_cache]
# tests upload many images: drop cached bases (in instances/_base) 10 min after last use
manager_interval = 300
remove_unused_original_minimum_age_seconds = 600
remove_unused_resized_minimum_age_seconds = 600
[oslo_concurrency]
lock_path = /var/lib/nova/tmp
[oslo_messaging_notifications]
driver = noop
EOF

# Ceph: one mon, one mgr, one OSD (bluestore on a sparse file, no ceph-volume/LVM/kernel rbd),
# every pool of size 1, loopback only, auth none (Nova's libvirt disks then need no secret);
# the daemons run in the foreground under start.sh and log to stderr (their log files).
install -d -m 700 "$AIO_CEPH_DATA"
install -d -m 755 "$(dirname "$AIO_CEPH_CONF")"
[ -s "$AIO_CEPH_DATA/fsid" ] || uuidgen >"$AIO_CEPH_DATA/fsid"
put "$AIO_CEPH_CONF" root:root 644 ceph-mon ceph-mgr ceph-osd <<EOF
[global]
fsid = $(cat "$AIO_CEPH_DATA/fsid")
mon_host = [v2:127.0.0.1:3300,v1:127.0.0.1:6789]
public_addr = 127.0.0.1
public_network = 127.0.0.0/8
ms_bind_ipv6 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
run_dir = $AIO_RUN/ceph
log_to_file = false
mon_cluster_log_to_file = false
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_crush_chooseleaf_type = 0
osd_pool_default_pg_autoscale_mode = off
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
[mon]
admin_socket = $AIO_RUN/ceph/\$cluster-\$name.asok
log_to_stderr = true
err_to_stderr = true
mon_data = $AIO_CEPH_DATA/mon-\$id
mon_allow_pool_delete = true
# the host disk may be fuller than Ceph likes (the mon refuses to start below 5 % free)
mon_data_avail_warn = 1
mon_data_avail_crit = 0
auth_allow_insecure_global_id_reclaim = false
[mgr]
admin_socket = $AIO_RUN/ceph/\$cluster-\$name.asok
log_to_stderr = true
err_to_stderr = true
mgr_data = $AIO_CEPH_DATA/mgr-\$id
mgr_initial_modules = iostat
[osd]
admin_socket = $AIO_RUN/ceph/\$cluster-\$name.asok
log_to_stderr = true
err_to_stderr = true
osd_data = $AIO_CEPH_DATA/osd-\$id
osd_objectstore = bluestore
bluestore_block_path = $AIO_CEPH_DATA/osd-\$id/block.file
bluestore_block_create = true
# sparse: only written data takes host disk
bluestore_block_size = 21474836480
bluestore_block_db_create = false
bluestore_block_wal_create = false
osd_memory_target = 939524096
osd_op_num_shards = 1
osd_op_num_threads_per_shard = 2
osd_fast_shutdown = true
EOF

put /etc/cinder/cinder.conf root:cinder 640 cinder-api cinder-scheduler cinder-volume <<EOF
[DEFAULT]
transport_url = rabbit://guest:guest@127.0.0.1:5672/
auth_strategy = keystone
my_ip = 127.0.0.1
host = aio
state_path = /var/lib/cinder
osapi_volume_listen = 127.0.0.1
osapi_volume_listen_port = 8776
osapi_volume_workers = 1
glance_api_servers = http://127.0.0.1:9292
image_conversion_dir = /var/lib/cinder/conversion
enabled_backends = ceph
[database]
connection = $(db cinder cinder)
$(authtoken cinder)
$(svc_auth nova cinder)
interface = public
[ceph]
volume_driver = cinder.volume.drivers.rbd.RBDDriver
volume_backend_name = ceph
rbd_pool = volumes
rbd_ceph_conf = $AIO_CEPH_CONF
rbd_exclusive_cinder_pool = true
rados_connect_timeout = 30
[oslo_concurrency]
lock_path = /var/lib/cinder/tmp
[oslo_messaging_notifications]
driver = noop
EOF
install -d -o cinder -g cinder /var/lib/cinder /var/lib/cinder/tmp /var/lib/cinder/conversion

# Cinder (since the OSSA-2023-003 fix) lets only Nova delete the attachments Nova made, and
# knows Nova by a service token sent along with the user's. A file of its own (every nova
# service reads it after nova.conf, see lib.sh), so that nova.conf is the same as without Cinder.
put /etc/nova/nova-cinder.conf root:nova 640 nova-api nova-conductor nova-scheduler nova-compute <<EOF
$(svc_auth service_user nova)
send_service_user_token = true
EOF

# libvirt without D-Bus/polkit: the libvirt group (nova is in it) uses the socket directly.
block /etc/libvirt/libvirtd.conf libvirtd <<'EOF'
unix_sock_group = "libvirt"
unix_sock_ro_perms = "0777"
unix_sock_rw_perms = "0770"
auth_unix_ro = "none"
auth_unix_rw = "none"
listen_tls = 0
listen_tcp = 0
EOF
# namespaces = []: no private mount namespace per guest. This host's / is private (no
# systemd), so a guest started while a build elsewhere has an image mounted would keep a copy
# of that mount, and its loop device, alive until the guest stops.
block /etc/libvirt/qemu.conf libvirtd <<'EOF'
security_driver = "none"
namespaces = []
EOF
# libvirt's "default" NAT network would put dnsmasq on 192.168.122.1: never start it.
if [ -e /etc/libvirt/qemu/networks/autostart/default.xml ]; then
  rm -f /etc/libvirt/qemu/networks/autostart/default.xml
  log "disabled autostart of libvirt's default network"
fi
id -nG nova | grep -qw libvirt || usermod -aG libvirt nova
install -d -o glance -g glance /var/lib/glance/images /var/lib/glance/staging \
  /var/lib/glance/tasks /var/lib/glance/lock
install -d -o nova -g nova /var/lib/nova /var/lib/nova/instances /var/lib/nova/tmp

# clouds.yaml
clouds() {
  local name user project
  echo "clouds:"
  for c in aio-admin:admin:admin aio-a:provider-a:provider-a aio-b:provider-b:provider-b; do
    IFS=: read -r name user project <<<"$c"
    cat <<EOF
  $name:
    auth:
      auth_url: $AIO_KEYSTONE
      username: $user
      password: $P
      project_name: $project
      user_domain_name: Default
      project_domain_name: Default
    region_name: $AIO_REGION
    interface: public
    identity_api_version: 3
    image_api_version: 2
    compute_api_version: "2.37"
EOF
  done
}
clouds | put "$AIO_HOME/clouds.yaml" root:root 644
clouds | put /etc/openstack/clouds.yaml root:root 644
phase config "$t"

# running services whose configuration changed are restarted (start.sh starts them again)
if [ ${#RESTART[@]} -gt 0 ]; then
  mapfile -t RESTART < <(printf '%s\n' "${RESTART[@]}" | sort -u)
  torestart=()
  for n in "${RESTART[@]}"; do aio_running "$n" && torestart+=("$n"); done
  if [ ${#torestart[@]} -gt 0 ]; then
    log "configuration changed: restarting ${torestart[*]}"
    "$AIO_DIR/stop.sh" "${torestart[@]}"
  fi
fi

###########################################################################################
# 3. MariaDB, RabbitMQ, databases and schemas
###########################################################################################
t=$SECONDS
aio_start_one mariadb
aio_start_one epmd
aio_wait_ready mariadb
aio_wait_ready epmd
aio_start_one rabbitmq # comes up while the schemas are made
sql=""
for pair in keystone:keystone glance:glance placement:placement nova:nova_api nova:nova nova:nova_cell0 cinder:cinder; do
  u=${pair%%:*} d=${pair##*:}
  sql+="CREATE DATABASE IF NOT EXISTS $d;"
  for h in localhost 127.0.0.1; do
    sql+="CREATE USER IF NOT EXISTS '$u'@'$h' IDENTIFIED BY '$P'; ALTER USER '$u'@'$h' IDENTIFIED BY '$P';"
    sql+="GRANT ALL PRIVILEGES ON $d.* TO '$u'@'$h';"
  done
done
mysql -uroot -e "$sql" || die "creating the databases failed"

# A schema is synced when its stamp names the installed package version and the database
# has tables (the stamp alone could outlive a dropped database).
tables() { mysql -N -uroot -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='$1'"; }
ver() { dpkg-query -W -f='${Version}' "$1"; }
synced() { # name package db...
  local name=$1 pkg=$2 d
  shift 2
  [ "$(cat "$AIO_STATE/schema-$name" 2>/dev/null)" = "$(ver "$pkg")" ] || return 1
  for d in "$@"; do [ "$(tables "$d")" -gt 0 ] || return 1; done
}
as() { # user cmd...
  local u=$1
  shift
  setpriv --reuid="$u" --regid="$u" --init-groups -- env HOME=/var/lib/"$u" "$@"
}
sync_bg=()
if ! synced glance glance-common glance; then
  (as glance glance-manage db_sync && ver glance-common >"$AIO_STATE/schema-glance") \
    >"$AIO_LOGS/dbsync-glance.log" 2>&1 &
  sync_bg+=("$!:glance")
fi
if ! synced placement placement-common placement; then
  (as placement placement-manage db sync && ver placement-common >"$AIO_STATE/schema-placement") \
    >"$AIO_LOGS/dbsync-placement.log" 2>&1 &
  sync_bg+=("$!:placement")
fi
if ! synced nova nova-common nova_api nova nova_cell0; then
  (
    set -e
    as nova nova-manage api_db sync
    as nova nova-manage cell_v2 map_cell0
    cells=$(as nova nova-manage cell_v2 list_cells)
    grep -q ' cell1 ' <<<"$cells" || as nova nova-manage cell_v2 create_cell --name=cell1
    as nova nova-manage db sync
    ver nova-common >"$AIO_STATE/schema-nova"
  ) >"$AIO_LOGS/dbsync-nova.log" 2>&1 &
  sync_bg+=("$!:nova")
fi
if ! synced cinder cinder-common cinder; then
  (as cinder cinder-manage db sync && ver cinder-common >"$AIO_STATE/schema-cinder") \
    >"$AIO_LOGS/dbsync-cinder.log" 2>&1 &
  sync_bg+=("$!:cinder")
fi
if ! synced keystone keystone keystone || [ ! -f "$AIO_STATE/keystone-bootstrap" ]; then
  (
    set -e
    as keystone keystone-manage db_sync
    [ -d /etc/keystone/fernet-keys ] ||
      keystone-manage fernet_setup --keystone-user keystone --keystone-group keystone
    [ -d /etc/keystone/credential-keys ] ||
      keystone-manage credential_setup --keystone-user keystone --keystone-group keystone
    ver keystone >"$AIO_STATE/schema-keystone"
    as keystone keystone-manage bootstrap --bootstrap-password "$P" \
      --bootstrap-admin-url http://127.0.0.1:5000/v3/ \
      --bootstrap-internal-url http://127.0.0.1:5000/v3/ \
      --bootstrap-public-url http://127.0.0.1:5000/v3/ \
      --bootstrap-region-id "$AIO_REGION"
    touch "$AIO_STATE/keystone-bootstrap"
  ) >"$AIO_LOGS/dbsync-keystone.log" 2>&1 || {
    tail -20 "$AIO_LOGS/dbsync-keystone.log" >&2
    die "keystone schema/bootstrap failed (log: $AIO_LOGS/dbsync-keystone.log)"
  }
fi
for j in "${sync_bg[@]}"; do
  if ! wait "${j%%:*}"; then
    tail -20 "$AIO_LOGS/dbsync-${j##*:}.log" >&2
    die "${j##*:} schema sync failed (log: $AIO_LOGS/dbsync-${j##*:}.log)"
  fi
done
phase databases "$t"

###########################################################################################
# 3b. Ceph: create the monitor, the OSD (bluestore on a sparse file) and the pool once
###########################################################################################
t=$SECONDS
C=$AIO_CEPH_DATA
install -d -m 755 "$AIO_RUN/ceph"
if [ ! -e "$C/mon-a/done" ]; then
  rm -rf "$C/mon-a"
  monmaptool --create --clobber --fsid "$(cat "$C/fsid")" --addv a '[v2:127.0.0.1:3300,v1:127.0.0.1:6789]' \
    "$C/monmap" >"$AIO_LOGS/ceph-mkfs.log" 2>&1
  ceph-authtool --create-keyring "$C/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >>"$AIO_LOGS/ceph-mkfs.log" 2>&1
  ceph-mon -c "$AIO_CEPH_CONF" --mkfs -i a --monmap "$C/monmap" --keyring "$C/mon.keyring" \
    >>"$AIO_LOGS/ceph-mkfs.log" 2>&1 || die "ceph-mon --mkfs failed (log: $AIO_LOGS/ceph-mkfs.log)"
  touch "$C/mon-a/done"
fi
install -d -m 700 "$C/mgr-x" "$C/osd-0"
aio_start_one ceph-mon
aio_wait_ready ceph-mon
aio_start_one ceph-mgr
if [ ! -e "$C/osd-0/done" ]; then
  # "osd new" again with the same uuid (an earlier mkfs that did not finish) gives id 0 again
  [ -s "$C/osd-uuid" ] || uuidgen >"$C/osd-uuid"
  id=$(aio_ceph osd new "$(cat "$C/osd-uuid")" 2>>"$AIO_LOGS/ceph-mkfs.log") || die "ceph osd new failed"
  [ "$id" = 0 ] || die "ceph osd new gave id '$id', want 0"
  find "$C/osd-0" -mindepth 1 -delete
  ceph-osd -c "$AIO_CEPH_CONF" -i 0 --mkfs --osd-uuid "$(cat "$C/osd-uuid")" >>"$AIO_LOGS/ceph-mkfs.log" 2>&1 ||
    die "ceph-osd --mkfs failed (log: $AIO_LOGS/ceph-mkfs.log)"
  touch "$C/osd-0/done"
fi
aio_start_one ceph-osd
aio_wait_ready ceph-osd
if [ ! -e "$C/pool-volumes" ]; then
  aio_ceph osd pool ls | grep -qx volumes ||
    aio_ceph osd pool create volumes 8 8 >>"$AIO_LOGS/ceph-mkfs.log" 2>&1 || die "creating the pool volumes failed"
  timeout 60 rbd -c "$AIO_CEPH_CONF" pool init volumes >>"$AIO_LOGS/ceph-mkfs.log" 2>&1 || die "rbd pool init volumes failed"
  touch "$C/pool-volumes"
fi
aio_wait_ready ceph-mgr
phase ceph "$t"

###########################################################################################
# 4. identity (service users, catalog, provider projects and users, flavors), then the rest
###########################################################################################
t=$SECONDS
touch "$AIO_STATE/configured" # start.sh may run from here on
aio_admin_env
idstamp=$(cat "$AIO_DIR/aio.py" <(echo "$P") | sha256sum | cut -c1-16)
do_identity() {
  local n
  for n in rabbitmq keystone glance-api placement neutron-stub nova-api; do aio_start_one "$n"; done
  for n in rabbitmq keystone glance-api placement neutron-stub nova-api; do aio_wait_ready "$n"; done
  "$PY" "$AIO_DIR/aio.py" identity >"$AIO_LOGS/identity.log" 2>&1 || {
    tail -20 "$AIO_LOGS/identity.log" >&2
    die "creating projects/users/catalog failed (log: $AIO_LOGS/identity.log)"
  }
  echo "$idstamp" >"$AIO_STATE/identity"
}
[ "$(cat "$AIO_STATE/identity" 2>/dev/null)" = "$idstamp" ] || do_identity
phase identity "$t"

t=$SECONDS
"$AIO_DIR/start.sh"
phase start "$t"
if ! "$PY" "$AIO_DIR/aio.py" check "$AIO_HOME/clouds.yaml" >"$AIO_LOGS/check.log" 2>&1; then
  log "a cloud in clouds.yaml has no token: re-creating the identity objects"
  do_identity
  "$PY" "$AIO_DIR/aio.py" check "$AIO_HOME/clouds.yaml" || die "clouds.yaml credentials do not work"
fi
phase total
s=""
for k in packages config databases ceph identity start total; do s+=" $k=${PHASE[$k]}s"; done
echo "$(date '+%F %T') setup:$s" >>"$AIO_LOGS/timings.log"
log "setup done:$s"
log "clouds.yaml: /etc/openstack/clouds.yaml and $AIO_HOME/clouds.yaml (OS_CLOUD=aio-a | aio-b | aio-admin)"
log "logs: $AIO_LOGS; stop with $AIO_DIR/stop.sh"
