#!/usr/bin/env bash
# deploy/compose, for real: builds a Release build and the compose images
# (deploy/compose/images.sh), brings the whole platform up with
# docker-compose against the stack's podman (its Docker API socket), on free
# loopback ports, and checks that:
#   - every server and service container is running, the API answers;
#   - a deployment of examples/python-stdlib (from a local git daemon)
#     through the API reaches EXPOSED and its URL serves the app through the
#     compose caddy, from an image in the compose registry;
#   - a worker scales to two replicas (`up -d --scale deployer=2`) that both
#     stay up (they take free health ports on the host network);
#   - DELETE removes the app's containers; `down -v` leaves nothing behind.
# Usage: compose.sh BUILD_DIR   (the Release build goes to BUILD_DIR/compose-release)
# Needs a stack env (. .stack/env): its podman socket is the engine.
set -euo pipefail
build=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$root/scripts/lib.sh"
. "$root/tests/support/git_repos.sh"
: "${AD_ENGINE_SOCKET:?start the stack first (scripts/stack.sh up; . .stack/env)}"
# Nothing of the stack's own servers may leak into the platform's config.
unset AD_NATS_URL AD_DATABASE_URL AD_REGISTRY_ADDRESS AD_CADDY_ADMIN_URL AD_INGRESS_HTTP_PORT \
  AD_INGRESS_HTTPS_PORT AD_SECRETS_KEY AD_NATS_REPLICAS
export DOCKER_HOST=unix://$AD_ENGINE_SOCKET ENGINE_SOCKET=$AD_ENGINE_SOCKET COMPOSE_PROJECT_NAME=adcompose$$
# The platform image under a name of this run's own: the engine's store is
# the machine's, and another run (CI, another checkout) builds
# platform:latest from its own tree meanwhile.
export PLATFORM_IMAGE=localhost/app-deployer/platform:compose$$
compose=(docker-compose -f "$root/deploy/compose/compose.yaml")
work=$(mktemp -d /tmp/adcompose.XXXXXX)
failures=0 dumped=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
t0=$SECONDS

