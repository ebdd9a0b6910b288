# shellcheck shell=bash
# Shared helpers for the scripts in scripts/. Source it (it sets no shell
# options of its own; the callers use `set -euo pipefail`).

AD_REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# High range so nothing a developer already runs (5432, 4222, 5000, 80...)
# clashes with the stack.
AD_PORT_MIN=${AD_PORT_MIN:-14000}
AD_PORT_MAX=${AD_PORT_MAX:-15999}
# Ports handed out by this process but maybe not listening yet, so two
# servers started in one run never get the same port.
AD_RESERVED_PORTS=" "

ad_log() { printf '%s\n' "$*" >&2; }
ad_die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# ad_caddy_admin PATH [CURL_ARGS...]: a request to caddy's admin API at
# AD_CADDY_ADMIN_URL, http://HOST:PORT or unix:///SOCKET (the stack's).
ad_caddy_admin() {
  local path=$1
  shift
  if [[ ${AD_CADDY_ADMIN_URL:?} == unix://* ]]; then
    curl --unix-socket "${AD_CADDY_ADMIN_URL#unix://}" "$@" "http://localhost$path"
  else
    curl "$@" "$AD_CADDY_ADMIN_URL$path"
  fi
}

ad_state_dir() { printf '%s\n' "${AD_STATE_DIR:-$AD_REPO_ROOT/.stack}"; }

# Cache shared by every state dir (the base rootfs tar is ~180 MB and the
# podman image store is machine-wide anyway).
ad_cache_dir() { printf '%s\n' "${AD_CACHE_DIR:-/var/cache/app-deployer}"; }

# ad_port_in_use PORT: something listens on PORT (any local address).
ad_port_in_use() {
  local port=$1
  if command -v ss >/dev/null 2>&1 &&
    [[ -n $(ss -Hltn "sport = :$port" 2>/dev/null) ]]; then
    return 0
  fi
  # Fallback when ss is missing, and a second opinion on 127.0.0.1.
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    return 0
  fi
  return 1
}

ad_port_usable() {
  local port=$1
  [[ $port =~ ^[0-9]+$ ]] || return 1
  [[ $AD_RESERVED_PORTS != *" $port "* ]] || return 1
  ! ad_port_in_use "$port"
}

# ad_pick_port VAR [PREFERRED]: set VAR to a free port, PREFERRED if it is
# still free (keeps URLs stable across restarts), else a random one in range.
ad_pick_port() {
  local -n _ad_out=$1
  local pref=${2:-} range=$((AD_PORT_MAX - AD_PORT_MIN + 1)) start i port=""
  if [[ -n $pref ]] && ad_port_usable "$pref"; then
    port=$pref
  else
    start=$(((RANDOM * 32768 + RANDOM) % range))
    for ((i = 0; i < range; i++)); do
      port=$((AD_PORT_MIN + (start + i) % range))
      ad_port_usable "$port" && break
      port=""
    done
  fi
  [[ -n $port ]] || ad_die "no free TCP port in $AD_PORT_MIN-$AD_PORT_MAX"
  AD_RESERVED_PORTS+="$port "
  _ad_out=$port
}

# ad_alive PID: the process exists and is not a zombie (our servers are
# reparented to PID 1, which may reap them late; a zombie still answers
# kill -0).
ad_alive() {
  local stat
  kill -0 "$1" 2>/dev/null || return 1
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

# ad_pid_from_file FILE: print the pid if FILE names a live process.
ad_pid_from_file() {
  local file=$1 pid
  [[ -f $file ]] || return 1
  read -r pid <"$file" || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  ad_alive "$pid" || return 1
  printf '%s\n' "$pid"
}

# ad_log_tail FILE: last lines of FILE since the last "=== " start marker
# (logs are appended across restarts), to stderr.
ad_log_tail() {
  [[ -r $1 ]] || return 0
  tac "$1" | sed '/^=== /q' | tac | tail -n 20 | sed 's/^/  | /' >&2
}

# ad_wait_for NAME TIMEOUT_S PID LOGFILE CMD...: poll CMD until it succeeds.
# Fails early (with the log tail) when PID dies, so a crash is not reported
# as a timeout. PID may be empty when there is no process to watch.
ad_wait_for() {
  local name=$1 timeout=$2 pid=$3 logfile=$4
  shift 4
  local deadline=$((SECONDS + timeout))
  while ! "$@" >/dev/null 2>&1; do
    if [[ -n $pid ]] && ! ad_alive "$pid"; then
      ad_log "error: $name exited during startup; see $logfile:"
      ad_log_tail "$logfile"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      ad_log "error: $name not ready after ${timeout}s; see $logfile:"
      ad_log_tail "$logfile"
      return 1
    fi
    sleep 0.2
  done
}

# ad_stop_pid NAME PID [TIMEOUT_S] [SIGNAL]: polite signal, then SIGKILL.
ad_stop_pid() {
  local name=$1 pid=$2 timeout=${3:-20} sig=${4:-TERM} deadline
  ad_alive "$pid" || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  deadline=$((SECONDS + timeout))
  while ad_alive "$pid"; do
    if ((SECONDS >= deadline)); then
      ad_log "warning: $name (pid $pid) ignored SIG$sig for ${timeout}s; killing"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
      break
    fi
    sleep 0.1
  done
}

# ad_hard_nofile: the hard open-files limit as a number (podman's default
# ulimits must stay within it: no CAP_SYS_RESOURCE on this machine kind).
ad_hard_nofile() {
  local n
  n=$(ulimit -Hn)
  [[ $n == unlimited ]] && n=1048576
  printf '%s\n' "$n"
}

# ad_engine_store_repair: removes the images an engine killed mid-write
# left half-written in podman's store (a record without its manifest).
# Until they go, podman answers every image list, and every inspect or
# build that meets them, with 'locating item named "manifest" for image
# with ID "<id>" (consider removing the image ...)'.  The services remove
# such an image when a call meets it (common/src/engine.c); this keeps the
# podman CLI working for the scripts.  About 2 s on a store of 160 images.
ad_engine_store_repair() {
  local i out id
  for ((i = 0; i < 20; i++)); do
    out=$(podman images -q 2>&1 >/dev/null) && return 0
    id=$(grep -oE 'locating item named "[^"]*" for image with ID "[0-9a-f]{64}"' <<<"$out" |
      grep -oE '[0-9a-f]{64}"$' | tr -d '"' | head -n 1) || true
    [[ -n $id ]] || return 0
    ad_log "engine store: removing image ${id:0:12}, left half-written by an engine stopped mid-write"
    # Several names make podman ask for force, which would also remove the
    # containers made from it: only when there are none.
    podman rmi "$id" >/dev/null 2>&1 ||
      { ! podman ps -a --no-trunc --format '{{.ImageID}}' | grep -q "$id" &&
        podman rmi -f "$id" >/dev/null 2>&1; } || return 0
  done
}

# ad_write_containers_conf FILE: podman/buildah config that works on hosts
# without systemd, with cgroup v1 hybrid (crun refuses it) and without
# CAP_SYS_RESOURCE (ulimits above the hard limit fail in setrlimit).
ad_write_containers_conf() {
  local file=$1 nofile tmp
  nofile=$(ad_hard_nofile)
  tmp=$(mktemp "$file.XXXXXX")
  cat >"$tmp" <<EOF
# Written by scripts/lib.sh (app-deployer). Used through CONTAINERS_CONF.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=4096:4096"]

[network]
# netavark, not CNI: podman's CNI backend runs every plugin of every
# network (bridge, portmap, firewall, tuning: 4 processes a network) on the
# first network call after any network is made or removed, 40-120 ms on
# the deploy path and more with every app (docs/benchmarks.md).
network_backend = "netavark"
# The default network (where build steps run) on a subnet of its own: a
# host that ran podman with CNI keeps that backend's bridge, cni-podman0,
# on podman's usual 10.88.0.0/16, which would take the route.
default_subnet = "10.90.0.0/16"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
# No journald without systemd.
events_logger = "file"
EOF
  mv -f "$tmp" "$file"
}

# ad_write_registries_conf FILE [INSECURE_REGISTRY]: never resolve short
# names against public registries (unreachable), and allow plain HTTP to the
# local registry so pushes through the Docker API work.
ad_write_registries_conf() {
  local file=$1 registry=${2:-} tmp
  tmp=$(mktemp "$file.XXXXXX")
  {
    echo '# Written by scripts/lib.sh (app-deployer). Used through CONTAINERS_REGISTRIES_CONF.'
    echo 'unqualified-search-registries = []'
    echo 'short-name-mode = "permissive"'
    if [[ -n $registry ]]; then
      printf '\n[[registry]]\nlocation = "%s"\ninsecure = true\n' "$registry"
    fi
  } >"$tmp"
  mv -f "$tmp" "$file"
}
