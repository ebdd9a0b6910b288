#!/usr/bin/env bash
# Chaos: N deployments of small example apps (every sixth one an app that
# never becomes healthy, so failures and compensations run under the
# kills too) submitted together through the API while a driver SIGKILLs a random service process (the coordinator
# included) every few seconds and restarts it a tick later, with two
# replicas of every service.  At the end (bounded wait) it prints and
# asserts:
#   - every deployment is EXPOSED or ROLLED_BACK: none is stuck; every
#     never-healthy one is ROLLED_BACK;
#   - one deployment per request (submissions are retried with the same
#     Idempotency-Key when an API replica dies under them);
#   - no app has more than one running container; an EXPOSED app has one;
#   - no container, network, caddy route or registry tag of these apps
#     exists that no EXPOSED deployment owns;
#   - the event log shows every step done once: per deployment at most one
#     applied row per subject (deploy.requested, analyzed, built,
#     provisioned, exposed).
# With CHAOS_INFRA=1 the driver also breaks the infrastructure, on a
# private stack (a temporary state dir, NATS as a 3-node cluster with the
# DEPLOY stream R3; never the shared stack), torn down at the end: every
# CHAOS_INFRA_EVERY-th tick, in turn, it SIGKILLs the podman API service
# and starts it again CHAOS_ENGINE_AWAY_S later, SIGKILLs a random NATS
# node and starts it again CHAOS_NATS_AWAY_S later, or restarts PostgreSQL
# (fast shutdown); one infrastructure fault at a time.  The DEPLOY stream
# is checked to have 3 replicas.  Then it
# also asserts that no healthy app was rolled back (the faults delay
# deployments but lose none), and, in both modes, that no service exited
# by itself (they reconnect).
# Usage: chaos.sh BIN_DIR
# Environment: CHAOS_DEPLOYMENTS (6), CHAOS_SECONDS (how long the driver
# kills, 60), CHAOS_INTERVAL_S (3), CHAOS_SEED (random), CHAOS_SETTLE_S
# (the bounded wait for the last deployments once the killing stops, 600),
# CHAOS_INFRA (0), CHAOS_INFRA_EVERY (3), CHAOS_NATS_AWAY_S (10),
# CHAOS_ENGINE_AWAY_S (15).
set -euo pipefail
bin=${1:?usage: chaos.sh BIN_DIR}
bin=$(cd "$bin" && pwd)
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
infra=${CHAOS_INFRA:-0}
suffix=$(od -An -tx1 -N3 /dev/urandom | tr -d ' \n')
prefix=chaos-$suffix-
if ((infra)); then
  . "$root/tests/support/private_stack.sh"
  pstack_up AD_NATS_CLUSTER=3
fi
SAGA_TEST=chaos
. "$root/tests/support/saga.sh"
chaos_cleanup() {
  local rc=$?
  saga_cleanup
  if ((infra)); then pstack_down "$prefix" "$((rc != 0 || failures > 0))"; fi
}
trap chaos_cleanup EXIT

n=${CHAOS_DEPLOYMENTS:-6}
chaos_s=${CHAOS_SECONDS:-60}
interval=${CHAOS_INTERVAL_S:-3}
settle_s=${CHAOS_SETTLE_S:-600}
seed=${CHAOS_SEED:-$((($$ + $(date +%s)) % 32768))}
RANDOM=$seed
infra_every=${CHAOS_INFRA_EVERY:-3}
nats_away=${CHAOS_NATS_AWAY_S:-10}
engine_away=${CHAOS_ENGINE_AWAY_S:-15}
# Short: the never-healthy apps should fail fast.
export AD_DEPLOYER_HEALTH_TIMEOUT_S=${AD_DEPLOYER_HEALTH_TIMEOUT_S:-20}
t0=$SECONDS
echo "chaos: $n deployments, kills for ${chaos_s}s every ~${interval}s, seed $seed, apps $prefix*"
if ((infra)); then
  echo "infrastructure faults every ${infra_every} ticks (NATS node away ${nats_away}s, PostgreSQL restart, engine away ${engine_away}s) on a private stack in $AD_STATE_DIR"
else
  # The shared stack: a clean bus (a private stack's is new, and resetting
  # it would create the stream with one replica).
  "$bin/../tests/ad_test_bus_reset"
