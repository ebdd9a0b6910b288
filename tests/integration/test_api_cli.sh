#!/usr/bin/env bash
# adctl against a real adapi (subprocess on a free port) and the stack:
#  - deploy, ls --json, status, logs, rm: exit 0 and the expected output;
#  - deploy --wait prints each state with its duration and ends with the
#    URL (exit 0) or the failure (exit 1); this script writes the
#    coordinator's rows itself, as the coordinator would;
#  - an unreachable API: "cannot reach the API at ...", exit 1;
#  - bad usage: exit 2.
# Usage: test_api_cli.sh BIN_DIR
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../support/adapi.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/adapi.sh"
bin=${1:?usage: test_api_cli.sh BIN_DIR}
: "${AD_NATS_URL:?start the stack first (scripts/stack.sh up; source .stack/env)}"
: "${AD_DATABASE_URL:?start the stack first}"
work=$(mktemp -d)
api_pid=
fake_ids=()
cleanup() {
  [[ -n $api_pid ]] && kill "$api_pid" 2>/dev/null && wait "$api_pid" 2>/dev/null
  [[ -n ${auth_pid:-} ]] && kill "$auth_pid" 2>/dev/null && wait "$auth_pid" 2>/dev/null
  for id in "${fake_ids[@]}"; do
    psql "$AD_DATABASE_URL" -qAt -c "DELETE FROM deployments WHERE id = '$id'" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
sql() { psql "$AD_DATABASE_URL" -qAt -v ON_ERROR_STOP=1 -c "$1"; }

# start_api LOG [VAR=VALUE...]: adapi on a free port with that extra
# environment, logging to LOG; sets started_pid, and started_port (empty
# when it did not come up within 30 s).  It waits for the "ready" line only,
# as scripts/services.sh does: the API must serve from that line on.
start_api() { adapi_start "$bin" "$@"; }

# api.start:stall holds the API's own set-up (pool, relay) for 2 s after
# the service runtime is up, so a ready line logged too early is seen.
start_api "$work/api.log" AD_FAULT=api.start:stall AD_API_ALLOW_LOCAL_SOURCES=true \
  AD_SECRETS_KEY="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
api_pid=$started_pid port=$started_port
[[ -n $port ]] || { cat "$work/api.log" >&2; echo "FAIL: adapi did not start" >&2; exit 1; }
export ADCTL_API=http://127.0.0.1:$port
adctl=$bin/adctl

# The first request right after the ready line is served, never "starting"
# (the ready line once came before the API's pool and relay were up, and a
# deploy sent at once got 503).
code=$(curl -s -o /dev/null -w '%{http_code}' "$ADCTL_API/deployments")
[[ $code == 200 ]] || fail "GET /deployments right after the ready line: HTTP $code"

# deploy, then ls --json / status / logs / rm.
out=$("$adctl" deploy https://example.com/acme/cli-app.git --name cli-app --env GREETING=hi) ||
  fail "deploy: exit $?"
id=$(grep -o '[0-9a-f]\{8\}-[0-9a-f-]\{27\}' <<<"$out" | head -1)
[[ -n $id && $out == *"cli-app"*"QUEUED"* ]] || fail "deploy output: $out"
json=$("$adctl" ls --json) || fail "ls --json: exit $?"
jq -e --arg id "$id" '.deployments | map(.id) | index($id) != null' <<<"$json" >/dev/null ||
  fail "ls --json lacks $id: $json"
jq -e '.next_cursor | type == "string" or type == "null"' <<<"$json" >/dev/null || fail "ls --json: $json"
out=$("$adctl" ls 2>/dev/null) || fail "ls: exit $?"
[[ $out == ID*APP*STATUS* && $out == *"$id"*cli-app*QUEUED* ]] || fail "ls: $out"
out=$("$adctl" status "$id") || fail "status: exit $?"
[[ $out == *"$id"* && $out == *"status:"*QUEUED* && $out == *cli-app* ]] || fail "status: $out"
json=$("$adctl" --json status "$id") || fail "status --json: exit $?"
[[ $(jq -r .status <<<"$json") == QUEUED ]] || fail "status --json: $json"
out=$("$adctl" logs "$id") || fail "logs: exit $?"
[[ -z $out ]] || fail "logs of a new deployment: $out"
out=$("$adctl" rm "$id") || fail "rm: exit $?"
[[ $out == *"Destroying deployment $id"* ]] || fail "rm: $out"
rc=0
out=$("$adctl" rollback "$id" 2>&1) || rc=$?
[[ $rc == 1 && $out == *"no healthy release"* ]] || fail "rollback without a release: rc $rc: $out"
echo "ok: deploy, ls, status, logs, rm, rollback"

# deploy --wait: the states as the coordinator moves them, then the URL.
wait_deploy() { # NAME FINAL [ERROR]
  "$adctl" deploy "https://example.com/acme/$1.git" --wait >"$work/$1.out" 2>"$work/$1.err" &
  local pid=$! id=
  for ((i = 0; i < 100; i++)); do
    id=$(grep -o '[0-9a-f]\{8\}-[0-9a-f-]\{27\}' "$work/$1.out" 2>/dev/null | head -1) && [[ -n $id ]] && break
    sleep 0.1
  done
  fake_ids+=("$id")
  # Play the coordinator: each step's duration is what it records, so
  # adctl must print exactly 1.2 s and 3.4 s whatever the polling saw.
  sql "INSERT INTO deployments (id, app_name, repo_url, status) VALUES ('$id', '$1', 'https://example.com/acme/$1.git', 'ANALYZING')"
  sql "INSERT INTO deployment_steps (deployment_id, step, status, started_at) VALUES ('$id', 'analyze', 'running', now())"
  sleep 0.6
  sql "UPDATE deployment_steps SET status = 'done', ended_at = started_at + interval '1200 ms' WHERE deployment_id = '$id' AND step = 'analyze'"
  sql "INSERT INTO deployment_steps (deployment_id, step, status, started_at) VALUES ('$id', 'build', 'running', now() + interval '1200 ms')"
  sql "UPDATE deployments SET status = 'BUILDING' WHERE id = '$id'"
  sleep 0.6
  sql "UPDATE deployment_steps SET status = '$([[ $2 == EXPOSED ]] && echo 'done' || echo failed)', ended_at = started_at + interval '3400 ms' WHERE deployment_id = '$id' AND step = 'build'"
  if [[ $2 == EXPOSED ]]; then
    sql "UPDATE deployments SET status = 'EXPOSED', url = 'http://$1.localhost:8080/' WHERE id = '$id'"
  else
    sql "UPDATE deployments SET status = 'FAILED', failed_step = 'build', error = '$3' WHERE id = '$id'"
  fi
  rc=0
  wait "$pid" || rc=$?
}
wait_deploy wait-ok EXPOSED
out=$(cat "$work/wait-ok.out")
[[ $rc == 0 ]] || fail "deploy --wait: exit $rc: $out $(cat "$work/wait-ok.err")"
grep -Eq '^QUEUED +[0-9]+\.[0-9]s$' <<<"$out" || fail "deploy --wait: no QUEUED line: $out"
grep -Eq '^ANALYZING +1\.2s$' <<<"$out" || fail "deploy --wait: no 'ANALYZING 1.2s' line: $out"
grep -Eq '^BUILDING +3\.4s$' <<<"$out" || fail "deploy --wait: no 'BUILDING 3.4s' line: $out"
[[ $(tail -1 <<<"$out") == "http://wait-ok.localhost:8080/" ]] || fail "deploy --wait: no URL: $out"
wait_deploy wait-bad FAILED "npm install failed: exit 1"
[[ $rc == 1 ]] || fail "deploy --wait of a failure: exit $rc"
grep -q '^FAILED$' "$work/wait-bad.out" || fail "deploy --wait: no FAILED: $(cat "$work/wait-bad.out")"
grep -q 'failed at step build: npm install failed: exit 1' "$work/wait-bad.err" ||
  fail "deploy --wait: no reason: $(cat "$work/wait-bad.err")"
echo "ok: deploy --wait prints states with durations, then the URL or the reason"

# API errors: exit 1 with the API's message.
rc=0
out=$("$adctl" deploy ftp://example.com/x.git 2>&1) || rc=$?
[[ $rc == 1 && $out == *"unsupported scheme"*"HTTP 400"* ]] || fail "deploy ftp: rc $rc: $out"
rc=0
out=$("$adctl" status 00000000-0000-4000-8000-000000000000 2>&1) || rc=$?
[[ $rc == 1 && $out == *"no deployment"*"HTTP 404"* ]] || fail "status unknown: rc $rc: $out"
rc=0
out=$("$adctl" --json status 00000000-0000-4000-8000-000000000000 2>/dev/null) || rc=$?
[[ $rc == 1 && $(jq -r .error.code <<<"$out") == not_found ]] || fail "status --json unknown: rc $rc: $out"
echo "ok: API errors exit 1 with the API's message"

# Unreachable API: exit 1 and a clear message.
rc=0
out=$("$adctl" --api http://127.0.0.1:1 ls 2>&1) || rc=$?
[[ $rc == 1 && $out == *"cannot reach the API at http://127.0.0.1:1: "* ]] || fail "unreachable: rc $rc: $out"
rc=0
out=$(ADCTL_API=http://127.0.0.1:1 "$adctl" status "$id" 2>&1) || rc=$?
[[ $rc == 1 && $out == *"cannot reach the API at http://127.0.0.1:1"* ]] || fail "ADCTL_API: rc $rc: $out"
echo "ok: an unreachable API exits 1 with a message"

# Bad usage: exit 2.
for args in "" "frobnicate" "status" "status a b" "deploy" "deploy --bogus x" "deploy x --env" \
  "deploy x --env =v" "ls extra" "logs" "--api ftp://x ls" "deploy x --timeout soon"; do
  rc=0
  # shellcheck disable=SC2086
  "$adctl" $args >/dev/null 2>"$work/usage.err" || rc=$?
  [[ $rc == 2 ]] || fail "adctl $args: exit $rc, want 2"
  [[ -s $work/usage.err ]] || fail "adctl $args: no message"
done
"$adctl" --help | grep -q 'adctl deploy URL' || fail "--help"
"$adctl" deploy --help | grep -q -- '--wait' || fail "deploy --help"
echo "ok: bad usage exits 2"

# Bearer tokens: a second API with api.tokens (the SHA-256 of each token).
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
hash=$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)
start_api "$work/api-auth.log" AD_API_TOKENS="ci-bot:$hash,other:$(printf x | sha256sum | cut -d' ' -f1)"
auth_pid=$started_pid auth_port=$started_port
if [[ -z $auth_port ]]; then
  fail "adapi with api.tokens did not start: $(tail -n 3 "$work/api-auth.log")"
else
  auth_api=http://127.0.0.1:$auth_port
  code=$(curl -s -o "$work/r.json" -w '%{http_code}' "$auth_api/deployments")
  [[ $code == 401 && $(jq -r .error.code "$work/r.json") == unauthorized ]] ||
    fail "no token: $code $(cat "$work/r.json")"
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer x$token" "$auth_api/deployments")
  [[ $code == 401 ]] || fail "a wrong token: $code, want 401"
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Basic $token" "$auth_api/deployments")
  [[ $code == 401 ]] || fail "not a bearer token: $code, want 401"
  [[ $(curl -s -o /dev/null -w '%{http_code}' "$auth_api/healthz") == 200 ]] ||
    fail "/healthz needs no token"
  # caddy's on-demand TLS ask sends no token: answered (404: no such app),
  # and only that route.
  code=$(curl -s -o "$work/r.json" -w '%{http_code}' "$auth_api/domains/allowed?domain=nope.example.test")
  [[ $code == 404 && $(jq -r .error.code "$work/r.json") == not_found ]] ||
    fail "/domains/allowed without a token: $code $(cat "$work/r.json")"
  code=$(curl -s -o /dev/null -w '%{http_code}' "$auth_api/apps/x/domains")
  [[ $code == 401 ]] || fail "GET /apps/x/domains without a token: $code, want 401"
  # adctl sends $ADCTL_TOKEN; the token's name is who requested.
  out=$(ADCTL_API=$auth_api ADCTL_TOKEN=$token "$adctl" deploy https://example.com/acme/auth-app.git \
    --name auth-app) || fail "adctl deploy with ADCTL_TOKEN: exit $?: $out"
  aid=$(grep -o '[0-9a-f]\{8\}-[0-9a-f-]\{27\}' <<<"$out" | head -1)
  [[ -n $aid ]] && [[ $(sql "SELECT requested_by FROM deployment_requests WHERE id = '$aid'") == ci-bot ]] ||
    fail "requested_by of $aid is not ci-bot"
  rc=0
  out=$(ADCTL_API=$auth_api "$adctl" ls 2>&1) || rc=$?
  [[ $rc == 1 && $out == *"unauthorized"* || $rc == 1 && $out == *"Bearer"* ]] ||
    fail "adctl without a token: rc $rc: $out"
  grep -q "$token" "$work/api-auth.log" && fail "the token appears in the API's log"
  kill "$auth_pid" && wait "$auth_pid" 2>/dev/null || true
  echo "ok: api.tokens: 401 without or with a wrong token, adctl with ADCTL_TOKEN, requested_by ci-bot"
fi

if ((failures > 0)); then
  echo "$failures failure(s)" >&2
  exit 1
fi
