#!/usr/bin/env bash
# The platform's resource quotas at accept time (issue 13) against a real
# adapi (subprocess on a free port) and the stack's PostgreSQL: with
# limits.max_cpu_per_deployment 1, limits.max_memory_per_deployment 1024
# and limits.max_replicas 3,
#  - scale above max_replicas: 422 naming the limit and its value;
#  - scale, config change and rollback of a release whose image's build
#    recorded more cpu or memory than allowed: 422 naming the limit;
#  - a redeploy keeping a scale above the limit: 422;
#  - nothing recorded for a refused request (no deployment request, no
#    event in the outbox); requests within the limits: 202;
#  - a bad limits.max_cpu_per_deployment stops the API with the reason.
# The coordinator is not running: the rows it would write are written here.
# Usage: test_quotas.sh BIN_DIR
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../support/adapi.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/adapi.sh"
apitest_init quotas "${1:-}"
apitest_cleanup_sql="
DELETE FROM builds WHERE app_name LIKE '%-$run';
DELETE FROM releases WHERE app_name LIKE '%-$run';
DELETE FROM deployments WHERE app_name LIKE '%-$run';
DELETE FROM deployment_requests WHERE app_name LIKE '%-$run';
DELETE FROM apps WHERE name LIKE '%-$run';"
uuid() { cat /proc/sys/kernel/random/uuid; }

# app NAME CPU MEMORY_MB [OLD_CPU OLD_MEMORY_MB]: an app with a running
# release v2 (and v1, superseded) whose builds recorded those resources.
app() {
  local name=$1 d1 d2
  d1=$(uuid) d2=$(uuid)
  sql "INSERT INTO apps (name, repo_url, web_replicas) VALUES ('$name', 'https://example.com/acme/q.git', 0)"
  sql "INSERT INTO deployments (id, app_name, repo_url, status) VALUES ('$d1', '$name', 'https://example.com/acme/q.git', 'SUPERSEDED'), ('$d2', '$name', 'https://example.com/acme/q.git', 'EXPOSED')"
  sql "INSERT INTO builds (deployment_id, image, app_name, cpu, memory_mb) VALUES ('$d1', 'localhost/$name:1', '$name', ${4:-0.5}, ${5:-256}), ('$d2', 'localhost/$name:2', '$name', $2, $3)"
  sql "INSERT INTO releases (deployment_id, app_name, image, container_ids, version) VALUES ('$d1', '$name', 'localhost/$name:1', '{a}', 1), ('$d2', '$name', 'localhost/$name:2', '{a,b}', 2)"
}
ok=ok-$run cpu=cpu-$run mem=mem-$run wide=wide-$run
app "$ok" 0.5 512
app "$cpu" 2 512
app "$mem" 0.25 2048 0.25 4096
app "$wide" 0.5 512
sql "UPDATE apps SET web_replicas = 5 WHERE name = '$wide'"

apitest_api_up "$work/api.log" AD_LIMITS_MAX_CPU_PER_DEPLOYMENT=1 AD_LIMITS_MAX_MEMORY_PER_DEPLOYMENT=1024 \
  AD_LIMITS_MAX_REPLICAS=3 AD_SECRETS_KEY="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# call METHOD PATH [BODY]: sets code, the reply in $work/r.json.
call() {
  if [[ -n ${3:-} ]]; then
    code=$(curl -s -o "$work/r.json" -w '%{http_code}' -X "$1" -H 'Content-Type: application/json' \
      --data "$3" "$api$2")
  else
    code=$(curl -s -o "$work/r.json" -w '%{http_code}' -X "$1" "$api$2")
  fi
}
msg() { jq -r '.error.message // empty' "$work/r.json" 2>/dev/null || true; }
# refused WHAT NEEDLE: a 422 whose message names NEEDLE.
refused() {
  [[ $code == 422 && $(jq -r .error.code "$work/r.json") == quota_exceeded && $(msg) == *"$2"* ]] ||
    fail "$1: HTTP $code $(head -c 300 "$work/r.json"), want 422 with '$2'"
}
requests() { sql "SELECT count(*) FROM deployment_requests WHERE app_name = '$1'"; }

call POST "/apps/$ok/scale" '{"web":4}'
refused "scale above limits.max_replicas" "the scale asks for 4 replicas; this platform allows 3 (limits.max_replicas)"
call POST "/apps/$ok/scale" '{"web":3}'
[[ $code == 202 ]] || fail "scale within the limits: HTTP $code $(cat "$work/r.json")"
call POST "/apps/$cpu/scale" '{"web":1}'
refused "scale of a release above the cpu limit" "release v2 of $cpu asks for 2 cores per container; this platform allows 1 core (limits.max_cpu_per_deployment)"
call PATCH "/apps/$cpu/config" '{"GREETING":"hi"}'
refused "a config change of a release above the cpu limit" "(limits.max_cpu_per_deployment)"
call PATCH "/apps/$mem/config" '{"GREETING":"hi"}'
refused "a config change of a release above the memory limit" "release v2 of $mem asks for 2048 MiB of memory per container; this platform allows 1024 MiB (limits.max_memory_per_deployment)"
call POST "/apps/$mem/rollback" '{"release":1}'
refused "a rollback to a release above the memory limit" "release v1 of $mem asks for 4096 MiB"
call POST "/apps/$cpu/rollback" '{"release":1}'
[[ $code == 202 ]] || fail "a rollback to a release within the limits: HTTP $code $(cat "$work/r.json")"
call PATCH "/apps/$wide/config" '{"GREETING":"hi"}'
refused "a config change keeping a scale above the limit" "asks for 5 replicas; this platform allows 3 (limits.max_replicas)"
call POST "/apps/$wide/deployments"
refused "a redeploy keeping a scale above the limit" "the app's scale, which a redeploy keeps, asks for 5 replicas"
call POST "/apps/$wide/scale" '{"web":2}'
[[ $code == 202 ]] || fail "scaling down into the limits: HTTP $code $(cat "$work/r.json")"
call POST "/apps/$ok/deployments"
[[ $code == 202 ]] || fail "a redeploy within the limits: HTTP $code $(cat "$work/r.json")"
# Refused requests recorded nothing.
[[ $(requests "$mem") == 0 ]] || fail "a refused request left a deployment request"
[[ $(requests "$ok") == 2 && $(requests "$cpu") == 1 && $(requests "$wide") == 1 ]] ||
  fail "requests recorded: ok $(requests "$ok") cpu $(requests "$cpu") wide $(requests "$wide")"
echo "ok: scale, config change, rollback and redeploy refused above limits.* (422), accepted within"

# ---- a bad limit ----
rc=0
AD_HTTP_PORT=0 AD_LIMITS_MAX_CPU_PER_DEPLOYMENT=lots timeout 20 "$bin/adapi" 2>"$work/bad.log" || rc=$?
if [[ $rc == 0 ]] || ! grep -qF "limits.max_cpu_per_deployment: \`lots\` is not a number of cores" "$work/bad.log"; then
  fail "a bad limits.max_cpu_per_deployment: rc $rc $(tail -n 2 "$work/bad.log")"
fi
echo "ok: a bad limit stops the API"
apitest_finish
