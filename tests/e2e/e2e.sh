#!/usr/bin/env bash
# End to end, through the REST API and the real stack (NATS, PostgreSQL,
# registry, caddy, podman) with all six services running:
#   - every example app reaches EXPOSED and answers through its URL;
#   - a second commit is served after a redeploy with no failed request
#     while a client polls the URL through the switch;
#   - rollback serves the previous version again;
#   - an app that never becomes healthy ends ROLLED_BACK with no
#     container, network or route of its own left behind;
#   - DELETE leaves nothing behind (container, network, route, image tags).
# Prints per-step timings.  Usage: e2e.sh BIN_DIR
set -euo pipefail
bin=${1:?usage: e2e.sh BIN_DIR}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${AD_STATE_DIR:?start the stack first (scripts/stack.sh up; . .stack/env)}"
. "$root/scripts/lib.sh"
. "$root/tests/support/git_repos.sh"

work=$(mktemp -d)
suffix=$(od -An -tx1 -N3 /dev/urandom | tr -d ' \n')
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
cleanup() {
  [[ -n ${poller:-} ]] && kill "$poller" 2>/dev/null || true
  [[ -n ${gitd:-} ]] && kill "$gitd" 2>/dev/null || true
  "$root/scripts/services.sh" down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# Short health timeout: the never-healthy app should fail fast.
export AD_DEPLOYER_HEALTH_TIMEOUT_S=${AD_DEPLOYER_HEALTH_TIMEOUT_S:-20}
"$bin/../tests/ad_test_bus_reset"
# A git daemon serving each example as a repository; started first, as it
# allowlists its address for the services' clones.
repos=$work/git
mkdir -p "$repos"
make_repo() { git_repo_from "$repos/$1" "$2"; } # NAME SRC
git_daemon_start "$repos" "$work/git-daemon.log"
"$root/scripts/services.sh" up "$bin"
. "$AD_STATE_DIR/run/services/env"
ctl() { "$bin/adctl" "$@"; }

engine() { curl -fsS --unix-socket "$AD_ENGINE_SOCKET" "http://d/v1.41$1"; }
app_containers() { # APP -> number of containers (any state) labelled with the app
  engine "/containers/json?all=1&filters=$(printf '{"label":["app-deployer.app=%s"]}' "$1" | jq -sRr @uri)" | jq length
}
route_exists() { ad_caddy_admin "/id/ad-route-$1" -fsS >/dev/null 2>&1; }
network_exists() { engine "/networks/ad-$1" >/dev/null 2>&1; }
registry_tags() { curl -fsS --netrc-file "$AD_REGISTRY_NETRC" "http://$AD_REGISTRY_ADDRESS/v2/$1/tags/list" 2>/dev/null | jq -r '(.tags // []) | length' || echo 0; }

# deploy NAME REPO -> prints the deployment's final JSON; returns non-zero unless EXPOSED
deploy() {
  ctl --json deploy "git://127.0.0.1:$git_port/$2" --name "$1" --wait --timeout 900 | tail -n 1
}

status_of() { ctl --json status "$1" | jq -r .status; }
wait_final() { # ID -> final status
  local s i
  for ((i = 0; i < 600; i++)); do
    s=$(status_of "$1")
    case $s in EXPOSED | ROLLED_BACK | DESTROYED | FAILED) echo "$s"; return 0 ;; esac
    sleep 1
  done
  echo "$s"
}
step_times() { # JSON -> "analyze 1.2s, build 30.1s, ..."
  jq -r '[.steps[]? | "\(.step) \((.duration_ms // 0) / 1000)s"] | join(", ")' <<<"$1"
}

echo "== every example app reaches EXPOSED and answers through its URL"
declare -A ids
for ex in node-express python-stdlib go-stdlib static-site dockerfile-app; do
  make_repo "$ex" "$root/examples/$ex"
done
# Submitted together, as users would.
for ex in node-express python-stdlib go-stdlib static-site dockerfile-app; do
  ids[$ex]=$(ctl --json deploy "git://127.0.0.1:$git_port/$ex" --name "e2e-$ex-$suffix" | jq -r .id)
done
for ex in node-express python-stdlib go-stdlib static-site dockerfile-app; do
  id=${ids[$ex]}
  s=$(wait_final "$id")
  json=$(ctl --json status "$id")
  if [[ $s != EXPOSED ]]; then
    fail "$ex ended $s: $(jq -r '.error // empty' <<<"$json")"
    ctl logs "$id" | tail -n 20 >&2 || true
    continue
  fi
  url=$(jq -r .url <<<"$json")
  # One container per replica asked for (one: no deployer.yaml here), and
  # `adctl status` says so.
  [[ $(jq -r '.containers | length' <<<"$json") == 1 ]] ||
    fail "$ex: containers $(jq -c .containers <<<"$json"), want one"
  ctl status "$id" | grep -Eq '^replicas: +1 \(' || fail "$ex: adctl status shows no 'replicas: 1'"
  body=$(curl -fsS --max-time 10 "$url" || true)
  if [[ $body == *"Hello from $ex"* ]]; then
    echo "ok: $ex at $url ($(jq -r .ip <<<"$json")): $(step_times "$json")"
  else
    fail "$ex: $url answered: ${body:0:200}"
  fi
