#!/usr/bin/env bash
# The container engine away for a while delays a deployment but loses
# nothing.  On a private stack (a temporary state dir: the test kills that
# stack's podman service, never the shared one's), with the six services
# running, the podman API service is SIGKILLed and started again
# (scripts/stack.sh kill podman / up) ENGINE_AWAY_S (20) seconds later:
#   build    the engine goes away just before a deployment is submitted:
#            the builder finds it away;
#   deploy   it goes away as soon as the deployment is PROVISIONING (or
#            already DEPLOYING): the provisioner and/or the deployer find
#            it away;
#   running  it goes away under an EXPOSED app: the app's container
#            survives (conmon, not the service, runs it) and answers
#            throughout.
# Each deployment must end EXPOSED, its URL answer, no deploy.failed be
# logged, and each step be applied once; the retries are counted and
# printed (measured, not asserted).
# Usage: test_engine_outage.sh BIN_DIR
set -euo pipefail
bin=${1:?usage: test_engine_outage.sh BIN_DIR}
bin=$(cd "$bin" && pwd)
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$root/tests/support/private_stack.sh"
pstack_up AD_NATS_CLUSTER=1
SAGA_TEST=engine-outage
. "$root/tests/support/saga.sh"
suffix=$(od -An -tx1 -N3 /dev/urandom | tr -d ' \n')
prefix=outage-$suffix-
cleanup() {
  saga_cleanup
  pstack_down "$prefix" "$((failures > 0))"
}
trap cleanup EXIT

away_s=${ENGINE_AWAY_S:-20}
export AD_DEPLOYER_HEALTH_TIMEOUT_S=60
saga_git_start
repo=$(saga_repo outage-app python-stdlib)
for s in "${SAGA_SERVICES[@]}"; do svc_start "$s" 1; done
api_port=$(cat "$saga_work/api-1.port")
ids=()

expect() { # WHAT GOT WANT
  if [[ $2 == "$3" ]]; then echo "  ok: $1 = $2"; else fail "$1 = $2, want $3"; fi
}
answers() { # ID
  local url body
  url=$(q "SELECT url FROM deployments WHERE id = '$1'")
  body=$(curl -fsS --max-time 10 "$url" || true)
  if [[ $body == *"Hello from python-stdlib"* ]]; then echo "  ok: $url answers"; else fail "$url answered: ${body:0:200}"; fi
}
# Deliveries for deployment ID that NAME-1 NAKed (outcome retry).
retries() { { grep '"outcome":"retry"' "$(svc_log "$1" 1)" || true; } | grep -cF "\"$2\"" || true; }
engine_away() {
  pstack kill podman
  engine_down_at=$SECONDS
}
engine_back() {
  pstack up
  echo "  engine away for $((SECONDS - engine_down_at)) s"
}
checks() { # ID APP
  local s t0=$SECONDS subj
  s=$(wait_final "$1" 600)
  expect "status" "$s" EXPOSED
  echo "  final $((SECONDS - t0)) s after the engine came back"
  for subj in deploy.requested deploy.analyzed deploy.built deploy.provisioned deploy.exposed; do
    expect "applied $subj rows" "$(event_rows "$1" "$subj" "AND applied")" 1
  done
  expect "deploy.failed rows" "$(event_rows "$1" deploy.failed)" 0
  expect "running containers" "$(app_containers "$2")" 1
  answers "$1"
  echo "  deliveries retried: builder $(retries builder "$1"), provisioner $(retries provisioner "$1"), deployer $(retries deployer "$1")"
  if [[ $s != EXPOSED ]]; then
    q "SELECT coalesce(failed_step, '') || ': ' || left(coalesce(error, ''), 300) FROM deployments WHERE id = '$1'" >&2
  fi
}

case_build() {
  echo "== the engine away when a deployment is submitted (${away_s} s)"
  local app=${prefix}build id
  engine_away
  id=$(api_post_deploy "$api_port" "$repo" "$app" "k-$app")
  ids+=("$id")
  sleep "$away_s"
  echo "  status when the engine comes back: $(status_of "$id")"
  engine_back
  checks "$id" "$app"
}

case_deploy() {
  echo "== the engine away from PROVISIONING on (${away_s} s)"
  local app=${prefix}deploy id i s=""
  id=$(api_post_deploy "$api_port" "$repo" "$app" "k-$app")
  ids+=("$id")
  for ((i = 0; i < 6000; i++)); do
    s=$(status_of "$id")
    [[ $s == PROVISIONING || $s == DEPLOYING || $s == EXPOSED || $s == ROLLED_BACK ]] && break
    sleep 0.1
  done
  if [[ $s == PROVISIONING || $s == DEPLOYING ]]; then
    echo "  ok: status when the engine goes away = $s"
  else
    fail "status when the engine goes away = $s, want PROVISIONING or DEPLOYING"
  fi
  engine_away
  sleep "$away_s"
  echo "  status when the engine comes back: $(status_of "$id")"
  engine_back
  checks "$id" "$app"
}

case_running() {
  echo "== the engine away under an EXPOSED app (${away_s} s)"
  local id=${ids[0]} url ok=0 bad=0 i
  url=$(q "SELECT url FROM deployments WHERE id = '$id'")
  [[ -n $url ]] || { fail "no EXPOSED app to test with"; return 0; }
  engine_away
  for ((i = 0; i < away_s; i++)); do
    if curl -fsS --max-time 5 "$url" >/dev/null 2>&1; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
    sleep 1
  done
  engine_back
  expect "requests that failed while the engine was away (of $((ok + bad)))" "$bad" 0
  expect "running containers" "$(app_containers "${prefix}build")" 1
  expect "status" "$(status_of "$id")" EXPOSED
}

for c in ${OUTAGE_CASES:-build deploy running}; do "case_$c"; done

# Leave nothing behind.
for id in "${ids[@]}"; do
  curl -fsS -X DELETE "http://127.0.0.1:$api_port/deployments/$id" >/dev/null 2>&1 || true
done
for id in "${ids[@]}"; do expect "after delete" "$(wait_final "$id" 120)" DESTROYED; done
expect "containers of these apps left" "$(engine_container_apps | grep -c "^$prefix" || true)" 0

saga_check_sanitizers
if ((failures > 0)); then
  echo "$failures failure(s); logs in $saga_logs"
  exit 1
fi
echo "engine outage: all checks passed"
