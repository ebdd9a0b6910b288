#!/usr/bin/env bash
# Starts or stops the six app-deployer services against the local stack
# (scripts/stack.sh up first).  Logs: $AD_STATE_DIR/logs/services/<name>.log
#
# Usage: services.sh up [BIN_DIR] | down | status
#   BIN_DIR defaults to build/bin.  Local repositories (file://, paths) are
#   allowed, as the demo and the tests deploy from this machine.  Clones of
#   non-public addresses are refused except AD_CLONE_ALLOWLIST's exact
#   host:port pairs (the demo's and the tests' local git server).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
STATE=$(ad_state_dir)
RUN=$STATE/run/services
LOGS=$STATE/logs/services
SERVICES=(coordinator analyzer builder provisioner deployer api)

binary() { [[ $1 == api ]] && echo adapi || echo "ad$1"; }

# started_ready SVC: the "ready" line is in what SVC logged since this start
# (from byte offset[SVC] of its log on).
started_ready() {
  tail -c +"$((${offset[$1]} + 1))" "$LOGS/$1.log" 2>/dev/null | grep -q '"msg":"ready"'
}

cmd_up() {
  local bin=${1:-$AD_REPO_ROOT/build/bin} svc pid http_port api_port i nats_var db_var no_key
  local -A offset=()
  [[ -f $STATE/env ]] || ad_die "no stack in $STATE: run scripts/stack.sh up first"
  # shellcheck disable=SC1091
  . "$STATE/env"
  mkdir -p "$RUN" "$LOGS"
  # AD_SECRETS_KEY, the key that seals env values, comes from the stack's env
  # (passed to the API and the deployer only, below).
  export AD_API_ALLOW_LOCAL_SOURCES=true AD_ANALYZER_ALLOW_LOCAL_SOURCES=true \
    AD_BUILDER_ALLOW_LOCAL_SOURCES=true
  export AD_API_CLONE_ALLOWLIST=${AD_API_CLONE_ALLOWLIST:-${AD_CLONE_ALLOWLIST:-}} \
    AD_ANALYZER_CLONE_ALLOWLIST=${AD_ANALYZER_CLONE_ALLOWLIST:-${AD_CLONE_ALLOWLIST:-}} \
    AD_BUILDER_CLONE_ALLOWLIST=${AD_BUILDER_CLONE_ALLOWLIST:-${AD_CLONE_ALLOWLIST:-}}
  for svc in "${SERVICES[@]}"; do
    if pid=$(ad_pid_from_file "$RUN/$svc.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null; then
      echo "$svc: already running (pid $pid)"
      continue
    fi
    # ad_pick_port's nameref must not share a name with its own locals.
    if [[ $svc == api ]]; then
      ad_pick_port api_port "${AD_API_PORT:-}"
      echo "$api_port" >"$RUN/api.port"
      http_port=$api_port
    else
      http_port=0
    fi
    # Each service's own NATS user and PostgreSQL role (scripts/stack.sh),
    # else the stack's URLs.
    nats_var=AD_NATS_URL_${svc^^}
    db_var=AD_DATABASE_URL_${svc^^}
    # The API (seals), the deployer (env values), the analyzer and the
    # builder (repository URL credentials) get the secrets key.
    no_key=()
    [[ $svc == api || $svc == deployer || $svc == analyzer || $svc == builder ]] ||
      no_key=(-u AD_SECRETS_KEY -u AD_SECRETS_OLD_KEYS)
    # Only the builder (pushes) and the deployer (pulls) get the registry's
    # password, and no service the tools' copies of it.
    no_key+=(-u AD_REGISTRY_NETRC -u REGISTRY_AUTH_FILE)
    [[ $svc == builder || $svc == deployer ]] || no_key+=(-u AD_REGISTRY_PASSWORD)
    # The log is appended to across runs: only what this start writes
    # counts, or an earlier run's "ready" line would pass for this one's.
    offset[$svc]=$(stat -c %s "$LOGS/$svc.log" 2>/dev/null || echo 0)
    AD_NATS_URL=${!nats_var:-$AD_NATS_URL} AD_DATABASE_URL=${!db_var:-$AD_DATABASE_URL} \
      AD_HTTP_PORT=$http_port \
      nohup env "${no_key[@]}" "$bin/$(binary "$svc")" >>"$LOGS/$svc.log" 2>&1 &
    echo $! >"$RUN/$svc.pid"
  done
  for svc in "${SERVICES[@]}"; do
    [[ -n ${offset[$svc]:-} ]] || continue # already running
    for ((i = 0; i < 300; i++)); do
      started_ready "$svc" && break
      pid=$(cat "$RUN/$svc.pid")
      kill -0 "$pid" 2>/dev/null || ad_die "$svc exited: see $LOGS/$svc.log"
      sleep 0.1
    done
    started_ready "$svc" || ad_die "$svc not ready in 30 s: see $LOGS/$svc.log"
  done
  api_port=$(cat "$RUN/api.port")
  echo "export ADCTL_API=http://127.0.0.1:$api_port" >"$RUN/env"
  echo "services up; API at http://127.0.0.1:$api_port (logs in $LOGS)"
}

cmd_down() {
  local svc pid
  for svc in "${SERVICES[@]}"; do
    [[ -f $RUN/$svc.pid ]] || continue
    pid=$(cat "$RUN/$svc.pid")
    ad_stop_pid "$svc" "$pid" || true
    rm -f "$RUN/$svc.pid"
  done
}

cmd_status() {
  local svc pid
  for svc in "${SERVICES[@]}"; do
    pid=$(cat "$RUN/$svc.pid" 2>/dev/null || true)
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
      echo "$svc: running (pid $pid)"
    else
      echo "$svc: stopped"
    fi
  done
}

case ${1:-} in
up)
  shift
  cmd_up "$@"
  ;;
down) cmd_down ;;
status) cmd_status ;;
*)
  echo "usage: services.sh up [BIN_DIR] | down | status" >&2
  exit 2
  ;;
esac
