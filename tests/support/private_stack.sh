# A private stack for tests that kill the stack's own servers (NATS nodes,
# PostgreSQL, the podman service): a fresh state dir under /tmp, never the
# shared one.  Sourced, before tests/support/saga.sh (which reads
# AD_STATE_DIR).  Needs: root (the repository).
#   pstack_up [VAR=VALUE...]   start it (VAR=VALUE for stack.sh: e.g.
#                              AD_NATS_CLUSTER=3), export AD_STATE_DIR
#   pstack CMD [ARGS]          scripts/stack.sh CMD on it (kill NAME, up,
#                              restart NAME); its log lines go to
#                              $pstack_base/stack.log
#   pstack_down PREFIX KEEP    remove the containers, networks and images
#                              apps named PREFIX* left in the engine
#                              (shared root storage: filtered by name),
#                              stop and purge the stack; KEEP=1
#                              copies its logs to $pstack_base.logs first
# shellcheck shell=bash
# root comes from the caller.
# shellcheck disable=SC2154

pstack_base=""

pstack_up() {
  local v
  pstack_base=$(mktemp -d /tmp/adps.XXXXXX)
  # postgres (not root) must traverse it to reach its data dir.
  chmod 0755 "$pstack_base"
  # Nothing from the shared stack's environment may leak into the run.
  for v in AD_NATS_URL AD_NATS_MONITOR_URL AD_NATS_REPLICAS AD_DATABASE_URL AD_ENGINE_SOCKET \
    AD_REGISTRY_ADDRESS AD_CADDY_ADMIN_URL AD_INGRESS_HTTP_PORT AD_INGRESS_HTTPS_PORT \
    AD_INGRESS_CA_FILE CONTAINERS_CONF CONTAINERS_REGISTRIES_CONF DOCKER_HOST \
    AD_SECRETS_KEY AD_NATS_CLUSTER AD_STACK_SERVERS AD_REGISTRY_USERNAME AD_REGISTRY_PASSWORD \
    AD_REGISTRY_NETRC REGISTRY_AUTH_FILE; do
    unset "$v"
  done
  # Nor the shared stack's per-service URLs.
  for v in $(compgen -e | grep -E '^AD_(NATS|DATABASE)_URL_' || true); do
    unset "$v"
  done
  export AD_STATE_DIR=$pstack_base/s
  env "$@" bash "$root/scripts/stack.sh" up >/dev/null 2>>"$pstack_base/stack.log" ||
    { cat "$pstack_base/stack.log" >&2; return 1; }
}

pstack() {
  printf '=== %s: stack.sh %s\n' "$(date -Is)" "$*" >>"$pstack_base/stack.log"
  bash "$root/scripts/stack.sh" "$@" >/dev/null 2>>"$pstack_base/stack.log"
}

pstack_down() {
  local prefix=$1 keep=${2:-0} sock ids nets tags id
  [[ -n $pstack_base && -d $pstack_base ]] || return 0
  sock=$AD_STATE_DIR/podman.sock
  if [[ -n $prefix ]] && pstack up; then
    # Containers and networks of these apps only: the engine's
    # storage is shared with every other stack on the machine.
    ids=$(curl -fsS --unix-socket "$sock" \
      'http://d/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22app-deployer.app%22%5D%7D' |
      jq -r --arg p "$prefix" '.[] | select(.Labels["app-deployer.app"] | startswith($p)) | .Id') || ids=""
    for id in $ids; do
      curl -fsS --unix-socket "$sock" -X DELETE "http://d/v1.41/containers/$id?force=1" >/dev/null || true
    done
    nets=$(curl -fsS --unix-socket "$sock" \
      'http://d/v1.41/networks?filters=%7B%22label%22%3A%5B%22app-deployer.app%22%5D%7D' |
      jq -r --arg p "$prefix" '.[] | select(.Labels["app-deployer.app"] | startswith($p)) | .Id') || nets=""
    for id in $nets; do
      curl -fsS --unix-socket "$sock" -X DELETE "http://d/v1.41/networks/$id" >/dev/null || true
    done
    # Images the builder made for them, tagged REGISTRY/PREFIX...: untag
    # (an image goes once its last tag does).
    tags=$(curl -fsS --unix-socket "$sock" 'http://d/v1.41/images/json' |
      jq -r --arg p "/$prefix" '.[] | (.RepoTags // [])[] | select(contains($p))') || tags=""
    for id in $tags; do
      curl -fsS --unix-socket "$sock" -X DELETE "http://d/v1.41/images/$(jq -rn --arg s "$id" '$s|@uri')" >/dev/null || true
    done
  fi
  if ((keep)); then
    cp -r "$AD_STATE_DIR/logs" "$pstack_base.logs" 2>/dev/null || true
    cp "$pstack_base/stack.log" "$pstack_base.logs/" 2>/dev/null || true
    echo "logs kept in $pstack_base.logs" >&2
  fi
  bash "$root/scripts/stack.sh" down --purge >/dev/null 2>&1 || true
  rm -rf "$pstack_base"
}
