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
