#!/usr/bin/env bash
# Every service binary, against the real stack:
#  - starts, connects to NATS and PostgreSQL, logs one JSON "ready" line,
#    answers /healthz on its own port, and exits 0 on SIGTERM;
#  - with a malformed config.yaml says which file, line and key, exit 2;
#  - with NATS or PostgreSQL down says so and exits 1 (after retrying).
# Usage: services_start.sh BIN_DIR
set -euo pipefail
bin=${1:?usage: services_start.sh BIN_DIR}
: "${AD_NATS_URL:?start the stack first (scripts/stack.sh up; source .stack/env)}"
: "${AD_DATABASE_URL:?start the stack first}"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
failures=0
# A clean bus: the services started here must not act on what earlier
# tests left in the stream.
"$bin/../tests/ad_test_bus_reset"
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# wait_for_log FILE PATTERN SECONDS
wait_for_log() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

for svc in api coordinator analyzer builder provisioner deployer; do
  exe=$bin/ad$svc
  log=$work/$svc.log
  AD_HTTP_PORT=0 "$exe" >"$log" 2>&1 &
  pid=$!
  if ! wait_for_log "$log" '"msg":"ready"' 30; then
    fail "$svc: no ready line in 30 s"
    cat "$log" >&2
    kill "$pid" 2>/dev/null || true
    continue
  fi
  ready=$(grep '"msg":"ready"' "$log" | head -1)
  port=$(sed -n 's/.*"http_port":\([0-9]*\).*/\1/p' <<<"$ready")
  [[ $(grep -c '"msg":"ready"' "$log") == 1 ]] || fail "$svc: more than one ready line"
  [[ $ready == *'"service":"'$svc'"'* ]] || fail "$svc: ready line does not name the service: $ready"
  body=$(curl -fsS "http://127.0.0.1:$port/healthz") || fail "$svc: /healthz did not answer 200"
  [[ $body == *'"status":"ok"'* ]] || fail "$svc: /healthz body: $body"
  [[ $body == *'"nats":"connected"'* ]] || fail "$svc: /healthz does not report NATS: $body"
  [[ $body == *'"database":"connected"'* ]] || fail "$svc: /healthz does not report PostgreSQL: $body"
  curl -fsS "http://127.0.0.1:$port/metrics" >/dev/null || fail "$svc: /metrics did not answer"
  if [[ $svc != api ]]; then
    # The workers' port is the probe server (no libmicrohttpd, which
    # tests/unit/layering.sh checks): GET and HEAD only, a bounded head, a
    # JSON error otherwise.
    curl -fsS -D "$work/h" -o /dev/null "http://127.0.0.1:$port/metrics" || fail "$svc: /metrics"
    grep -qi '^Content-Type: text/plain; version=0.0.4' "$work/h" || fail "$svc: /metrics type: $(cat "$work/h")"
    grep -qi '^Connection: close' "$work/h" || fail "$svc: /metrics is not Connection: close"
    code=$(curl -sS -o "$work/b" -w '%{http_code}' -X POST -d '{}' "http://127.0.0.1:$port/healthz")
    if [[ $code != 405 ]] || ! grep -q '"code":"method_not_allowed"' "$work/b"; then
      fail "$svc: POST /healthz gave $code $(cat "$work/b")"
    fi
    code=$(curl -sS -o "$work/b" -w '%{http_code}' -H "X-Pad: $(head -c 9000 /dev/zero | tr '\0' a)" \
      "http://127.0.0.1:$port/healthz")
    if [[ $code != 431 ]] || ! grep -q '"code":"header_too_large"' "$work/b"; then
      fail "$svc: a 9 KB head gave $code $(cat "$work/b")"
    fi
    code=$(curl -sS -o /dev/null -w '%{http_code}' -I "http://127.0.0.1:$port/healthz")
    [[ $code == 200 ]] || fail "$svc: HEAD /healthz gave $code"
    # It ran itself again with GnuTLS's implicit initialisation off
    # (common/src/service.c): the environment it was exec'ed with says so.
    tr '\0' '\n' <"/proc/$pid/environ" | grep -qx 'GNUTLS_NO_IMPLICIT_INIT=1' ||
      fail "$svc: not re-executed with GNUTLS_NO_IMPLICIT_INIT=1"
    code=$(curl -sS -o "$work/b" -w '%{http_code}' "http://127.0.0.1:$port/nope")
    if [[ $code != 404 ]] || ! grep -q '"code":"not_found"' "$work/b"; then
      fail "$svc: /nope gave $code"
    fi
  fi
  kill -TERM "$pid"
  rc=0
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    fail "$svc: still running 15 s after SIGTERM"
    kill -KILL "$pid"
  fi
  wait "$pid" || rc=$?
  [[ $rc == 0 ]] || fail "$svc: exit code $rc after SIGTERM"
  grep -q '"msg":"stopped"' "$log" || fail "$svc: no stopped line"
  # Every line on stderr is one JSON object.
  while IFS= read -r line; do
    [[ $line == '{'*'}' ]] || fail "$svc: log line is not JSON: $line"
  done <"$log"
  echo "ok: $svc started (port $port), answered /healthz, stopped on SIGTERM"
