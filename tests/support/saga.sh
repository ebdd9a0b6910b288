# Shared by tests/integration/test_faults.sh and tests/e2e/chaos.sh (sourced):
# starts and kills single service processes (replicas, faults armed per
# process), serves example apps over git, and reads the state the saga
# leaves in PostgreSQL, the container engine, caddy and the registry.
# Needs: bin (the build's bin dir), root (the repository), a stack env.
# shellcheck shell=bash
# bin and root come from the caller; exit_status, SAGA_SERVICES, git_port
# and gitd are for it.
# shellcheck disable=SC2154,SC2034

. "$root/scripts/lib.sh"
. "$root/tests/support/git_repos.sh"
: "${AD_STATE_DIR:?start the stack first (scripts/stack.sh up; . .stack/env)}"
# shellcheck disable=SC1091
. "$AD_STATE_DIR/env"

saga_work=$(mktemp -d)
saga_logs=$AD_STATE_DIR/logs/${SAGA_TEST:-saga}
mkdir -p "$saga_logs" "$saga_work/pids"
rm -f "$saga_logs"/*.log # counts of log lines are per run
# What scripts/services.sh sets for the services.
export AD_API_ALLOW_LOCAL_SOURCES=true AD_ANALYZER_ALLOW_LOCAL_SOURCES=true \
  AD_BUILDER_ALLOW_LOCAL_SOURCES=true
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

binary_of() { [[ $1 == api ]] && echo adapi || echo "ad$1"; }
svc_log() { echo "$saga_logs/$1-$2.log"; }
svc_pid() { cat "$saga_work/pids/$1-$2" 2>/dev/null || true; }
svc_alive() { local p; p=$(svc_pid "$1" "$2"); [[ -n $p ]] && kill -0 "$p" 2>/dev/null; }

ready_lines() { if [[ -f $1 ]]; then grep -c '"msg":"ready"' "$1" || true; else echo 0; fi; }

# svc_start NAME REPLICA [VAR=VALUE...]: starts one process, waits until
# it is ready.  An API replica keeps its port across restarts.
svc_start() {
  local name=$1 r=$2 log http_port=0 ready i pid
  shift 2
  log=$(svc_log "$name" "$r")
  if [[ $name == api ]]; then
    if [[ -f $saga_work/api-$r.port ]]; then
      http_port=$(cat "$saga_work/api-$r.port")
    else
      # ad_pick_port's nameref must not share a name with its own locals.
      ad_pick_port http_port
      echo "$http_port" >"$saga_work/api-$r.port"
    fi
  fi
  ready=$(ready_lines "$log")
  env AD_HTTP_PORT="$http_port" "$@" "$bin/$(binary_of "$name")" >>"$log" 2>&1 &
  pid=$!
  echo "$pid" >"$saga_work/pids/$name-$r"
  for ((i = 0; i < 600; i++)); do
    (($(ready_lines "$log") > ready)) && return 0
    kill -0 "$pid" 2>/dev/null || {
      echo "$name-$r exited at start: $(tail -n 3 "$log")" >&2
      return 1
    }
    sleep 0.1
  done
  echo "$name-$r not ready in 60 s" >&2
  return 1
}

# svc_wait_exit NAME REPLICA [SECONDS]: sets exit_status to the process's
# exit status (255 when it still runs after SECONDS).  Not in a subshell:
# only the shell that started the process can reap it.
svc_wait_exit() {
  local pid i
  pid=$(svc_pid "$1" "$2")
  exit_status=255
  for ((i = 0; i < ${3:-120} * 10; i++)); do
    [[ $(ps -o stat= -p "$pid" 2>/dev/null) == Z* || -z $(ps -o stat= -p "$pid" 2>/dev/null) ]] && break
    sleep 0.1
  done
  [[ $(ps -o stat= -p "$pid" 2>/dev/null) == Z* || -z $(ps -o stat= -p "$pid" 2>/dev/null) ]] || return 0
  exit_status=0
  wait "$pid" 2>/dev/null || exit_status=$?
}

svc_kill9() {
  local pid
  pid=$(svc_pid "$1" "$2")
  [[ -n $pid ]] || return 0
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

svc_stop_all() {
  local f pid
  for f in "$saga_work"/pids/*; do
    [[ -f $f ]] || continue
    pid=$(cat "$f")
    ad_stop_pid "$(basename "$f")" "$pid" 20 || true
  done
}

SAGA_SERVICES=(coordinator analyzer builder provisioner deployer api)

# A git daemon serving copies of examples as repositories.
saga_git_start() {
  mkdir -p "$saga_work/git"
  git_daemon_start "$saga_work/git" "$saga_work/git-daemon.log"
}
saga_repo() { # NAME EXAMPLE|DIR -> prints the repository's URL
  local src=$2
  [[ $src == /* ]] || src=$root/examples/$src
  git_repo_from "$saga_work/git/$1" "$src"
  echo "git://127.0.0.1:$git_port/$1"
}

saga_cleanup() {
  svc_stop_all
  if [[ -n ${gitd:-} ]]; then kill "$gitd" 2>/dev/null || true; fi
  rm -rf "$saga_work"
}

q() { psql "$AD_DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

# saga_wait_quiet [SECONDS]: waits (default 300 s) until no deployment is in
# flight.  An earlier test's deletions are durable sagas that the services
# started here carry on; a fault armed for a step must not fire on those.
saga_wait_quiet() {
  local i n=0
  for ((i = 0; i < ${1:-300}; i++)); do
    n=$(q "SELECT count(*) FROM deployments WHERE status NOT IN ('EXPOSED', 'SUPERSEDED', 'ROLLED_BACK', 'DESTROYED', 'FAILED')")
    ((n == 0)) && return 0
    sleep 1
  done
  echo "warning: $n deployment(s) still in flight after ${1:-300} s" >&2
}

# api_post_deploy PORT REPO_URL APP KEY -> prints the deployment id (the
# Idempotency-Key makes a retry against another replica safe).
api_post_deploy() {
  curl -fsS --max-time 20 -H 'Content-Type: application/json' -H "Idempotency-Key: $4" \
    -d "$(jq -cn --arg r "$2" --arg n "$3" '{repo_url: $r, name: $n}')" \
    "http://127.0.0.1:$1/deployments" | jq -er .id
}

status_of() { q "SELECT status FROM deployments WHERE id = '$1'"; }
# wait_final ID [SECONDS] -> the final status (or the last one seen)
wait_final() {
  local s i
  for ((i = 0; i < ${2:-300}; i++)); do
    s=$(status_of "$1" 2>/dev/null || true)
    case $s in EXPOSED | ROLLED_BACK | DESTROYED) echo "$s"; return 0 ;; esac
    sleep 1
  done
  echo "${s:-none}"
}

engine() { curl -fsS --unix-socket "$AD_ENGINE_SOCKET" "http://d/v1.41$1"; }
uri() { jq -rn --arg s "$1" '$s|@uri'; }
# Containers labelled as app APP (running only unless ALL=1).
app_containers() {
  engine "/containers/json?all=${2:-0}&filters=$(uri "{\"label\":[\"app-deployer.app=$1\"]}")" | jq length
}
# Every app name on a container, network or route of the engine / caddy.
engine_container_apps() {
  engine "/containers/json?all=1&filters=$(uri '{"label":["app-deployer.app"]}')" |
    jq -r '.[].Labels["app-deployer.app"]'
}
engine_network_apps() {
  engine "/networks?filters=$(uri '{"label":["app-deployer.app"]}')" |
    jq -r '.[].Labels["app-deployer.app"]'
}
caddy_route_apps() {
  ad_caddy_admin /config/apps/http/servers/apps/routes -fsS |
    jq -r '(. // [])[]["@id"] // empty' | sed -n 's/^ad-route-//p'
}
registry_tags() { # APP -> its tags, one a line
  curl -fsS --netrc-file "$AD_REGISTRY_NETRC" "http://$AD_REGISTRY_ADDRESS/v2/$1/tags/list" 2>/dev/null | jq -r '(.tags // [])[]' || true
}
registry_repos() {
  curl -fsS --netrc-file "$AD_REGISTRY_NETRC" "http://$AD_REGISTRY_ADDRESS/v2/_catalog?n=1000" | jq -r '(.repositories // [])[]'
}
# Rows of the coordinator's event log for deployment ID and SUBJECT.
event_rows() { q "SELECT count(*) FROM event_log WHERE deployment_id = '$1' AND subject = '$2' ${3:-}"; }

# Fails the test for any sanitizer report in the services' logs.
saga_check_sanitizers() {
  local hits
  hits=$(grep -l 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$saga_logs"/*.log 2>/dev/null || true)
  [[ -z $hits ]] || fail "sanitizer reports in: $hits"
}