fi
saga_git_start
mkdir -p "$saga_work/never"
cat >"$saga_work/never/Dockerfile" <<'DOCKERFILE'
FROM localhost/app-deployer/base:bookworm
USER 10001
EXPOSE 8080
CMD ["sleep", "infinity"]
DOCKERFILE
repos=("$(saga_repo chaos-py python-stdlib)" "$(saga_repo chaos-static static-site)"
  "$(saga_repo chaos-never "$saga_work/never")")
repo_of() { if ((${1} % 6 == 5)); then echo "${repos[2]}"; else echo "${repos[$((${1} % 2))]}"; fi; }
never_apps() { local j; for ((j = 5; j < n; j += 6)); do echo "$prefix$j"; done; }
for s in "${SAGA_SERVICES[@]}"; do
  svc_start "$s" 1
  svc_start "$s" 2
done
ports=("$(cat "$saga_work/api-1.port")" "$(cat "$saga_work/api-2.port")")
if ((infra)); then
  # The services made the DEPLOY stream; losing a node must lose nothing.
  r=$(curl -fsS "$AD_NATS_MONITOR_URL/jsz?streams=true&config=true" |
    jq '[.account_details[]?.stream_detail[]? | select(.name == "DEPLOY") | .config.num_replicas][0]') || r=""
  echo "DEPLOY stream replicas: $r"
  [[ $r == 3 ]] || fail "the DEPLOY stream has '$r' replicas, want 3"
fi

# Submissions run beside the driver; each retries on the other API
# replica with the same Idempotency-Key until it gets an id.
mkdir -p "$saga_work/ids"
subs=()
for ((i = 0; i < n; i++)); do
  (
    for ((a = 0; a < 120; a++)); do
      if id=$(api_post_deploy "${ports[$(((i + a) % 2))]}" "$(repo_of "$i")" "$prefix$i" "chaos-$suffix-$i" 2>/dev/null); then
        echo "$id" >"$saga_work/ids/$i"
        exit 0
      fi
      sleep 1
    done
  ) &
  subs+=($!)
done

