#!/usr/bin/env bash
# The named fault points (common/include/ad/fault.h), each with the
# invariant it protects, against the real stack with all six services:
#   engine.call fails twice in the deployer   -> the step is retried (NAK,
#       backoff) and the deployment ends EXPOSED, no deploy.failed;
#   outbox.after_publish in the API           -> the restarted API publishes
#       deploy.requested again with the same Nats-Msg-Id; JetStream drops it:
#       the analyzer and the coordinator each handle it once;
#   step.after_effect in the builder          -> the image is pushed and
#       deploy.built published, then the builder dies before its ack; the
#       restarted builder gets the redelivery and reuses the pushed image
#       (cache_hit, no second build); its deploy.built has the same id and
#       is dropped: the coordinator handles deploy.built once;
#   step.after_effect in the provisioner      -> the restarted provisioner
#       gets the redelivery, does the step again on the same network and
#       route, its deploy.provisioned is dropped as a duplicate: one applied
#       in the event log, one network, one route, the app still answers;
#   coordinator.after_commit                  -> the restarted coordinator
#       sees the redelivery as a duplicate (event log unique); the
#       deployment ends EXPOSED with each step applied once;
#   deploy.after_exposed in the deployer      -> a redeploy is EXPOSED and
#       its predecessor SUPERSEDED but still running; the restarted
#       deployer's start-up sweep removes it: one container, the app answers.
# Needs a build with -DAD_FAULT_POINTS=ON.  Usage: test_faults.sh BIN_DIR
set -euo pipefail
bin=${1:?usage: test_faults.sh BIN_DIR}
bin=$(cd "$bin" && pwd)
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SAGA_TEST=faults
. "$root/tests/support/saga.sh"
trap saga_cleanup EXIT

suffix=$(od -An -tx1 -N3 /dev/urandom | tr -d ' \n')
export AD_DEPLOYER_HEALTH_TIMEOUT_S=30
"$bin/../tests/ad_test_bus_reset"
saga_git_start
repo=$(saga_repo faults-app python-stdlib)
for s in "${SAGA_SERVICES[@]}"; do svc_start "$s" 1; done
api_port=$(cat "$saga_work/api-1.port")
ids=()
saga_wait_quiet 300

# restart_with NAME [VAR=VALUE...]: the service's replica 1 again, with env.
restart_with() {
  local name=$1
  shift
  ad_stop_pid "$name" "$(svc_pid "$name" 1)" 20
  wait "$(svc_pid "$name" 1)" 2>/dev/null || true
  svc_start "$name" 1 "$@"
}
# Log lines "event handled" of NAME-1 for deployment ID (as JSON).
handled() { grep '"msg":"event handled"' "$(svc_log "$1" 1)" | grep -F "\"$2\"" || true; }
expect() { # WHAT GOT WANT
  if [[ $2 == "$3" ]]; then echo "  ok: $1 = $2"; else fail "$1 = $2, want $3"; fi
}
exposed_checks() { # ID APP
  local s
  s=$(wait_final "$1" 300)
  expect "status" "$s" EXPOSED
  for subj in deploy.analyzed deploy.built deploy.provisioned deploy.exposed; do
    expect "applied $subj rows" "$(event_rows "$1" "$subj" "AND applied")" 1
  done
  expect "deploy.failed rows" "$(event_rows "$1" deploy.failed)" 0
  expect "running containers" "$(app_containers "$2")" 1
  expect "networks" "$(engine_network_apps | grep -cx "$2" || true)" 1
  expect "caddy routes" "$(caddy_route_apps | grep -cx "$2" || true)" 1
}
answers() { # ID
  local url body
  url=$(q "SELECT url FROM deployments WHERE id = '$1'")
  body=$(curl -fsS --max-time 10 "$url" || true)
  if [[ $body == *"Hello from python-stdlib"* ]]; then echo "  ok: $url answers"; else fail "$url answered: ${body:0:200}"; fi
}

case_engine() {
  echo "== engine.call fails twice in the deployer: retried, then EXPOSED"
  local app id i built retries row
  app=faults-engine-$suffix
  # The runtime log collector calls the engine too (every second): off
  # here, so that the two failures fall on the deploy step's calls.
  restart_with deployer AD_FAULT=engine.call:fail:1:2 AD_DEPLOYER_COLLECT_LOGS=false
  id=$(api_post_deploy "$api_port" "$repo" "$app" "k-$app")
  ids+=("$id")
  exposed_checks "$id" "$app"
  expect "faults injected in the deployer" "$(grep -c '"msg":"fault injected"' "$(svc_log deployer 1)")" 2
  retries=$(handled deployer "$id" | jq -r 'select(.consumer == "deployer" and .outcome == "retry") | .outcome' | wc -l)
  if ((retries >= 1)); then echo "  ok: $retries deliveries retried"; else fail "no retried delivery in the deployer's log"; fi
  # The deployer reports EXPOSED, then retires the old release and prunes
  # old images before its "event handled" line: wait for the line (30 s).
  for ((i = 0; i < 300; i++)); do
    [[ -n $(handled deployer "$id" | jq -r 'select(.consumer == "deployer" and .outcome == "done") | .outcome') ]] && break
    sleep 0.1
  done
  expect "deliveries done" "$(handled deployer "$id" | jq -r 'select(.consumer == "deployer" and .outcome == "done") | .outcome' | wc -l)" 1
  answers "$id"
  restart_with deployer

}

