#!/usr/bin/env bash
# The Host header check against DNS rebinding (issue 13) against a real
# adapi (subprocess on a free port) and the stack's PostgreSQL:
#  - the anonymous loopback mode (no api.tokens) answers a request naming
#    another host with 421 and the reason, on every route, and serves
#    the loopback names (127.0.0.1, localhost, [::1]) and api.allowed_hosts;
#  - with api.tokens the check is off unless api.allowed_hosts is set;
#  - a bad api.allowed_hosts stops the API with the reason.
# Usage: test_rebinding.sh BIN_DIR
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../support/adapi.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/adapi.sh"
bin=${1:?usage: test_rebinding.sh BIN_DIR}
: "${AD_DATABASE_URL:?start the stack first (scripts/stack.sh up; source .stack/env)}"
work=$(mktemp -d)
api_pid=
stop_api() {
  if [[ -n $api_pid ]]; then
    kill "$api_pid" 2>/dev/null && wait "$api_pid" 2>/dev/null
    api_pid=
  fi
  return 0
}
cleanup() {
  stop_api
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
start_api() {
  adapi_start "$bin" "$@"
  api_pid=$started_pid
  [[ -n $started_port ]] || { tail -n 5 "$1" >&2; echo "FAIL: adapi did not start" >&2; exit 1; }
  port=$started_port
}
# req HOST METHOD PATH [AUTH]: sets code, the reply in $work/r.json.
req() {
  local auth=()
  [[ -n ${4:-} ]] && auth=(-H "Authorization: Bearer $4")
  code=$(curl -s -o "$work/r.json" -w '%{http_code}' -X "$2" -H "Host: $1" "${auth[@]}" \
    "http://127.0.0.1:$port$3")
}
expect() { # WANT WHAT
  [[ $code == "$1" ]] || fail "$2: HTTP $code, want $1: $(head -c 300 "$work/r.json")"
}

# ---- the anonymous loopback mode ----
start_api "$work/api1.log"
grep -q '"msg":"checking the Host header"' "$work/api1.log" || fail "the anonymous mode does not check Host"
for h in "evil.example:$port" "evil.example" "127.0.0.1.nip.example:$port" "localhost.evil.example"; do
  req "$h" GET /deployments
  expect 421 "Host $h in the anonymous mode"
done
jq -e '.error.code == "misdirected_request" and (.error.message | test("api.allowed_hosts"))' "$work/r.json" >/dev/null ||
  fail "the 421's reason: $(cat "$work/r.json")"
req "evil.example" POST /deployments
expect 421 "a change from a rebinding page"
req "evil.example" DELETE "/apps/shop"
expect 421 "a delete from a rebinding page"
for h in "127.0.0.1:$port" "localhost:$port" "LOCALHOST" "[::1]:$port" "api.localhost:$port"; do
  req "$h" GET /deployments
  expect 200 "Host $h in the anonymous mode"
done
stop_api
start_api "$work/api2.log" AD_API_ALLOWED_HOSTS="deploy.example.test, *.corp.example"
req "deploy.example.test:$port" GET /deployments
expect 200 "a name of api.allowed_hosts"
req "ci.corp.example" GET /deployments
expect 200 "a name under a wildcard of api.allowed_hosts"
req "evil.example" GET /deployments
expect 421 "another name with api.allowed_hosts"
stop_api
echo "ok: the anonymous mode answers its loopback names and api.allowed_hosts only (421)"

# ---- with api.tokens ----
tok=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
hash=$(printf '%s' "$tok" | sha256sum | cut -d' ' -f1)
start_api "$work/api3.log" AD_API_TOKENS="ops:$hash"
req "evil.example" GET /deployments "$tok"
expect 200 "a token's request with any Host (no api.allowed_hosts)"
stop_api
start_api "$work/api4.log" AD_API_TOKENS="ops:$hash" AD_API_ALLOWED_HOSTS="deploy.example.test"
req "evil.example" GET /deployments "$tok"
expect 421 "a token's request naming another host with api.allowed_hosts"
req "deploy.example.test" GET /deployments "$tok"
expect 200 "a token's request naming an allowed host"
stop_api
echo "ok: with api.tokens, Host is checked when api.allowed_hosts is set"

# ---- a bad list ----
rc=0
AD_HTTP_PORT=0 AD_API_ALLOWED_HOSTS="api.example.com:8080" timeout 20 "$bin/adapi" 2>"$work/bad.log" || rc=$?
if [[ $rc == 0 ]] || ! grep -qF "api.allowed_hosts: \`api.example.com:8080\` is not a host name" "$work/bad.log"; then
  fail "a bad api.allowed_hosts: rc $rc $(tail -n 2 "$work/bad.log")"
fi
echo "ok: a bad api.allowed_hosts stops the API"

((failures == 0)) || { echo "$failures failure(s)"; exit 1; }
echo "PASS"