done

# A first run: all six services start at the same moment on an empty
# database (as the demo does on a fresh machine); each migrates at start-up
# and every one must come up.  Several rounds, a new database each.
# The stack's URL minus its database name; its options (?sslmode=...) kept.
base_url=${AD_DATABASE_URL%%\?*}
url_opts=${AD_DATABASE_URL#"$base_url"}
base_url=${base_url%/*}
for round in 1 2 3; do
  db=adfirst_$$_$round
  psql -q "$AD_DATABASE_URL" -c "CREATE DATABASE $db" >/dev/null
  pids=()
  for svc in api coordinator analyzer builder provisioner deployer; do
    AD_DATABASE_URL=$base_url/$db$url_opts AD_HTTP_PORT=0 "$bin/ad$svc" >"$work/first-$svc.log" 2>&1 &
    pids+=($!)
  done
  for svc in api coordinator analyzer builder provisioner deployer; do
    if ! wait_for_log "$work/first-$svc.log" '"msg":"ready"' 30; then
      fail "first run $round: $svc did not start on an empty database"
      cat "$work/first-$svc.log" >&2
    fi
  done
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  n=$(psql -tAq "$base_url/$db$url_opts" -c "SELECT count(*) FROM schema_migrations")
  [[ $n -ge 4 ]] || fail "first run $round: $n migrations recorded"
  psql -q "$AD_DATABASE_URL" -c "DROP DATABASE $db WITH (FORCE)" >/dev/null
done
echo "ok: six services started together on an empty database, 3 times"

# A malformed configuration: the message names file, line and key.
printf 'nats:\n  url: nats://127.0.0.1:4222\n  replicas: lots\n' >"$work/bad.yaml"
rc=0
# (The stack's env may set AD_NATS_REPLICAS, which would win over the file.)
out=$(env -u AD_NATS_REPLICAS "$bin/adcoordinator" --config "$work/bad.yaml" 2>&1) || rc=$?
[[ $rc == 2 ]] || fail "bad config: exit code $rc, want 2"
[[ $out == *"bad.yaml:3"*"nats.replicas"* ]] || fail "bad config: message lacks file:line and key: $out"
printf 'nats: [unclosed\n' >"$work/syntax.yaml"
rc=0
out=$("$bin/adanalyzer" --config "$work/syntax.yaml" 2>&1) || rc=$?
[[ $rc == 2 ]] || fail "YAML syntax error: exit code $rc, want 2"
[[ $out == *"syntax.yaml:"*"invalid YAML"* ]] || fail "YAML syntax error: message: $out"
printf 'nats:\n  ulr: x\n' >"$work/typo.yaml"
rc=0
out=$("$bin/adbuilder" --config "$work/typo.yaml" 2>&1) || rc=$?
[[ $rc == 2 && $out == *"typo.yaml:2"*"unknown key"*"nats.ulr"* ]] || fail "unknown key: rc $rc: $out"
rc=0
out=$("$bin/adprovisioner" --config "$work/missing.yaml" 2>&1) || rc=$?
[[ $rc == 2 && $out == *"missing.yaml"* ]] || fail "missing config file: rc $rc: $out"
# An API reachable from the network without tokens does not start.
rc=0
out=$(AD_HTTP_BIND=0.0.0.0 AD_HTTP_PORT=0 AD_API_TOKENS='' "$bin/adapi" 2>&1) || rc=$?
[[ $rc == 2 && $out == *"http.bind is 0.0.0.0 but api.tokens is empty"* ]] ||
  fail "adapi on 0.0.0.0 without tokens: rc $rc: $out"
rc=0
out=$(AD_API_TOKENS='ci:not-hex' "$bin/adapi" 2>&1) || rc=$?
[[ $rc == 2 && $out == *"api.tokens: entry 1"* ]] || fail "adapi with a malformed token: rc $rc: $out"
echo "ok: malformed configurations are reported with file, line and key"

# Dependencies down: retried with backoff, then a clear message and exit 1.
rc=0
out=$(AD_NATS_URL=nats://127.0.0.1:1 AD_NATS_CONNECT_TIMEOUT_S=2 "$bin/addeployer" 2>&1) || rc=$?
[[ $rc == 1 ]] || fail "NATS down: exit code $rc, want 1"
[[ $out == *"retrying with backoff"* && $out == *"NATS unreachable after"* ]] || fail "NATS down: message: $out"
rc=0
out=$(AD_DATABASE_URL='postgresql://x@127.0.0.1:1/x' AD_DATABASE_CONNECT_TIMEOUT_S=2 "$bin/adcoordinator" 2>&1) || rc=$?
[[ $rc == 1 ]] || fail "PostgreSQL down: exit code $rc, want 1"
[[ $out == *"PostgreSQL unreachable after"* ]] || fail "PostgreSQL down: message: $out"
echo "ok: unreachable NATS and PostgreSQL are retried, then reported, exit 1"

if ((failures > 0)); then
  echo "$failures failure(s)" >&2
  exit 1
fi