case_outbox() {
  echo "== outbox.after_publish in the API: the republished deploy.requested is dropped as a duplicate"
  local app id i built retries row
  app=faults-outbox-$suffix
  restart_with api AD_FAULT=outbox.after_publish@deploy.requested:crash
  api_post_deploy "$api_port" "$repo" "$app" "k-$app" >/dev/null 2>&1 || true
  svc_wait_exit api 1 60
  expect "api exit status" "$exit_status" 137
  id=$(q "SELECT id FROM deployment_requests WHERE app_name = '$app'")
  ids+=("$id")
  expect "the fault fired after the publish" "$(grep -c '"fault":"outbox.after_publish"' "$(svc_log api 1)")" 1
  row="subject = 'deploy.requested' AND position('$id' in encode(payload, 'escape')) > 0"
  # The crashed relay's transaction is rolled back: the row stays
  # unpublished until a relay (the restarted API's, or the coordinator's:
  # they share the outbox table) publishes it again under the same id.
  for ((i = 0; i < 100; i++)); do
    [[ $(q "SELECT count(*) FROM outbox WHERE $row AND published_at IS NOT NULL") == 1 ]] && break
    sleep 0.1
  done
  expect "the row published again after the crash" \
    "$(q "SELECT count(*) FROM outbox WHERE $row AND published_at IS NOT NULL")" 1
  svc_start api 1
  exposed_checks "$id" "$app"
  expect "deploy.requested rows" "$(event_rows "$id" deploy.requested)" 1
  expect "unpublished outbox rows after" "$(q "SELECT count(*) FROM outbox WHERE published_at IS NULL")" 0
  expect "analyzer deliveries of deploy.requested" "$(handled analyzer "$id" | jq -r 'select(.consumer == "analyzer") | .outcome' | tr '\n' ' ')" "done "
  expect "coordinator deliveries of deploy.requested" \
    "$(handled coordinator "$id" | jq -r 'select(.subject == "deploy.requested") | .outcome' | tr '\n' ' ')" "applied "
  expect "deployments of the app" "$(q "SELECT count(*) FROM deployments WHERE app_name = '$app'")" 1

}

case_build() {
  echo "== step.after_effect in the builder: redelivered, the pushed image reused, one deploy.built"
  local app id i built retries row analyzed
  app=faults-build-$suffix
  restart_with builder AD_FAULT=step.after_effect@build:crash
  id=$(api_post_deploy "$api_port" "$repo" "$app" "k-$app")
  ids+=("$id")
  svc_wait_exit builder 1 300
  expect "builder exit status" "$exit_status" 137
  expect "the fault fired after the effect" "$(grep -c '"fault":"step.after_effect"' "$(svc_log builder 1)")" 1
  expect "image pushed before the crash" "$(registry_tags "$app" | sort | tr '\n' ' ')" "$(q "SELECT git_sha FROM deployments WHERE id = '$id'") latest "
  svc_start builder 1
  # The redelivery comes after the consumer's ack wait.
  for ((i = 0; i < 120; i++)); do
    [[ -n $(handled builder "$id" | jq -r 'select(.consumer == "builder" and .outcome == "done") | .outcome') ]] && break
    sleep 1
  done
  expect "builder deliveries done" "$(handled builder "$id" | jq -r 'select(.consumer == "builder") | "\(.outcome)@\(.delivered)"' | tr '\n' ' ')" "done@2 "
  expect "the redelivery reused the image" "$(handled builder "$id" | jq -r 'select(.consumer == "builder") | .cache_hit')" true
  expect "builds run (build log)" "$(q "SELECT count(*) FROM deployment_logs WHERE deployment_id = '$id' AND source = 'build' AND line LIKE '==> building %'")" 1
  expect "reuses (build log)" "$(q "SELECT count(*) FROM deployment_logs WHERE deployment_id = '$id' AND source = 'build' AND line LIKE '==> % is already in the registry %'")" 1
  exposed_checks "$id" "$app"
  expect "deploy.built rows" "$(event_rows "$id" deploy.built)" 1
  expect "coordinator deliveries of deploy.built" \
    "$(handled coordinator "$id" | jq -r 'select(.subject == "deploy.built") | .outcome' | tr '\n' ' ')" "applied "
  expect "built before the crash, not by the redelivery" \
    "$(q "SELECT count(*) FROM builds WHERE deployment_id = '$id' AND NOT cache_hit")" 1
  analyzed=$(q "SELECT event_id FROM event_log WHERE deployment_id = '$id' AND subject = 'deploy.analyzed'")
  expect "builder processed_events for deploy.analyzed" \
    "$(q "SELECT count(*) FROM processed_events WHERE consumer = 'builder' AND event_id = '$analyzed'")" 1
  answers "$id"
  restart_with builder

}

