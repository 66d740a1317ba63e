# shellcheck shell=bash
# lib.sh - shared by setup.sh, start.sh, stop.sh, status.sh and smoke.sh. Source it.
#
# Every daemon of the all-in-one cloud is started by these scripts themselves (PID 1 is not
# systemd on the machines this project runs on, and the Debian init scripts of the uwsgi
# services need AppArmor). Each one runs in its own session (setsid), so stopping it means
# signalling one process group; its pid file records the pid and its log is one file.

AIO_DIR=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
CHROMOGENIC_CACHE="${CHROMOGENIC_CACHE:-/var/cache/chromogenic}"
AIO_HOME="${AIO_HOME:-$CHROMOGENIC_CACHE/openstack-aio}"
AIO_LOGS="$AIO_HOME/logs"
AIO_RUN="$AIO_HOME/run"
AIO_STATE="$AIO_HOME/state"
AIO_PASSWORD="${AIO_PASSWORD:-chromogenic-aio}"
AIO_VIRT_TYPE="${AIO_VIRT_TYPE:-qemu}" # qemu = TCG; KVM does not work on these hosts
AIO_REGION=RegionOne
AIO_KEYSTONE=http://127.0.0.1:5000/v3
# Ceph (Cinder's back end): daemon data under the state directory (root only), ceph.conf where
# user cinder can read it. No cephx (auth none): see README.md.
AIO_CEPH_DATA="$AIO_STATE/ceph"
AIO_CEPH_CONF="$AIO_HOME/ceph/ceph.conf"
PY=/usr/bin/python3 # never a pyenv/venv python: the OpenStack libraries are Debian's
export DEBIAN_FRONTEND=noninteractive

# Services in start order. Fields: name|user|readiness check|seconds to wait
AIO_SERVICES=(
  "mariadb|mysql|aio_ready_mariadb|90"
  "epmd|rabbitmq|aio_ready_port 4369|30"
  "rabbitmq|rabbitmq|aio_ready_port 5672|120"
  "ceph-mon|root|aio_ready_ceph_mon|90"
  "ceph-mgr|root|aio_ready_ceph_mgr|150"
  "ceph-osd|root|aio_ready_ceph_osd|150"
  "keystone|keystone|aio_ready_http 5000 /v3|90"
  "glance-api|glance|aio_ready_http 9292 /versions|120"
  "placement|placement|aio_ready_http 8778 /|90"
  "neutron-stub|nobody|aio_ready_http 9696 /|30"
  "nova-api|nova|aio_ready_http 8774 /v2.1/|150"
  "cinder-api|cinder|aio_ready_http 8776 /|150"
  "virtlogd|root|aio_ready_path /run/libvirt/virtlogd-sock|30"
  "libvirtd|root|aio_ready_libvirt|60"
  "nova-conductor|nova|true|0"
  "nova-scheduler|nova|true|0"
  "nova-compute|nova|true|0"
  "cinder-scheduler|cinder|true|0"
  "cinder-volume|cinder|true|0"
)

log() { printf '[aio %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  printf '[aio %s] ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2
  exit 1
}
need_root() { [ "$(id -u)" -eq 0 ] || die "must run as root"; }
aio_dirs() { mkdir -p "$AIO_LOGS" "$AIO_RUN" "$AIO_STATE" && chmod 700 "$AIO_STATE"; }

# aio_lock: one setup at a time. Test binaries started together (go test -p N) each run
# setup.sh; apt and dpkg do not queue, and two runs would configure and start the same daemons.
# A second caller waits here for the first (bounded by AIO_LOCK_WAIT seconds, default 3600),
# then finds every step done. The lock is fd 197, which aio_start_one closes so that no daemon
# inherits it (a daemon holding it would make every later setup.sh wait forever).
AIO_LOCK="$AIO_HOME/setup.lock"
aio_lock() {
  exec 197>>"$AIO_LOCK"
  if ! flock -n 197; then
    log "another setup.sh holds $AIO_LOCK: waiting for it"
    flock -w "${AIO_LOCK_WAIT:-3600}" 197 || die "still locked after ${AIO_LOCK_WAIT:-3600}s: $AIO_LOCK"
    log "lock acquired: the other setup.sh finished"
  fi
}

