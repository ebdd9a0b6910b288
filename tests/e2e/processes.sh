#!/usr/bin/env bash
# Process types (issue 15), end to end against the real stack with all six
# services: examples/procfile-worker has a Procfile with `web:` and
# `worker:`.  The worker runs in a container of its own from the same
# image, with no published port and not behind the app's caddy route, and
# its log lines arrive in the app's collected log as `worker` lines (in
# the database and in `adctl logs APP --tail`).  Scaling the worker 1 -> 0
# -> 2 runs that many worker containers (web unchanged); a redeploy
# replaces the worker containers too, at the app's scale; a scale of a
# type the app does not have is refused; deleting the app removes them.
# The release phase: a Procfile's `release:` runs once per release in a
# container of its own before the release's containers start (once with
# two web replicas, not in the web containers' command), again on a
# config change, and a release command that exits non-zero fails its
# deployment while the previous release serves every request.
# Usage: processes.sh BIN_DIR
set -euo pipefail
bin=${1:?usage: processes.sh BIN_DIR}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${AD_STATE_DIR:?start the stack first (scripts/stack.sh up; . .stack/env)}"
. "$root/scripts/lib.sh"
. "$root/tests/support/git_repos.sh"
# shellcheck disable=SC1091
. "$AD_STATE_DIR/env"