ids() { cat "$saga_work"/ids/* 2>/dev/null || true; }
finals() { q "SELECT count(*) FROM deployments WHERE app_name LIKE '$prefix%' AND status IN ('EXPOSED', 'ROLLED_BACK')" 2>/dev/null || echo -1; }
running() { [[ -n $1 && $(ps -o stat= -p "$1" 2>/dev/null) != Z* && -n $(ps -o stat= -p "$1" 2>/dev/null) ]]; }

# The driver: each tick restarts what the last one killed, then kills a
# random process (SIGKILL: no cleanup, no ack, no flush).
declare -A kills
declare -A infra_kills=([nats]=0 [postgres]=0 [engine]=0)
infra_kinds=(engine nats postgres) # the engine first: while the first builds run
total_kills=0 self_exits=0 tick=0 infra_n=0
dead=()
infra_down="" # the server an infrastructure fault took away, until infra_back
infra_back=0
infra_restore() {
  pstack up || fail "cannot start $infra_down again"
  echo "  $((SECONDS - t0))s: $infra_down back"
  infra_down=""
}
# Every kind of infrastructure fault happened (or none is asked for).
infra_covered() { ((!infra || infra_n >= ${#infra_kinds[@]})); }
while ((SECONDS - t0 < chaos_s)); do
  sleep "$((interval - 1)).$((RANDOM % 10))"
  tick=$((tick + 1))
  if [[ -n $infra_down ]] && ((SECONDS >= infra_back)); then infra_restore; fi
  for p in "${dead[@]}"; do svc_start "${p% *}" "${p#* }" || fail "cannot restart $p"; done
  dead=()
  # A service must survive the infrastructure's faults by itself.
  for s in "${SAGA_SERVICES[@]}"; do
    for r in 1 2; do
      running "$(svc_pid "$s" "$r")" && continue
      fail "$s-$r exited by itself: $(tail -n 2 "$(svc_log "$s" "$r")")"
      self_exits=$((self_exits + 1))
      svc_start "$s" "$r" || fail "cannot restart $s-$r"
    done
  done
  if [[ $(ids | wc -l) == "$n" && $(finals) == "$n" ]] && infra_covered; then break; fi
  svc=${SAGA_SERVICES[$((RANDOM % ${#SAGA_SERVICES[@]}))]}
  r=$((RANDOM % 2 + 1))
  svc_kill9 "$svc" "$r"
  dead+=("$svc $r")
  kills[$svc]=$((${kills[$svc]:-0} + 1))
  total_kills=$((total_kills + 1))
  if ((infra && tick % infra_every == 0)) && [[ -z $infra_down ]]; then
    kind=${infra_kinds[$((infra_n % ${#infra_kinds[@]}))]}
    infra_n=$((infra_n + 1))
    infra_kills[$kind]=$((infra_kills[$kind] + 1))
    case $kind in
    nats)
      infra_down=nats$((RANDOM % 3 + 1))
      infra_back=$((SECONDS + nats_away))
      pstack kill "$infra_down" || fail "cannot kill $infra_down"
      echo "  $((SECONDS - t0))s: $infra_down killed"
      ;;
    postgres)
      echo "  $((SECONDS - t0))s: postgres restarting"
      pstack restart postgres || fail "cannot restart postgres"
      ;;
    engine)
      infra_down=podman
      infra_back=$((SECONDS + engine_away))
      pstack kill podman || fail "cannot kill podman"
      echo "  $((SECONDS - t0))s: the engine (podman service) killed"
      ;;
    esac
  fi
done
for p in "${dead[@]}"; do svc_start "${p% *}" "${p#* }" || fail "cannot restart $p"; done
if [[ -n $infra_down ]]; then infra_restore; fi
chaos_end=$SECONDS
# The submissions (not the services); bash may have reaped finished ones.
wait "${subs[@]}" 2>/dev/null || true
echo "driver: $total_kills service kills in $((chaos_end - t0))s: $(for s in "${SAGA_SERVICES[@]}"; do printf '%s %s, ' "$s" "${kills[$s]:-0}"; done)"
echo "kills by kind: service $total_kills, nats ${infra_kills[nats]}, postgres ${infra_kills[postgres]}, engine ${infra_kills[engine]}; services that exited by themselves: $self_exits"

submitted=$(ids | wc -l)
[[ $submitted == "$n" ]] || fail "$submitted of $n submissions got an id"
for ((i = 0; i < settle_s; i++)); do
  [[ $(finals) == "$submitted" ]] && break
  sleep 1
done
settled=$SECONDS

# ---- the counts
exposed=$(q "SELECT count(*) FROM deployments WHERE app_name LIKE '$prefix%' AND status = 'EXPOSED'")
rolled=$(q "SELECT count(*) FROM deployments WHERE app_name LIKE '$prefix%' AND status = 'ROLLED_BACK'")
stuck=$(q "SELECT count(*) FROM deployments WHERE app_name LIKE '$prefix%' AND status NOT IN ('EXPOSED', 'ROLLED_BACK')")
deployments=$(q "SELECT count(*) FROM deployments WHERE app_name LIKE '$prefix%'")
live=$(q "SELECT app_name FROM deployments WHERE app_name LIKE '$prefix%' AND status = 'EXPOSED'" | sort)
mine() { { grep "^$prefix" || true; } | sort; }
not_live() { comm -23 - <(echo "$live" | sed '/^$/d'); } # names (sorted) not live

# What the engine, caddy and the registry hold; a listing that fails
# fails the test (an empty list would pass every check below).
all_containers=$(engine_container_apps | mine) || fail "cannot list containers"
all_networks=$(engine_network_apps | mine) || fail "cannot list networks"
all_routes=$(caddy_route_apps | mine) || fail "cannot list caddy routes"
all_repos=$(registry_repos | mine) || fail "cannot list registry repositories"
count() { sed '/^$/d' | wc -l; }

multi=0 missing=0
for ((i = 0; i < n; i++)); do
  app=$prefix$i
  running=$(app_containers "$app")
  ((running > 1)) && multi=$((multi + 1))
  if grep -qx "$app" <<<"$live"; then
    ((running == 1)) || missing=$((missing + 1))
  fi
done
orphan_containers=$(not_live <<<"$all_containers" | count)
extra_containers=$(uniq -d <<<"$all_containers" | count) # an app with 2+ (any state)
orphan_networks=$(not_live <<<"$all_networks" | count)
orphan_routes=$(not_live <<<"$all_routes" | count)
missing_routes=$(comm -13 <(echo "$all_routes" | sed '/^$/d') <(echo "$live" | sed '/^$/d') | count)
orphan_tags=0 tags_seen=0
for app in $all_repos; do
  owned=$(q "SELECT array_to_string(b.tags, E'\n') FROM builds b JOIN deployments d ON d.id = b.deployment_id
             WHERE d.app_name = '$app' AND d.status = 'EXPOSED'" | sed 's/.*://' | sort -u)
  for tag in $(registry_tags "$app"); do
    tags_seen=$((tags_seen + 1))
    grep -qx "$tag" <<<"$owned" || {
      orphan_tags=$((orphan_tags + 1))
      echo "orphan tag $app:$tag" >&2
    }
  done
done
twice=$(q "SELECT count(*) FROM (SELECT e.deployment_id, e.subject FROM event_log e
           JOIN deployments d ON d.id = e.deployment_id
           WHERE d.app_name LIKE '$prefix%' AND e.applied AND e.subject IN
             ('deploy.requested', 'deploy.analyzed', 'deploy.built', 'deploy.provisioned', 'deploy.exposed')
           GROUP BY 1, 2 HAVING count(*) > 1) t")
applied=$(q "SELECT string_agg(subject || ' ' || n, ', ' ORDER BY subject) FROM (SELECT e.subject, count(*) n
             FROM event_log e JOIN deployments d ON d.id = e.deployment_id
             WHERE d.app_name LIKE '$prefix%' AND e.applied GROUP BY 1) t")
dups=$(q "SELECT count(*) FROM event_log e JOIN deployments d ON d.id = e.deployment_id
          WHERE d.app_name LIKE '$prefix%' AND NOT e.applied AND e.subject <> 'deploy.compensate'")

echo "deployments: $deployments for $n requests; EXPOSED $exposed, ROLLED_BACK $rolled, stuck $stuck (settled $((settled - chaos_end))s after the driver stopped, $((settled - t0))s in all)"
echo "apps with more than one running container: $multi; EXPOSED apps without their container: $missing"
echo "engine and ingress: $(count <<<"$all_containers") containers, $(count <<<"$all_networks") networks, $(count <<<"$all_routes") routes, $tags_seen registry tags for these apps"
echo "left behind: containers $orphan_containers, apps with 2+ containers $extra_containers, networks $orphan_networks, routes $orphan_routes (EXPOSED without a route: $missing_routes), registry tags $orphan_tags"
naks=$(cat "$saga_logs"/*.log | grep '"outcome":"retry"' || true)
echo "deliveries NAKed for a retry: $(count <<<"$naks") (the container engine away: $(grep -c 'container engine' <<<"$naks" || true))"
echo "event log: applied rows by subject: ${applied:-none}; steps applied more than once: $twice; events logged but not applied (late or duplicate; the coordinator's own compensate commands not counted): $dups"
if ((stuck > 0)); then
  q "SELECT id, app_name, status FROM deployments WHERE app_name LIKE '$prefix%' AND status NOT IN ('EXPOSED', 'ROLLED_BACK')" >&2
fi
if ((rolled > 0)); then
  echo "rolled back:"
  q "SELECT app_name || ': ' || coalesce(failed_step, '') || ': ' || left(coalesce(error, ''), 200) FROM deployments WHERE app_name LIKE '$prefix%' AND status = 'ROLLED_BACK'"
fi

never_exposed=$(grep -cxF -f <(never_apps) <<<"$live" || true)
healthy_rolled=$(q "SELECT app_name FROM deployments WHERE app_name LIKE '$prefix%' AND status = 'ROLLED_BACK'" |
  { grep -cvxF -f <(never_apps) || true; })
echo "never-healthy apps: $(never_apps | wc -l), of them EXPOSED: $never_exposed; healthy apps ROLLED_BACK: $healthy_rolled"
((never_exposed == 0)) || fail "$never_exposed never-healthy apps are EXPOSED"
if ((infra)); then ((healthy_rolled == 0)) || fail "$healthy_rolled healthy apps rolled back"; fi
[[ $deployments == "$n" ]] || fail "$deployments deployments for $n requests"
((stuck == 0)) || fail "$stuck deployments stuck"
((multi == 0)) || fail "$multi apps with more than one running container"
((missing == 0)) || fail "$missing EXPOSED apps without a running container"
((orphan_containers + extra_containers + orphan_networks + orphan_routes + orphan_tags == 0)) || fail "resources left behind"
((missing_routes == 0)) || fail "$missing_routes EXPOSED apps without a route"
((twice == 0)) || fail "$twice steps applied more than once"

# Leave nothing behind on the stack.
for id in $(ids); do
  curl -fsS -X DELETE "http://127.0.0.1:${ports[0]}/deployments/$id" >/dev/null 2>&1 || true
done
for id in $(ids); do wait_final "$id" 60 >/dev/null; done

saga_check_sanitizers
if ((failures > 0)); then
  echo "$failures failure(s); logs in $saga_logs (seed $seed)"
  exit 1
fi
echo "chaos: all checks passed"