# The command line of each service (printed one word a line, for mapfile).
aio_cmd() {
  local uw=(/usr/bin/uwsgi_python3 --master --processes 1 --threads 4 --lazy-apps --need-app
    --die-on-term --enable-threads --buffer-size 65535 --add-header "Connection: close")
  case "$1" in
  mariadb) printf '%s\n' /usr/sbin/mariadbd --user=mysql ;;
  epmd) printf '%s\n' /usr/bin/epmd -address 127.0.0.1 -port 4369 ;;
  rabbitmq) printf '%s\n' /usr/lib/rabbitmq/bin/rabbitmq-server ;; # not the wrapper in /usr/sbin: it hides the log
  keystone) printf '%s\n' "${uw[@]}" --http-socket 127.0.0.1:5000 --wsgi-file /usr/bin/keystone-wsgi-public ;;
  placement) printf '%s\n' "${uw[@]}" --http-socket 127.0.0.1:8778 --wsgi-file /usr/bin/placement-api ;;
  glance-api) printf '%s\n' /usr/bin/glance-api --config-file /etc/glance/glance-api.conf ;;
  neutron-stub) printf '%s\n' "$PY" "$AIO_DIR/neutron-stub.py" ;;
  nova-api | nova-conductor | nova-scheduler | nova-compute)
    printf '%s\n' "/usr/bin/$1" --config-file /etc/nova/nova.conf --config-file /etc/nova/nova-cinder.conf ;;
  virtlogd) printf '%s\n' /usr/sbin/virtlogd ;;
  ceph-mon) printf '%s\n' /usr/bin/ceph-mon -f -c "$AIO_CEPH_CONF" -i a ;;
  ceph-mgr) printf '%s\n' /usr/bin/ceph-mgr -f -c "$AIO_CEPH_CONF" -i x ;;
  ceph-osd) printf '%s\n' /usr/bin/ceph-osd -f -c "$AIO_CEPH_CONF" -i 0 ;;
  cinder-api | cinder-scheduler | cinder-volume) printf '%s\n' "/usr/bin/$1" --config-file /etc/cinder/cinder.conf ;;
  libvirtd) printf '%s\n' /usr/sbin/libvirtd ;;
  *) return 1 ;;
  esac
}

# Environment a service starts with (besides PATH/HOME/LANG).
aio_env() {
  case "$1" in
  epmd | rabbitmq)
    printf '%s\n' HOME=/var/lib/rabbitmq ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT=4369 \
      RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
      RABBITMQ_DIST_PORT=25672 RABBITMQ_LOG_BASE=/var/log/rabbitmq \
      "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}"
    ;;
  keystone) printf '%s\n' HOME=/var/lib/keystone ;;
  placement) printf '%s\n' HOME=/var/lib/placement ;;
  glance-api) printf '%s\n' HOME=/var/lib/glance ;;
  nova-*) printf '%s\n' HOME=/var/lib/nova ;;
  cinder-*) printf '%s\n' HOME=/var/lib/cinder ;;
  mariadb) printf '%s\n' HOME=/var/lib/mysql ;;
  *) printf '%s\n' HOME=/ ;;
  esac
}

aio_field() { # "spec" index
  local IFS='|' a
  read -r -a a <<<"$1"
  printf '%s' "${a[$2]}"
}
aio_spec() { # name -> spec line
  local s
  for s in "${AIO_SERVICES[@]}"; do [ "${s%%|*}" = "$1" ] && printf '%s' "$s" && return 0; done
  return 1
}

# Pid of a running service, from its pid file, checked against /proc (a stale pid file or a
# recycled pid is not "running").
aio_pid() {
  local f="$AIO_RUN/$1.pid" pid exe
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  [ -d "/proc/$pid" ] || return 1
  # a word its command line must contain (process titles may be rewritten, so not all of it)
  case "$1" in
  keystone) exe=keystone-wsgi-public ;;
  placement) exe=placement-api ;;
  neutron-stub) exe=neutron-stub.py ;;
  *) exe=$(aio_cmd "$1" | head -1) && exe=${exe##*/} ;;
  esac
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$exe" || return 1
  printf '%s' "$pid"
}
aio_running() { aio_pid "$1" >/dev/null; }

