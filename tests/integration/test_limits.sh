#!/usr/bin/env bash
# Rate limits and the cap on log followers (issue 13) against real adapi
# processes (free ports) and the stack's PostgreSQL, functional only (no
# timing thresholds: a bucket of 5 refilling once a second cannot let 40
# requests through in the few seconds a loopback burst takes):
#  - a burst with one API key gets 429s with Retry-After and
#    RateLimit-Limit/RateLimit-Remaining, while another key of the same
#    team is unaffected; the key's JWT shares the key's bucket;
#  - a burst without a key gets 429s per client address;
#  - a third concurrent log follower of one key gets 429, another key's
#    follower is served;
#  - a follower with nothing new for api.follower_idle_timeout_s ends;
#  - a third concurrent connection from one address is refused
#    (api.max_connections_per_address: 2);
#  - the decisions are counted in /metrics.
# Usage: test_limits.sh BIN_DIR
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../support/adapi.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/adapi.sh"
apitest_init lim "${1:-}"
apitest_cleanup_sql="
DELETE FROM deployment_logs WHERE deployment_id IN (SELECT id FROM deployments WHERE app_name LIKE '%-$run');
DELETE FROM deployments WHERE app_name LIKE '%-$run';
DELETE FROM deployment_requests WHERE app_name LIKE '%-$run';"

# start_api LOG [VAR=VALUE...]: API keys only; sets api (its URL).
start_api() {
  local log=$1
  shift
  apitest_api_up "$log" AD_API_TOKENS= AD_API_REQUIRE_AUTH=true "$@"
}
# burst N CREDENTIAL PATH: N requests, 8 at a time; the status codes,
# one a line, in $work/codes and each reply's headers in $work/h.N.
burst() {
  local n=$1 cred=$2 path=$3 auth=()
  [[ -n $cred ]] && auth=(-H "Authorization: Bearer $cred")
  rm -f "$work"/h.*
  seq "$n" | xargs -P 8 -I{} curl -s -o /dev/null -D "$work/h.{}" -w '%{http_code}\n' \
    "${auth[@]}" "$api$path" >"$work/codes"
}
header() { # FILE NAME: the value
  sed -n "s/^$2: *\\([^\\r]*\\).*/\\1/Ip" "$1" | head -1
}

"$bin/adapi" admin create-team "$team" 2>/dev/null || fail "create-team"
ka=$("$bin/adapi" admin create-token --team "$team" --role deployer --name a 2>/dev/null)
kb=$("$bin/adapi" admin create-token --team "$team" --role deployer --name b 2>/dev/null)
s1=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

# ---- per key ----
start_api "$work/api1.log" AD_API_RATE_LIMIT_PER_TOKEN=1 AD_API_RATE_BURST_PER_TOKEN=5 \
  AD_API_JWT_KEYS="k1:$s1"
jwt=$(curl -s -X POST -H "Authorization: Bearer $ka" "$api/auth/token" | jq -r .token)
[[ $jwt == eyJ* ]] || fail "no JWT for key a"
burst 40 "$ka" /whoami
n429=$(grep -c '^429$' "$work/codes" || true)
n200=$(grep -c '^200$' "$work/codes" || true)
((n429 > 0 && n200 > 0 && n429 + n200 == 40)) || fail "a burst of 40 with one key: $n200 200s, $n429 429s"
h=$(grep -l '^HTTP/1.1 429' "$work"/h.* | head -1)
if [[ -n $h ]]; then
  [[ $(header "$h" Retry-After) =~ ^[1-9][0-9]*$ ]] || fail "429 without Retry-After: $(cat "$h")"
  [[ $(header "$h" RateLimit-Limit) == 5 && $(header "$h" RateLimit-Remaining) == 0 ]] ||
    fail "429 RateLimit headers: $(cat "$h")"
fi
h=$(grep -l '^HTTP/1.1 200' "$work"/h.* | head -1)
[[ -n $h && $(header "$h" RateLimit-Limit) == 5 && $(header "$h" RateLimit-Remaining) =~ ^[0-4]$ ]] ||
  fail "200 RateLimit headers: $(cat "$h")"
# The key's JWT draws on the key's bucket, still empty after the burst.
code=$(curl -s -o "$work/r.json" -w '%{http_code}' -H "Authorization: Bearer $jwt" "$api/whoami")
[[ $code == 429 && $(jq -r .error.code "$work/r.json") == rate_limited && $(jq -r .error.message "$work/r.json") == *"api.rate_limit_per_token"* ]] ||
  fail "the JWT of the limited key: $code $(cat "$work/r.json")"
# Another key is unaffected.
code=$(curl -s -o /dev/null -D "$work/hb" -w '%{http_code}' -H "Authorization: Bearer $kb" "$api/whoami")
[[ $code == 200 && $(header "$work/hb" RateLimit-Remaining) == 4 ]] || fail "key b after a's burst: $code $(cat "$work/hb")"
curl -s "$api/metrics" >"$work/metrics"
grep -q '^ad_api_ratelimit_decisions_total{scope="token",decision="limited"} [1-9]' "$work/metrics" ||
  fail "/metrics lacks the limited decisions: $(grep ratelimit "$work/metrics")"
grep -q '^ad_api_ratelimit_decisions_total{scope="token",decision="allowed"} [1-9]' "$work/metrics" ||
  fail "/metrics lacks the allowed decisions"