work=$(mktemp -d)
suffix=$(od -An -tx1 -N3 /dev/urandom | tr -d ' \n')
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
cleanup() {
  [[ -n ${follower:-} ]] && kill "$follower" 2>/dev/null || true
  [[ -n ${gitd:-} ]] && kill "$gitd" 2>/dev/null || true
  [[ -n ${app:-} ]] && "$bin/adctl" rm "$app" >/dev/null 2>&1 || true
  [[ -n ${poller:-} ]] && kill "$poller" 2>/dev/null || true
  [[ -n ${rapp:-} ]] && "$bin/adctl" rm "$rapp" >/dev/null 2>&1 || true
  "$root/scripts/services.sh" down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
ctl() { "$bin/adctl" "$@"; }
q() { psql "$AD_DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
engine() { curl -fsS --unix-socket "$AD_ENGINE_SOCKET" "http://d/v1.41$1"; }
uri() { jq -rn --arg s "$1" '$s|@uri'; }
containers_json() { # APP [ALL] -> the engine's containers labelled with the app
  engine "/containers/json?all=${2:-0}&filters=$(uri "{\"label\":[\"app-deployer.app=$1\"]}")"
}
workers() { # APP -> "name deployment-id published-ports" of its running worker containers
  containers_json "$1" | jq -r '.[] | select(.Labels["app-deployer.process"] == "worker") |
    "\(.Names[0] | ltrimstr("/")) \(.Labels["app-deployer.deployment"]) \([.Ports[]? | select(.PublicPort)] | length)"'
}
webs() { containers_json "$1" | jq '[.[] | select(.Labels["app-deployer.process"] == null)] | length'; }
http_code() { # METHOD PATH [BODY] -> status
  curl -s -o "$work/body" -w '%{http_code}' -X "$1" -H 'Content-Type: application/json' \
    ${3:+-d "$3"} "$api$2"
}
# The previous release is retired after EXPOSED is reported (its drain,
# then its stop): settle CHECK... retries the check for up to 30 s.
settle() {
  local k
  for ((k = 0; k < 60; k++)); do "$@" && return 0; sleep 0.5; done
  return 1
}
no_workers() { [[ -z $(workers "$app") ]]; }
webs_are() { [[ $(webs "$app") == "$1" ]]; }
workers_only_of() { # DEPLOYMENT N: exactly N workers run, all of DEPLOYMENT
  local w
  w=$(workers "$app")
  [[ -n $w && $(grep -c " $1 0\$" <<<"$w") == "$2" && $(wc -l <<<"$w") == "$2" ]]
}
exposed_id() { q "SELECT deployment_id FROM releases r JOIN deployments d ON d.id = r.deployment_id WHERE r.app_name = '$app' AND d.status = 'EXPOSED' ORDER BY r.id DESC LIMIT 1"; }

repos=$work/git
git_repo_from "$repos/procs" "$root/examples/procfile-worker"
# The release phase's app: two web replicas and a release command that
# prints a marker.
rel_src=$work/rel-src
mkdir -p "$rel_src"
cat >"$rel_src/app.py" <<'EOF'
import os, signal, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "v1"

class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("release-app %s\n" % VERSION).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", 8000))), H).serve_forever()
EOF
printf 'web: python3 app.py\nrelease: echo release-marker of v1\n' >"$rel_src/Procfile"
printf 'replicas: 2\n' >"$rel_src/deployer.yaml"
git_repo_from "$repos/rel" "$rel_src"
git_daemon_start "$repos" "$work/git-daemon.log"
"$bin/../tests/ad_test_bus_reset"
"$root/scripts/services.sh" up "$bin"
. "$AD_STATE_DIR/run/services/env"
api=$ADCTL_API
# shellcheck disable=SC2154 # git_port is set by git_daemon_start
git_url=git://127.0.0.1:$git_port/procs
app=procs-$suffix

echo "== deploy: web and worker"
json=$(ctl --json deploy "$git_url" --name "$app" --wait --timeout 900 | tail -n 1)
[[ $(jq -r .status <<<"$json") == EXPOSED ]] || { fail "deploy: $json"; exit 1; }
url=$(jq -r .url <<<"$json")
dep1=$(jq -r .id <<<"$json")
[[ $(curl -fsS "$url") == "Hello from procfile-worker's web process" ]] || fail "web does not answer at $url"
w=$(workers "$app")
[[ $(wc -l <<<"$w") == 1 && $w == "ad-$app-"*"-worker-1 $dep1 0" ]] ||
  fail "one worker of $dep1 with no published port expected: '$w'"
[[ $(webs "$app") == 1 ]] || fail "$(webs "$app") web containers"
# The route proxies to the web container only.
upstreams=$(ad_caddy_admin "/id/ad-route-$app/handle" -fsS | jq '[.. | .upstreams? // empty | .[]] | length')
[[ $upstreams == 1 ]] || fail "the route has $upstreams upstreams, want the web one"
doc=$(curl -fsS "$api/apps/$app")
[[ $(jq -c '[.process_types.web.replicas, .process_types.worker.replicas, .process_types.worker.command]' <<<"$doc") == '[1,1,"python3 worker.py"]' ]] ||
  fail "GET /apps/$app process_types: $(jq -c .process_types <<<"$doc")"
[[ $(jq -r '[.processes[] | select(.type == "worker" and .health == "running")] | length' <<<"$doc") == 1 ]] ||
  fail "GET /apps/$app processes: $(jq -c .processes <<<"$doc")"
[[ $(q "SELECT processes::text FROM releases WHERE deployment_id = '$dep1'") == '{"worker": 1}' ]] ||
  fail "release row: $(q "SELECT processes::text FROM releases WHERE deployment_id = '$dep1'")"
echo "ok: web at $url, worker $(cut -d' ' -f1 <<<"$w") without a port or route"

echo "== the worker's log lines, collected as worker lines"
for ((i = 0; i < 100; i++)); do
  n=$(q "SELECT count(*) FROM app_logs WHERE app_name = '$app' AND process = 'worker' AND line LIKE 'worker % job % done'")
  ((n >= 3)) && break
  sleep 0.3
done
((n >= 3)) || fail "$n worker lines stored: $(q "SELECT process, line FROM app_logs WHERE app_name = '$app' ORDER BY id DESC LIMIT 5")"
[[ $(q "SELECT count(*) FROM app_logs WHERE app_name = '$app' AND process = 'web' AND line LIKE 'worker %'") == 0 ]] ||
  fail "worker lines stored as web"
ctl logs "$app" --tail -n 20 >"$work/follow.out" 2>&1 &
follower=$!
for ((i = 0; i < 100; i++)); do
  grep -q '^worker\.1 | worker .* job [0-9]* done$' "$work/follow.out" && break
  sleep 0.3
done
grep -q '^worker\.1 | worker .* job [0-9]* done$' "$work/follow.out" ||
  fail "adctl logs --tail shows no worker.1 line: $(tail -n 5 "$work/follow.out")"
kill "$follower"
wait "$follower" 2>/dev/null || true
follower=
echo "ok: $n worker lines stored; adctl logs --tail prints $(grep -c '^worker\.1 | ' "$work/follow.out") worker.1 lines"

echo "== scale worker=0, then worker=2 (web stays 1)"
ctl scale "$app" worker=0 --wait --timeout 300 >/dev/null || fail "scale worker=0 did not reach EXPOSED"
settle no_workers || fail "workers after worker=0: $(workers "$app")"
settle webs_are 1 || fail "web containers after worker=0: $(webs "$app")"
ctl scale "$app" worker=2 --wait --timeout 300 >/dev/null || fail "scale worker=2 did not reach EXPOSED"
dep3=$(exposed_id)
settle workers_only_of "$dep3" 2 || fail "two workers of $dep3 expected: '$(workers "$app")'"
w=$(workers "$app")
settle webs_are 1 || fail "web containers after worker=2: $(webs "$app")"
[[ $(curl -fsS "$api/apps/$app" | jq -c '[.scale.worker, .process_types.worker.replicas]') == '[2,2]' ]] ||
  fail "GET /apps/$app after worker=2: $(curl -fsS "$api/apps/$app" | jq -c '{scale, process_types}')"
[[ $(curl -fsS "$url") == "Hello from procfile-worker's web process" ]] || fail "web stopped answering"
grep -Eq '^replicas: +web=1 worker=2$' <<<"$(ctl info "$app")" || fail "adctl info: $(ctl info "$app")"
[[ $(ctl ps "$app" | grep -c '^worker .* running$') == 2 ]] || fail "adctl ps: $(ctl ps "$app")"
echo "ok: worker 1 -> 0 -> 2: $(cut -d' ' -f1 <<<"$w" | tr '\n' ' ')"

echo "== redeploy: new worker containers at the app's scale"
ctl redeploy "$app" --wait --timeout 900 >/dev/null || fail "redeploy failed"
dep4=$(exposed_id)
[[ $dep4 != "$dep3" ]] || fail "the redeploy made no new release"
settle workers_only_of "$dep4" 2 ||
  fail "two workers of the redeploy ($dep4) and none older expected: '$(workers "$app")'"
w=$(workers "$app")
echo "ok: workers of $dep4: $(cut -d' ' -f1 <<<"$w" | tr '\n' ' ')"

echo "== a worker that exits at once fails its release; the previous one keeps running"
# float("oops") raises: the new release's workers exit (no build: a config change).
ctl config set "$app" WORKER_INTERVAL=oops --wait --timeout 300 >/dev/null 2>&1 &&
  fail "a release whose worker exits became EXPOSED"
last=$(curl -fsS "$api/apps/$app" | jq -c .last_deployment)
[[ $(jq -r .status <<<"$last") =~ ^(FAILED|ROLLED_BACK)$ && $(jq -r .error <<<"$last") == *"process worker"*"did not keep running"*"ValueError"* ]] ||
  fail "the failed release: $last"
[[ $(exposed_id) == "$dep4" ]] || fail "the serving release changed to $(exposed_id)"
w=$(workers "$app")
[[ $(grep -c " $dep4 0\$" <<<"$w") == 2 && $(wc -l <<<"$w") == 2 ]] || fail "the previous workers do not run: '$w'"
echo "ok: $(jq -r .error <<<"$last" | head -n 1 | cut -c1-120)..."

echo "== bad scale requests"
code=$(http_code POST "/apps/$app/scale" '{"clock": 1}')
[[ $code == 422 ]] || fail "scale of a type the app lacks: $code $(cat "$work/body")"
code=$(http_code POST "/apps/$app/scale" '{"Worker": 1}')
[[ $code == 400 ]] || fail "scale of an invalid name: $code"
code=$(http_code POST "/apps/$app/scale" '{"worker": 101}')
[[ $code == 400 ]] || fail "scale worker=101: $code"
echo "ok: 422 for a missing type, 400 for bad ones"

echo "== delete: no container left"
ctl rm "$app" >/dev/null || fail "adctl rm $app failed"
for ((i = 0; i < 300; i++)); do
  # (The failed release above has nothing left: it stays ROLLED_BACK.)
  left=$(q "SELECT count(*) FROM deployments WHERE app_name = '$app' AND status NOT IN ('DESTROYED', 'ROLLED_BACK')")
  [[ $left == 0 ]] && break
  sleep 1
done
[[ $left == 0 ]] || fail "$left deployments of $app not DESTROYED"
[[ $(q "SELECT count(*) FROM apps WHERE name = '$app'") == 0 ]] || fail "the app row is left"
[[ $(containers_json "$app" 1 | jq length) == 0 ]] || fail "containers left: $(containers_json "$app" 1 | jq -c '[.[].Names]')"
app=
echo "ok: nothing left"

echo "== release phase: once per release, in its own container, before the web containers"
rapp=rel-$suffix
markers() { q "SELECT count(*) FROM deployment_logs l JOIN deployments d ON d.id = l.deployment_id WHERE d.app_name = '$rapp' AND l.source = 'release' AND l.line = 'release-marker of v1'"; }
release_containers() { engine "/containers/json?all=1&filters=$(uri "{\"label\":[\"app-deployer.release=$rapp\"]}")" | jq length; }
json=$(ctl --json deploy "git://127.0.0.1:$git_port/rel" --name "$rapp" --wait --timeout 900 | tail -n 1)
[[ $(jq -r .status <<<"$json") == EXPOSED ]] || fail "deploy of $rapp: $json"
rdep1=$(jq -r .id <<<"$json")
rurl=$(jq -r .url <<<"$json")
[[ $(curl -fsS "$rurl") == "release-app v1" ]] || fail "$rapp does not answer v1 at $rurl"
[[ $(markers) == 1 ]] || fail "$(markers) release markers in the deployment logs, want 1 (two web replicas)"
[[ $(q "SELECT line FROM deployment_logs WHERE deployment_id = '$rdep1' AND source = 'release' ORDER BY seq DESC LIMIT 1") == "==> release command exited 0" ]] ||
  fail "the release log: $(q "SELECT line FROM deployment_logs WHERE deployment_id = '$rdep1' AND source = 'release'")"
[[ $(release_containers) == 0 ]] || fail "release-phase containers left: $(release_containers)"
web_ids=$(containers_json "$rapp" | jq -r '.[] | select(.Labels["app-deployer.process"] == null) | .Id')
[[ $(wc -w <<<"$web_ids") == 2 ]] || fail "$(wc -w <<<"$web_ids") web containers of $rapp, want 2"
released=$(q "SELECT extract(epoch FROM max(created_at)) FROM deployment_logs WHERE deployment_id = '$rdep1' AND source = 'release'")
for id in $web_ids; do
  doc=$(engine "/containers/$id/json")
  cmd=$(jq -r '[.Path] + .Args + (.Config.Cmd // []) | join(" ")' <<<"$doc")
  [[ $cmd == *app.py* && $cmd != *release-marker* ]] || fail "web container $id runs: $cmd"
  created=$(date -d "$(jq -r .Created <<<"$doc")" +%s.%N)
  awk -v c="$created" -v r="$released" 'BEGIN {exit !(c >= r)}' ||
    fail "web container $id was created ($created) before the release command ended ($released)"
done
echo "ok: the release command ran once for 2 web replicas, before them, not in their command"

echo "== release phase: a config change runs it again"
ctl config set "$rapp" COLOR=blue --wait --timeout 300 >/dev/null || fail "config set on $rapp did not reach EXPOSED"
[[ $(markers) == 2 ]] || fail "$(markers) release markers after a config change, want 2"
echo "ok: the config release ran the release command of the build it reuses"

echo "== release phase: a failing release command fails its deployment, v1 keeps serving"
sed -i 's/^VERSION = .*/VERSION = "v2"/' "$repos/rel/app.py"
printf 'web: python3 app.py\nrelease: echo failing-release; exit 3\n' >"$repos/rel/Procfile"
git -C "$repos/rel" -c user.name=t -c user.email=t@localhost commit -qam v2
: >"$work/rel-poll.log"
(
  while :; do
    b=$(curl -fsS --max-time 5 "$rurl" 2>/dev/null) || b=failed
    echo "$b" >>"$work/rel-poll.log"
    sleep 0.05
  done
) &
poller=$!
json=$(ctl --json redeploy "$rapp" --wait --timeout 900 2>/dev/null | tail -n 1) || true
for ((i = 0; i < 20; i++)); do
  curl -fsS --max-time 5 "$rurl" >>"$work/rel-poll.log" 2>/dev/null || echo failed >>"$work/rel-poll.log"
done
kill "$poller"
wait "$poller" 2>/dev/null || true
poller=
last=$(curl -fsS "$api/apps/$rapp" | jq -c .last_deployment)
[[ $(jq -r .status <<<"$last") =~ ^(FAILED|ROLLED_BACK)$ && $(jq -r .error <<<"$last") == "release command failed (exit 3): failing-release"* ]] ||
  fail "the failing release: $last (redeploy printed: $json)"
rdep2=$(jq -r .id <<<"$last")
[[ $rdep2 != "$rdep1" ]] || fail "the redeploy made no deployment"
[[ $(q "SELECT count(*) FROM deployment_logs WHERE deployment_id = '$rdep2' AND source = 'release' AND line = '==> release command exited 3'") == 1 ]] ||
  fail "the failed release's log: $(q "SELECT line FROM deployment_logs WHERE deployment_id = '$rdep2' AND source = 'release'")"
total=$(wc -l <"$work/rel-poll.log")
bad=$(grep -vcx 'release-app v1' "$work/rel-poll.log" || true)
echo "polled $total requests during and after the failing release, $bad not v1"
[[ $bad == 0 && $total -gt 20 ]] || fail "$bad of $total requests did not answer v1: $(grep -vx 'release-app v1' "$work/rel-poll.log" | sort | uniq -c | head -n 3)"
[[ $(release_containers) == 0 ]] || fail "release-phase containers left after the failure: $(release_containers)"
echo "ok: $(jq -r .status <<<"$last"): $(jq -r .error <<<"$last" | head -n 1)"
ctl rm "$rapp" >/dev/null || fail "adctl rm $rapp failed"
rapp=

hits=$(grep -l 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$AD_STATE_DIR"/logs/services/*.log 2>/dev/null || true)
[[ -z $hits ]] || fail "sanitizer reports in $hits"
((failures == 0)) || { echo "$failures failure(s)" >&2; exit 1; }
echo "PASS"