aio_start_one() {
  local name=$1 spec user cmd env pid home
  spec=$(aio_spec "$name") || die "unknown service $name"
  if aio_running "$name"; then return 0; fi
  user=$(aio_field "$spec" 1)
  mapfile -t cmd < <(aio_cmd "$name")
  mapfile -t env < <(aio_env "$name")
  home=$(printf '%s\n' "${env[@]}" | sed -n 's/^HOME=//p')
  [ -x "${cmd[0]}" ] || die "$name: ${cmd[0]} is not installed (run setup.sh)"
  case "$name" in
  mariadb) install -d -o mysql -g mysql /run/mysqld ;;
  libvirtd | virtlogd) install -d /run/libvirt ;;
  esac
  printf '\n===== %s start %s =====\n' "$(date '+%F %T')" "$name" >>"$AIO_LOGS/$name.log"
  if [ "$user" = root ]; then
    setsid env -i -C "${home:-/}" PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "${env[@]}" "${cmd[@]}" \
      </dev/null >>"$AIO_LOGS/$name.log" 2>&1 197>&- &
  else
    setsid setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups --reset-env -- \
      env -C "${home:-/}" PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 USER="$user" "${env[@]}" "${cmd[@]}" \
      </dev/null >>"$AIO_LOGS/$name.log" 2>&1 197>&- &
  fi
  pid=$!
  echo "$pid" >"$AIO_RUN/$name.pid"
  log "started $name (pid $pid, log $AIO_LOGS/$name.log)"
}

# Readiness checks: each returns 0 when the service answers.
aio_ready_port() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
aio_ready_path() { [ -S "$1" ]; }
aio_ready_http() { # port path: any HTTP status below 500 counts as "answers"
  local code
  code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$1$2" 2>/dev/null) || return 1
  [ "$code" -ge 200 ] && [ "$code" -lt 500 ]
}
aio_ready_mariadb() { mysqladmin --protocol=socket -uroot ping >/dev/null 2>&1; }
aio_ready_libvirt() { virsh -c qemu:///system version >/dev/null 2>&1; }
aio_ceph() { timeout 30 ceph -c "$AIO_CEPH_CONF" --connect-timeout 10 "$@"; }
aio_ready_ceph_mon() { aio_ceph mon stat >/dev/null 2>&1; }
aio_ready_ceph_mgr() { aio_ceph mgr stat -f json 2>/dev/null | grep -q '"available": *true'; }
aio_ready_ceph_osd() { aio_ceph osd stat -f json 2>/dev/null | grep -q '"num_up_osds": *1'; }

# Wait (bounded) until NAME answers; on timeout print its log tail and fail.
aio_wait_ready() {
  local name=$1 spec check secs t0
  spec=$(aio_spec "$name")
  check=$(aio_field "$spec" 2)
  secs=$(aio_field "$spec" 3)
  secs=$((secs * ${AIO_WAIT_FACTOR:-1}))
  t0=$SECONDS
  while ! $check; do
    # just started: its pid may not have exec'ed the daemon yet, so only "gone" counts here
    if ! aio_alive "$(cat "$AIO_RUN/$name.pid" 2>/dev/null || echo 0)" >/dev/null; then
      aio_tail "$name"
      die "$name exited during start-up (log: $AIO_LOGS/$name.log)"
    fi
    if [ $((SECONDS - t0)) -ge "$secs" ]; then
      aio_tail "$name"
      die "$name did not answer ($check) within ${secs}s (log: $AIO_LOGS/$name.log)"
    fi
    sleep 0.5
  done
}

aio_tail() {
  printf -- '----- last lines of %s -----\n' "$AIO_LOGS/$1.log" >&2
  tail -n "${2:-30}" "$AIO_LOGS/$1.log" >&2 2>/dev/null || true
  printf -- '-----\n' >&2
}

# Stop one service: SIGTERM to its process group, bounded wait, then SIGKILL. Erlang and
# libvirt put some children in sessions of their own, so the processes to wait for are the
# service's session plus all its descendants, taken before the signal.
aio_stop_one() {
  local name=$1 pid i secs=30 pids p
  case "$name" in mariadb | rabbitmq) secs=60 ;; esac
  if pid=$(aio_pid "$name"); then
    log "stopping $name (pid $pid)"
    pids=$(aio_service_pids "$pid" | tr '\n' ' ')
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < secs * 4; i++)); do
      aio_alive $pids >/dev/null || break
      sleep 0.25
    done
    if aio_alive $pids >/dev/null; then
      log "$name did not stop within ${secs}s: SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || true
      for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
      sleep 0.5
    fi
  fi
  rm -f "$AIO_RUN/$name.pid"
}
aio_alive() { # prints the pids given that still exist (zombies count as gone)
  local p st r=1
  for p in "$@"; do
    st=$(ps -o stat= -p "$p" 2>/dev/null) || continue
    case "$st" in Z*) continue ;; esac
    echo "$p"
    r=0
  done
  return $r
}