echo "ok: per key: $n429 of 40 refused (429, Retry-After, RateLimit-*), the key's JWT too, another key unaffected, /metrics"

# ---- per address ----
start_api "$work/api2.log" AD_API_RATE_LIMIT_PER_ADDRESS=1 AD_API_RATE_BURST_PER_ADDRESS=3
burst 30 "" /whoami
n429=$(grep -c '^429$' "$work/codes" || true)
n401=$(grep -c '^401$' "$work/codes" || true)
((n429 > 0 && n401 > 0 && n429 + n401 == 30)) || fail "a burst of 30 from one address: $n401 401s, $n429 429s"
curl -s "$api/metrics" | grep -q '^ad_api_ratelimit_decisions_total{scope="address",decision="limited"} [1-9]' ||
  fail "/metrics lacks the address decisions"
echo "ok: per address: $n429 of 30 refused before authentication"

# ---- log followers ----
start_api "$work/api3.log" AD_API_MAX_FOLLOWERS_PER_TOKEN=2
id=$(curl -s -H "Authorization: Bearer $ka" -H 'Content-Type: application/json' \
  --data "{\"repo_url\":\"https://example.com/acme/f.git\",\"name\":\"f-$run\"}" "$api/deployments" | jq -r .id)
[[ $id =~ ^[0-9a-f-]{36}$ ]] || fail "no deployment to follow: $id"
for i in 1 2; do
  curl -s -N --max-time 30 -H "Authorization: Bearer $ka" "$api/deployments/$id/logs?follow=1" >/dev/null &
  apitest_pids+=("$!")
done
for ((i = 0; i < 100; i++)); do
  curl -s "$api/metrics" | grep -q '^ad_api_ratelimit_decisions_total{scope="followers",decision="allowed"} 2' && break
  sleep 0.1
done
code=$(curl -s -o "$work/r.json" -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $ka" "$api/deployments/$id/logs?follow=1" || true)
[[ $code == 429 && $(jq -r .error.code "$work/r.json") == too_many_followers ]] ||
  fail "a third follower of one key: $code $(head -c 300 "$work/r.json")"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H "Authorization: Bearer $kb" "$api/deployments/$id/logs?follow=1" || true)
[[ $code == 200 ]] || fail "another key's follower: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ka" "$api/deployments/$id/logs" || true)
[[ $code == 200 ]] || fail "reading (not following) the logs at the cap: $code"
echo "ok: followers: a third of one key refused, another key's served"

# ---- connections per address ----
start_api "$work/api4.log" AD_API_MAX_CONNECTIONS_PER_ADDRESS=2
for i in 1 2; do
  curl -s -N --max-time 30 -H "Authorization: Bearer $kb" "$api/deployments/$id/logs?follow=1" >/dev/null &
  apitest_pids+=("$!")
done
for ((i = 0; i < 100; i++)); do
  (($(grep -c '"route":"deployments_logs".*"status":200' "$work/api4.log") >= 2)) && break
  sleep 0.1
done
rc=0
curl -s -o /dev/null --max-time 5 "$api/healthz" || rc=$?
((rc != 0)) || fail "a third connection from one address was served (api.max_connections_per_address=2)"
echo "ok: connections per address: a third refused while two streams are open (curl exit $rc)"

# ---- an idle follower ends ----
start_api "$work/api5.log" AD_API_FOLLOWER_IDLE_TIMEOUT_S=1
rc=0
curl -s -N --max-time 20 -H "Authorization: Bearer $kb" "$api/deployments/$id/logs?follow=1" >"$work/idle.txt" || rc=$?
if [[ $rc != 0 ]] || ! grep -q '^event: idle$' "$work/idle.txt" || ! grep -q 'api.follower_idle_timeout_s' "$work/idle.txt"; then
  fail "an idle follower (api.follower_idle_timeout_s=1): curl exit $rc: $(head -c 300 "$work/idle.txt")"
fi
# adctl logs -f follows on across idle ends (Last-Event-ID): a line
# written after two of them shows once, and the end event ends it.
ADCTL_API=$api ADCTL_TOKEN=$kb timeout 30 "$bin/adctl" logs -f "$id" >"$work/follow.out" 2>"$work/follow.err" &
follow_pid=$!
apitest_pids+=("$follow_pid")
sleep 2.5
psql "$AD_DATABASE_URL" -qAt -v ON_ERROR_STOP=1 >/dev/null <<SQL || fail "writing the deployment's rows"
INSERT INTO deployments (id, app_name, repo_url, status) VALUES ('$id', 'f-$run', 'https://example.com/acme/f.git', 'BUILDING');
INSERT INTO deployment_logs (deployment_id, source, line) VALUES ('$id', 'build', 'line-after-idle-$run');
SQL
sleep 2.5
psql "$AD_DATABASE_URL" -qAt -c "UPDATE deployments SET status = 'FAILED' WHERE id = '$id'" >/dev/null
rc=0
wait "$follow_pid" || rc=$?
[[ $rc == 0 && $(grep -c "^line-after-idle-$run\$" "$work/follow.out") == 1 && $(cat "$work/follow.err") == *"deployment FAILED"* ]] ||
  fail "adctl logs -f across idle ends: rc $rc, out $(cat "$work/follow.out"), err $(cat "$work/follow.err")"
echo "ok: a follower with no new line for api.follower_idle_timeout_s gets event: idle; adctl logs -f follows on"

apitest_finish