done

echo "== redeploy with no failed request during the switch, then rollback"
app=e2e-python-stdlib-$suffix
v1=${ids[python-stdlib]}
url=$(ctl --json status "$v1" | jq -r .url)
sed -i 's/Hello from python-stdlib/Hello from python-stdlib v2/' "$repos/python-stdlib/app.py"
git -C "$repos/python-stdlib" -c user.name=e2e -c user.email=e2e@localhost commit -qam "v2"
: >"$work/poll.log"
(
  while :; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url" || echo 000)
    echo "$code" >>"$work/poll.log"
    sleep 0.05
  done
) &
poller=$!
json=$(deploy "$app" python-stdlib) || fail "redeploy did not reach EXPOSED: $json"
sleep 1
kill "$poller"
wait "$poller" 2>/dev/null || true
poller=
total=$(wc -l <"$work/poll.log")
bad=$(grep -vc '^200$' "$work/poll.log" || true)
echo "polled $total requests through the switch, $bad failed"
[[ $bad == 0 ]] || fail "$bad of $total requests failed during the switch: $(sort "$work/poll.log" | uniq -c | tr '\n' ' ')"
[[ $(curl -fsS "$url") == *"v2"* ]] || fail "v2 is not served after the redeploy"
v2=$(jq -r .id <<<"$json")
[[ $(status_of "$v1") == SUPERSEDED ]] || fail "v1 is $(status_of "$v1") after the redeploy, want SUPERSEDED"
# The old release is retired after EXPOSED is reported (its drain, then
# its stop): gone within the stop timeout.
for ((i = 0; i < 60; i++)); do [[ $(app_containers "$app") == 1 ]] && break; sleep 0.5; done
[[ $(app_containers "$app") == 1 ]] || fail "$app has $(app_containers "$app") containers after the switch, want 1"
echo "redeploy: $(step_times "$json")"

rb=$(ctl --json rollback "$v2" | jq -r .id)
s=$(wait_final "$rb")
[[ $s == EXPOSED ]] || fail "rollback ended $s: $(ctl --json status "$rb" | jq -r '.error // empty')"
body=$(curl -fsS "$url" || true)
[[ $body == *"Hello from python-stdlib"* && $body != *v2* ]] || fail "rollback serves: $body"
[[ $(status_of "$v2") == SUPERSEDED ]] || fail "v2 is $(status_of "$v2") after the rollback, want SUPERSEDED"
echo "ok: rollback serves the previous version"

echo "== an app that never becomes healthy ends ROLLED_BACK and leaves nothing"
mkdir -p "$work/never"
cat >"$work/never/Dockerfile" <<'DOCKERFILE'
FROM localhost/app-deployer/base:bookworm
USER 10001
EXPOSE 8080
CMD ["sleep", "infinity"]
DOCKERFILE
make_repo never-healthy "$work/never"
napp=e2e-never-$suffix
nid=$(ctl --json deploy "git://127.0.0.1:$git_port/never-healthy" --name "$napp" | jq -r .id)
s=$(wait_final "$nid")
[[ $s == ROLLED_BACK ]] || fail "never-healthy ended $s"
echo "never-healthy: $(ctl --json status "$nid" | jq -r '.error // empty' | head -c 200)"
[[ $(app_containers "$napp") == 0 ]] || fail "never-healthy left containers behind"
route_exists "$napp" && fail "never-healthy left its route behind"
network_exists "$napp" && fail "never-healthy left its network behind"

echo "== DELETE leaves nothing behind"
dapp=e2e-static-site-$suffix
did=${ids[static-site]}
ctl rm "$did" >/dev/null
s=$(wait_final "$did")
[[ $s == DESTROYED ]] || fail "delete ended $s"
[[ $(app_containers "$dapp") == 0 ]] || fail "delete left containers"
route_exists "$dapp" && fail "delete left the route"
network_exists "$dapp" && fail "delete left the network"
[[ $(registry_tags "$dapp") == 0 ]] || fail "delete left image tags in the registry"
echo "ok: $dapp destroyed"

# The remaining apps of this run are removed too, so runs don't pile up.
for ex in node-express go-stdlib dockerfile-app; do ctl rm "${ids[$ex]}" >/dev/null 2>&1 || true; done
for id in "$v1" "$v2" "$rb"; do ctl rm "$id" >/dev/null 2>&1 || true; done

if ((failures > 0)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "e2e: all checks passed"