# Pids still alive in the session led by $1 (every service runs in its own session).
aio_session_pids() { ps -e -o pid=,sid= | awk -v s="$1" '$2 == s { print $1 }'; }
# The session of $1 plus every descendant of $1.
aio_service_pids() {
  ps -e -o pid=,ppid=,sid= | awk -v root="$1" '
    { pid[NR] = $1; ppid[NR] = $2; sid[NR] = $3 }
    END {
      keep[root] = 1
      for (changed = 1; changed; ) {
        changed = 0
        for (i = 1; i <= NR; i++)
          if (!(pid[i] in keep) && ((ppid[i] in keep) || sid[i] == root)) { keep[pid[i]] = 1; changed = 1 }
      }
      for (p in keep) print p
    }' | while read -r p; do [ -d "/proc/$p" ] && echo "$p"; done
}

# Pids of processes that belong to the cloud but live outside the services' sessions:
# guests started by libvirt, nova's privsep helpers (started via sudo, new session) and the
# epmd that Erlang starts by itself if ours is gone while RabbitMQ runs.
aio_stray_pids() {
  ps -e -o pid=,args= | awk '
    /qemu-system-[a-z0-9_]+ .*-name guest=instance-/ { print $1; next }
    /privsep-helper .*--config-file \/etc\/nova\// { print $1; next }
    /\/erts-[0-9.]+\/bin\/epmd -daemon/ { print $1; next }'
}

# All pids of the cloud: every service's session plus strays.
aio_all_pids() {
  local s n pid
  for s in "${AIO_SERVICES[@]}"; do
    n=${s%%|*}
    [ -s "$AIO_RUN/$n.pid" ] || continue
    pid=$(aio_pid "$n") || continue
    aio_service_pids "$pid"
  done
  aio_stray_pids
}

# Listening sockets of the cloud's processes that are NOT on loopback (should print nothing).
aio_nonloopback_listeners() {
  local pids
  pids=$(aio_all_pids | sort -u | tr '\n' ' ')
  [ -n "$pids" ] || return 0
  ss -Hlntup 2>/dev/null | awk -v pids=" $pids " '
    {
      local_=$5; n=split($0, parts, "pid=")
      for (i = 2; i <= n; i++) {
        p = parts[i]; sub(/[^0-9].*/, "", p)
        if (index(pids, " " p " ") && local_ !~ /^(127\.[0-9.]+|\[::1\]|\[::ffff:127\.[0-9.]+\]):/) { print; break }
      }
    }'
}

# Admin credentials for the python helper (aio.py).
aio_admin_env() {
  export OS_AUTH_URL=$AIO_KEYSTONE OS_USERNAME=admin OS_PASSWORD=$AIO_PASSWORD \
    OS_PROJECT_NAME=admin OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default \
    OS_REGION_NAME=$AIO_REGION OS_INTERFACE=public OS_IDENTITY_API_VERSION=3
}