case_provision() {
  echo "== step.after_effect in the provisioner: redelivered, done again, one deploy.provisioned"
  local app id i built retries row
  app=faults-provision-$suffix
  restart_with provisioner AD_FAULT=step.after_effect@provision:crash
  id=$(api_post_deploy "$api_port" "$repo" "$app" "k-$app")
  ids+=("$id")
  svc_wait_exit provisioner 1 300
  expect "provisioner exit status" "$exit_status" 137
  svc_start provisioner 1
  # The redelivery comes after the consumer's ack wait.
  for ((i = 0; i < 120; i++)); do
    [[ -n $(handled provisioner "$id" | jq -r 'select(.consumer == "provisioner" and .outcome == "done") | .outcome') ]] && break
    sleep 1
  done
  expect "provisioner deliveries done" "$(handled provisioner "$id" | jq -r 'select(.consumer == "provisioner") | "\(.outcome)@\(.delivered)"' | tr '\n' ' ')" "done@2 "
  exposed_checks "$id" "$app"
  expect "deploy.provisioned rows" "$(event_rows "$id" deploy.provisioned)" 1
  built=$(q "SELECT event_id FROM event_log WHERE deployment_id = '$id' AND subject = 'deploy.built'")
  expect "provisioner processed_events for deploy.built" \
    "$(q "SELECT count(*) FROM processed_events WHERE consumer = 'provisioner' AND event_id = '$built'")" 1
  answers "$id"

}

case_coordinator() {
  echo "== coordinator.after_commit: the redelivery is a duplicate"
  local app id i built retries row
  app=faults-coord-$suffix
  restart_with coordinator AD_FAULT=coordinator.after_commit@deploy.provisioned:crash
  id=$(api_post_deploy "$api_port" "$repo" "$app" "k-$app")
  ids+=("$id")
  svc_wait_exit coordinator 1 300
  expect "coordinator exit status" "$exit_status" 137
  expect "status committed before the crash" "$(status_of "$id")" DEPLOYING
  svc_start coordinator 1
  exposed_checks "$id" "$app"
  for ((i = 0; i < 120; i++)); do
    [[ -n $(handled coordinator "$id" | jq -r 'select(.subject == "deploy.provisioned" and .outcome == "duplicate") | .outcome') ]] && break
    sleep 1
  done
  expect "coordinator handling of deploy.provisioned" \
    "$(handled coordinator "$id" | jq -r 'select(.subject == "deploy.provisioned") | .outcome' | tr '\n' ' ')" "duplicate "
  expect "deploy.provisioned rows" "$(event_rows "$id" deploy.provisioned)" 1
  expect "status after the redelivery" "$(status_of "$id")" EXPOSED
  answers "$id"

}

case_retire() {
  echo "== deploy.after_exposed: the deployer dies between EXPOSED and the old release's retirement"
  local app v1 v2 i n swept
  app=faults-retire-$suffix
  v1=$(api_post_deploy "$api_port" "$repo" "$app" "k-$app-1")
  ids+=("$v1")
  expect "v1 status" "$(wait_final "$v1" 300)" EXPOSED
  # No drain, no stop grace: the start-up sweep leaves alone only what
  # was superseded in the last 5 s.
  restart_with deployer AD_FAULT=deploy.after_exposed:crash AD_DEPLOYER_DRAIN_MS=0 AD_DEPLOYER_STOP_TIMEOUT_S=0
  v2=$(api_post_deploy "$api_port" "$repo" "$app" "k-$app-2")
  ids+=("$v2")
  svc_wait_exit deployer 1 300
  expect "deployer exit status" "$exit_status" 137
  expect "v2 status" "$(wait_final "$v2" 60)" EXPOSED
  expect "v1 status" "$(status_of "$v1")" SUPERSEDED
  expect "containers left running by the crash" "$(app_containers "$app")" 2
  sleep 6
  svc_start deployer 1 AD_DEPLOYER_DRAIN_MS=0 AD_DEPLOYER_STOP_TIMEOUT_S=0
  for ((i = 0; i < 60; i++)); do
    n=$(app_containers "$app")
    swept=$(grep -c '"msg":"removed a superseded release.s container".*'"$v1" "$(svc_log deployer 1)" || true)
    [[ $n == 1 && $swept == 1 ]] && break
    sleep 0.5
  done
  expect "containers after the restart" "$n" 1
  expect "the sweep removed v1's" "$swept" 1
  answers "$v2"
}

for c in ${FAULT_CASES:-engine outbox build provision coordinator retire}; do "case_$c"; done

# Leave nothing behind on the stack.
for id in "${ids[@]}"; do
  curl -fsS -X DELETE "http://127.0.0.1:$api_port/deployments/$id" >/dev/null 2>&1 || true
done
for id in "${ids[@]}"; do wait_final "$id" 60 >/dev/null; done

saga_check_sanitizers
if ((failures > 0)); then
  echo "$failures failure(s); logs in $saga_logs"
  exit 1
fi
echo "faults: all checks passed"
