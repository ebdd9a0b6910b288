#!/usr/bin/env bash
# A deployment's timeline (GET /deployments/{id} and adctl status), with
# all six services: a deployment that reaches EXPOSED has every moment,
# once, in the saga's order, at non-decreasing millisecond times (accepted,
# each step's start and end, the deploy step's containers started, first
# healthy answer and route switched, EXPOSED recorded), and the hops
# between a step's end and the next one's start add up to hops_total_ms.
# A failed deployment's timeline ends with the failed step and `failed`.
# No timing thresholds: the order and completeness are what is asserted.
# Usage: test_timeline.sh BIN_DIR
set -euo pipefail
bin=${1:?usage: test_timeline.sh BIN_DIR}
bin=$(cd "$bin" && pwd)
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SAGA_TEST=timeline
. "$root/tests/support/saga.sh"
trap saga_cleanup EXIT

suffix=$(od -An -tx1 -N3 /dev/urandom | tr -d ' \n')
# Earlier tests' events (fake repositories, images that never existed) must
# not sit in front of this deployment's on the services' consumers.
"$bin/../tests/ad_test_bus_reset"
saga_git_start
repo=$(saga_repo "timeline-$suffix" python-stdlib)
for s in "${SAGA_SERVICES[@]}"; do svc_start "$s" 1; done
api_port=$(cat "$saga_work/api-1.port")
api=http://127.0.0.1:$api_port

ok() { echo "  ok: $*"; }
check() { # WHAT JQ-FILTER JSON: the filter must print true
  if [[ $(jq -r "$2" <<<"$3") == true ]]; then ok "$1"; else fail "$1: $(jq -c '{timeline, hops}' <<<"$3")"; fi
}

echo "== an EXPOSED deployment's timeline is complete and ordered"
app=timeline-$suffix
id=$(api_post_deploy "$api_port" "$repo" "$app" "k-$app")
s=$(wait_final "$id" 300)
[[ $s == EXPOSED ]] || fail "deployment $id ended $s"
json=$(curl -fsS "$api/deployments/$id")
want='["accepted","analyze.started","analyze.ended","build.started","build.ended",
  "provision.started","provision.ended","deploy.started","deploy.containers_started",
  "deploy.first_healthy","deploy.route_switched","deploy.ended","exposed"]'
check "every moment, once, in the saga's order" "[.timeline[].event] == $want" "$json"
check "millisecond RFC 3339 times" \
  'all(.timeline[].at; test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$"))' "$json"
# The times are the producers' clocks on one machine: never backwards.
check "times never go backwards" '[.timeline[].at] as $a | $a == ($a | sort)' "$json"
check "elapsed_ms from the acceptance, never backwards" \
  '.timeline[0].elapsed_ms == 0 and ([.timeline[].elapsed_ms] as $e | $e == ($e | sort))' "$json"
check "the hops: acceptance and each step's end to the next start, the last end to EXPOSED" \
  '[.hops[] | "\(.from)>\(.to)"] == ["accepted>analyze.started", "analyze.ended>build.started",
    "build.ended>provision.started", "provision.ended>deploy.started", "deploy.ended>exposed"]' "$json"
check "each hop is the difference of its moments" \
  '(.timeline | map({(.event): .elapsed_ms}) | add) as $t
   | all(.hops[]; .duration_ms == $t[.to] - $t[.from] and .duration_ms >= 0)' "$json"
check "hops_total_ms is their sum" '.hops_total_ms == ([.hops[].duration_ms] | add)' "$json"

out=$(ADCTL_API=$api "$bin/adctl" status "$id")
for e in accepted analyze.started deploy.first_healthy deploy.route_switched exposed; do
  if grep -q "^  $e " <<<"$out"; then ok "adctl status shows $e"; else fail "adctl status has no $e: $out"; fi
done
if grep -q '^hops (no step working): [0-9]* ms$' <<<"$out"; then ok "adctl status shows the hops' total"; else fail "no hops line: $out"; fi

echo "== a failed deployment's timeline ends with the failed step"
# Nothing the analyzer can run: the analyze step fails.
mkdir -p "$saga_work/empty"
echo "nothing to run here" >"$saga_work/empty/README"
bad=$(saga_repo "timeline-bad-$suffix" "$saga_work/empty")
fid=$(api_post_deploy "$api_port" "$bad" "timeline-bad-$suffix" "k-bad-$suffix")
for ((i = 0; i < 300; i++)); do
  case $(status_of "$fid" 2>/dev/null || true) in FAILED | ROLLED_BACK) break ;; esac
  sleep 1
done
json=$(curl -fsS "$api/deployments/$fid")
check "accepted, the analyzer's start and failure, then failed" \
  '[.timeline[].event] == ["accepted", "analyze.started", "analyze.failed", "failed"]' "$json"
check "its hops" '[.hops[] | "\(.from)>\(.to)"] == ["accepted>analyze.started", "analyze.failed>failed"]' "$json"

# Leave nothing behind on the stack: the app goes with everything it owns.
curl -fsS -X DELETE "$api/apps/$app" >/dev/null || fail "DELETE /apps/$app was refused"
s=$(wait_final "$id" 120)
[[ $s == DESTROYED ]] || fail "deployment $id ended $s after DELETE /apps/$app, not DESTROYED"

saga_check_sanitizers
((failures == 0)) || {
  echo "$failures failure(s)" >&2
  exit 1
}
echo "all timeline checks passed"