# On failure, before anything is torn down: the last lines of every
# platform container and where the app's containers publish their ports.
dump_logs() {
  local c
  ((failures && !dumped)) || return 0
  dumped=1
  for c in $(podman --remote --url "$DOCKER_HOST" ps -aq \
    --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" 2>/dev/null); do
    echo "--- $(podman --remote --url "$DOCKER_HOST" inspect --format '{{.Name}}' "$c")" >&2
    podman --remote --url "$DOCKER_HOST" logs --tail 15 "$c" 2>&1 | cut -c1-400 >&2 || true
  done
  for c in $(podman --remote --url "$DOCKER_HOST" ps -aq --filter "label=app-deployer.app=$app" \
    2>/dev/null); do
    echo "--- app container $c: $(podman --remote --url "$DOCKER_HOST" inspect \
      --format '{{.State.Status}} {{json .NetworkSettings.Ports}}' "$c" 2>&1)" >&2
  done
}

cleanup() {
  local ids
  dump_logs
  "${compose[@]}" down -v --timeout 5 >/dev/null 2>&1 || true
  AD_FIREWALL_ID=$EGRESS_ID "$root/scripts/firewall.sh" down || true
  ids=$(podman --remote --url "$DOCKER_HOST" ps -aq --filter "label=app-deployer.app=$app" 2>/dev/null || true)
  [[ -z $ids ]] || podman --remote --url "$DOCKER_HOST" rm -f $ids >/dev/null 2>&1 || true
  podman --remote --url "$DOCKER_HOST" network rm -f "ad-net-$app" >/dev/null 2>&1 || true
  [[ -n ${gitd:-} ]] && kill "$gitd" 2>/dev/null || true
  podman --remote --url "$DOCKER_HOST" rmi -f "$PLATFORM_IMAGE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
app=compose-$(od -An -tx1 -N3 /dev/urandom | tr -d ' \n')
trap cleanup EXIT

echo "compose: Release build"
cmake -S "$root" -B "$build/compose-release" -DCMAKE_BUILD_TYPE=Release -DAD_BUILD_TESTS=OFF \
  >/dev/null
cmake --build "$build/compose-release" -j "$(nproc)" >/dev/null
echo "compose: images"
bash "$root/deploy/compose/images.sh" "$build/compose-release/bin" 2>&1 | grep -v debconf || true

for v in NATS_PORT POSTGRES_PORT REGISTRY_PORT INGRESS_HTTP_PORT \
  INGRESS_HTTPS_PORT API_PORT; do
  ad_pick_port "$v"
  export "${v?}"
done
for u in API COORDINATOR ANALYZER BUILDER PROVISIONER DEPLOYER EXTERNAL; do
  export "NATS_PASSWORD_$u=$(openssl rand -hex 16)"
done
export INGRESS_LISTEN=127.0.0.1 POSTGRES_PASSWORD=compose-$$ SECRETS_KEY EGRESS_ID=compose$$
REGISTRY_PASSWORD=$(openssl rand -hex 16)
export REGISTRY_PASSWORD
SECRETS_KEY=$(openssl rand -hex 32)
api=http://127.0.0.1:$API_PORT

# A git daemon on the host: the analyzer and builder (host network) reach
# it, and only it is allowlisted for clones.
git_repo_from "$work/git/$app" "$root/examples/python-stdlib"
git_daemon_start "$work/git" "$work/gitd.log"
export CLONE_ALLOWLIST=$AD_CLONE_ALLOWLIST
sleep 0.5

echo "compose: up (project $COMPOSE_PROJECT_NAME)"
"${compose[@]}" up -d >"$work/up.log" 2>&1 || {
  cat "$work/up.log" >&2
  fail "docker-compose up"
  exit 1
}
ad_wait_for "the API" 120 "" "$work/up.log" curl -fsS "$api/healthz" ||
  fail "the API did not answer /healthz within 120 s"
for s in egress nats postgres registry caddy api coordinator analyzer builder provisioner deployer; do
  state=$("${compose[@]}" ps -q "$s" | xargs -r podman --remote --url "$DOCKER_HOST" inspect \
    --format '{{.State.Status}}' 2>/dev/null || true)
  [[ $state == running ]] || fail "$s is '$state', not running"
done
# The egress service installed its rules (docs/security.md): link-local and
# the platform's ports, for this project's id.
if rules=$(iptables -S "ADFW-$EGRESS_ID" 2>/dev/null) && [[ $rules == *169.254.0.0/16* ]] &&
  iptables -S "ADFW-$EGRESS_ID-in" | grep -q -- "--dport $POSTGRES_PORT "; then
  echo "compose: egress rules ADFW-$EGRESS_ID in place"
else
  fail "the egress service did not install ADFW-$EGRESS_ID"
fi


echo "compose: deploying $app"
body=$(printf '{"repo_url":"git://127.0.0.1:%s/%s","name":"%s"}' "$git_port" "$app" "$app")
created=$(curl -fsS -X POST -H 'Content-Type: application/json' -d "$body" "$api/deployments") ||
  fail "POST /deployments"
id=$(jq -r '.id' <<<"$created")
status=""
for ((i = 0; i < 240; i++)); do
  status=$(curl -fsS "$api/deployments/$id" | jq -r '.status') || true
  [[ $status == EXPOSED || $status == FAILED || $status == ROLLED_BACK || $status == ROLLING_BACK ]] && break
  sleep 1
done
if [[ $status != EXPOSED ]]; then
  curl -sS "$api/deployments/$id" >&2 || true
  fail "deployment $id ended '$status', not EXPOSED"
else
  url=$(curl -fsS "$api/deployments/$id" | jq -r '.url')
  echo "compose: $app EXPOSED at $url ($((SECONDS - t0)) s since the start)"
  [[ $url == "http://$app.localhost:$INGRESS_HTTP_PORT/" ]] || fail "unexpected URL $url"
  page=$(curl -fsS --resolve "$app.localhost:$INGRESS_HTTP_PORT:127.0.0.1" "$url") ||
    fail "GET $url"
  [[ $page == *"python-stdlib"* ]] || fail "GET $url answered: ${page:0:200}"
  # The registry asks for credentials: refused without, listed with.
  [[ $(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$REGISTRY_PORT/v2/$app/tags/list") == 401 ]] ||
    fail "the compose registry answers without credentials"
  curl -fsS -K- "http://127.0.0.1:$REGISTRY_PORT/v2/$app/tags/list" <<<"user = \"app-deployer:$REGISTRY_PASSWORD\"" | grep -q latest ||
    fail "the image is not in the compose registry"
  # A custom domain: the API (which has no way to caddy's admin socket
  # here) has a deployer put it on the app's route.
  dom=www-$app.example.test
  code=$(curl -sS -o "$work/dom.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -d "{\"hostname\":\"$dom\"}" "$api/apps/$app/domains") || true
  [[ $code == 201 ]] || fail "POST /apps/$app/domains: HTTP $code $(cat "$work/dom.json" 2>/dev/null)"
  page=$(curl -fsS --resolve "$dom:$INGRESS_HTTP_PORT:127.0.0.1" "http://$dom:$INGRESS_HTTP_PORT/") ||
    fail "GET http://$dom:$INGRESS_HTTP_PORT/"
  [[ $page == *"python-stdlib"* ]] && echo "compose: custom domain $dom serves the app" ||
    fail "the custom domain answered: ${page:0:200}"
fi

# What `down` must remove: the project's containers, counted by their label.
project_label="label=com.docker.compose.project=$COMPOSE_PROJECT_NAME"
up_count=$(podman --remote --url "$DOCKER_HOST" ps -aq --filter "$project_label" | wc -l)
((up_count == 11)) || fail "$up_count containers carry $project_label, want 11 (ten services and egress)"

echo "compose: scaling the deployer to 2"
"${compose[@]}" up -d --scale deployer=2 >>"$work/up.log" 2>&1 || fail "up --scale deployer=2"
sleep 5
running=$("${compose[@]}" ps -q deployer | xargs -r podman --remote --url "$DOCKER_HOST" inspect \
  --format '{{.State.Status}}' | grep -c running || true)
((running == 2)) || fail "$running deployer replicas running, want 2"

if [[ -n ${id:-} ]]; then
  curl -fsS -X DELETE "$api/deployments/$id" >/dev/null || fail "DELETE /deployments/$id"
  for ((i = 0; i < 120; i++)); do
    left=$(podman --remote --url "$DOCKER_HOST" ps -aq --filter "label=app-deployer.app=$app" | wc -l)
    ((left == 0)) && break
    sleep 1
  done
  ((left == 0)) || fail "$left containers of $app left after DELETE"
fi

dump_logs
"${compose[@]}" down -v --timeout 5 >/dev/null 2>&1 || fail "docker-compose down"
left=$(podman --remote --url "$DOCKER_HOST" ps -aq --filter "$project_label" | wc -l)
((left == 0)) || fail "$left platform containers left after down"
# The egress service took its rules with it (SIGTERM: firewall.sh run).
! iptables -S "ADFW-$EGRESS_ID" >/dev/null 2>&1 || fail "ADFW-$EGRESS_ID left after down"
if ((failures)); then
  echo "compose: $failures failure(s)" >&2
  exit 1
fi
echo "compose: passed in $((SECONDS - t0)) s"
