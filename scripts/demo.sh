#!/usr/bin/env bash
# The product's main job on a fresh Debian 12 machine: installs what it
# needs, builds, starts the stack (NATS, PostgreSQL, registry, caddy,
# podman) and the six services, then deploys examples/node-express (an
# Express app with an npm dependency) through the REST API from a local
# git server, and prints the URL and IP that serve it.
#
# Everything stays up so you can try it (adctl, curl); stop it all with
#   scripts/demo.sh down
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
export AD_STATE_DIR=${AD_STATE_DIR:-$root/.stack}

step() { printf '\n==> %s\n' "$*"; }

if [[ ${1:-} == down ]]; then
  scripts/services.sh down || true
  [[ -f $AD_STATE_DIR/run/git-daemon.pid ]] && kill "$(cat "$AD_STATE_DIR/run/git-daemon.pid")" 2>/dev/null || true
  scripts/stack.sh down
  exit 0
fi

step "installing packages"
scripts/install-deps.sh

step "building"
cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=Release -DAD_BUILD_TESTS=OFF >/dev/null
cmake --build build-demo -j"$(nproc)" >/dev/null

step "starting the stack"
scripts/stack.sh up >/dev/null
# shellcheck disable=SC1091
. "$AD_STATE_DIR/env"

step "building the platform's base images (once; cached afterwards)"
AD_BIN_DIR=$PWD/build-demo/bin scripts/base-images.sh

step "serving examples/node-express from a local git server"
repos=$AD_STATE_DIR/git
rm -rf "$repos/node-express"
mkdir -p "$repos/node-express"
cp -r examples/node-express/. "$repos/node-express/"
rm -rf "$repos/node-express/node_modules"
git -C "$repos/node-express" init -q -b main
git -C "$repos/node-express" add -A
git -C "$repos/node-express" -c user.name=demo -c user.email=demo@localhost commit -qm "node-express example"
# shellcheck source=lib.sh
. scripts/lib.sh
if ! { [[ -f $AD_STATE_DIR/run/git-daemon.pid ]] && kill -0 "$(cat "$AD_STATE_DIR/run/git-daemon.pid")" 2>/dev/null; }; then
  ad_pick_port git_port
  git daemon --reuseaddr --listen=127.0.0.1 --port="$git_port" --export-all \
    --base-path="$repos" "$repos" >"$AD_STATE_DIR/logs/git-daemon.log" 2>&1 &
  echo $! >"$AD_STATE_DIR/run/git-daemon.pid"
  echo "$git_port" >"$AD_STATE_DIR/run/git-daemon.port"
  sleep 0.5
fi
git_port=$(cat "$AD_STATE_DIR/run/git-daemon.port")
# Clones refuse loopback addresses: allowlist exactly this git server.
export AD_CLONE_ALLOWLIST=127.0.0.1:$git_port

step "starting the services"
scripts/services.sh up "$root/build-demo/bin"
# shellcheck disable=SC1091
. "$AD_STATE_DIR/run/services/env"

step "deploying git://127.0.0.1:$git_port/node-express through the REST API ($ADCTL_API)"
out=$(build-demo/bin/adctl deploy "git://127.0.0.1:$git_port/node-express" --name node-express \
  --env GREETING=hello --wait | tee /dev/stderr)
id=$(sed -n 's/^Deployment \([0-9a-f-]*\) .*/\1/p' <<<"$out" | head -n 1)
json=$(build-demo/bin/adctl --json status "$id")
url=$(jq -r '.url // empty' <<<"$json")
ip=$(jq -r '.ip // empty' <<<"$json")
[[ -n $url ]] || {
  echo "the deployment did not reach a URL" >&2
  exit 1
}

step "checking the URL"
body=$(curl -fsS --max-time 10 "$url")
echo "$body"
cat <<EOM

  URL: $url
  IP:  $ip
  API: $ADCTL_API   (try: ADCTL_API=$ADCTL_API build-demo/bin/adctl ls)

Stop everything with: scripts/demo.sh down
EOM
