#!/usr/bin/env bash
# Infrastructure faults (tests/integration/test_infra_faults.c) on private
# stacks in a temporary state dir, never the shared one (the tests kill its
# servers):
#   1. a 3-node NATS cluster + PostgreSQL: lose a node while publishing and
#      consuming; restart PostgreSQL under the coordinator;
#   2. one NATS node: kill it and start it again under a consumer loop.
# Usage: test_infra_faults.sh BUILD_DIR
set -euo pipefail

build=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
stack=$repo/scripts/stack.sh
base=$(mktemp -d /tmp/adinfra.XXXXXX)
# postgres (not root) must traverse it to reach its data dir.
chmod 0755 "$base"

cleanup() {
  local dir
  for dir in "$base/cluster" "$base/single"; do
    [[ -d $dir ]] && AD_STATE_DIR=$dir bash "$stack" down --purge >/dev/null 2>&1
  done
  rm -rf "$base"
}
trap cleanup EXIT

# Nothing from the shared stack's environment may leak into these runs.
unset AD_NATS_URL AD_NATS_REPLICAS AD_DATABASE_URL AD_NATS_CLUSTER AD_STACK_SERVERS

run() {
  local dir=$1 mode=$2
  shift 2
  env AD_STATE_DIR="$dir" "$@" bash "$stack" up >/dev/null
  (
    # shellcheck disable=SC1091
    . "$dir/env"
    exec "$build/tests/test_infra_faults" "$mode"
  )
}

t0=$SECONDS
run "$base/cluster" cluster AD_NATS_CLUSTER=3 AD_STACK_SERVERS="nats postgres"
run "$base/single" single AD_NATS_CLUSTER=1 AD_STACK_SERVERS=nats
echo "infra faults: passed in $((SECONDS - t0)) s"
