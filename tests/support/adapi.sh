# shellcheck shell=bash
# adapi_start BIN LOG [VAR=VALUE...]: starts BIN/adapi on a free port with
# that extra environment, logging to LOG (truncated first), and waits (30 s
# at most) for the "ready" line, which the API logs only once it serves.
# Sets started_pid, and started_port (empty when it did not come up).
# shellcheck disable=SC2034 # started_pid and started_port are for the caller
adapi_start() {
  local bin=$1 log=$2 i
  shift 2
  : >"$log"
  env AD_HTTP_PORT=0 "$@" "$bin/adapi" 2>"$log" &
  started_pid=$!
  for ((i = 0; i < 300; i++)); do
    grep -q '"msg":"ready"' "$log" && break
    sleep 0.1
  done
  started_port=$(sed -n 's/.*"msg":"ready".*"http_port":\([0-9]*\).*/\1/p' "$log" | head -1)
}

# The frame of a test script that runs its own adapi processes against the
# stack's PostgreSQL (test_jwt.sh, test_limits.sh, test_tls.sh):
#
#   apitest_init NAME BIN_DIR   needs the stack's environment; sets bin,
#                               work (a temporary directory), run (8 hex
#                               digits), team (NAME-run), failures=0, and
#                               the EXIT trap that stops every adapi
#                               started, deletes the teams and users named
#                               *-run (and runs $apitest_cleanup_sql first)
#                               and work
#   fail MESSAGE                counts a failure and goes on
#   apitest_api LOG [VAR=VALUE...]
#                               adapi_start, the process stopped at exit;
#                               sets api_pid, api_port ("" when it did not
#                               come up) and api (its http:// URL)
#   apitest_api_up LOG [VAR=VALUE...]
#                               the same, and the script stops (the log's
#                               tail shown) when it did not come up
#   apitest_stop                stops the adapi apitest_api started last
#   sql STATEMENT               runs it on the stack's database (-qAt)
#   apitest_finish              the verdict: exit 1 after any failure
# shellcheck disable=SC2034 # work, run, team, api... are for the caller
apitest_init() {
  local name=$1
  bin=${2:?usage: $(basename "$0") BIN_DIR}
  : "${AD_DATABASE_URL:?start the stack first (scripts/stack.sh up; source .stack/env)}"
  : "${AD_NATS_URL:?start the stack first}"
  work=$(mktemp -d)
  run=$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')
  team=$name-$run
  failures=0
  apitest_pids=()
  apitest_cleanup_sql=
  trap apitest_cleanup EXIT
}

apitest_cleanup() {
  local p
  for p in "${apitest_pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  psql "$AD_DATABASE_URL" -qAt >/dev/null 2>&1 <<SQL || true
$apitest_cleanup_sql
DELETE FROM audit_log WHERE team_id IN (SELECT id FROM teams WHERE name LIKE '%-$run');
DELETE FROM teams WHERE name LIKE '%-$run';
DELETE FROM users WHERE name LIKE '%-$run';
SQL
  rm -rf "$work"
}

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

apitest_api() {
  adapi_start "$bin" "$@"
  api_pid=$started_pid
  apitest_pids+=("$api_pid")
  api_port=$started_port
  api=http://127.0.0.1:$api_port
}

apitest_api_up() {
  apitest_api "$@"
  [[ -n $api_port ]] || { tail -n 5 "$1" >&2; echo "FAIL: adapi did not start" >&2; exit 1; }
}

apitest_stop() {
  if [[ -n ${api_pid:-} ]]; then
    kill "$api_pid" 2>/dev/null && wait "$api_pid" 2>/dev/null
    api_pid=
  fi
  return 0
}

sql() { psql "$AD_DATABASE_URL" -qAt -v ON_ERROR_STOP=1 -c "$1"; }

apitest_finish() {
  if ((failures > 0)); then
    echo "$failures failure(s)" >&2
    exit 1
  fi
  echo "all ok"
}
