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
#            throughout;
#   store    it dies leaving an image half-written (its record without
#            its manifest, as SIGKILL mid-commit leaves it): a deployment
#            that meets the image (an inspect of an image built on two of
#            them, one a cached step a new commit's build reused; a
#            twice-named one in a list) removes it and ends EXPOSED, and
#            scripts/lib.sh's ad_engine_store_repair removes one too.
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

store_dir() { podman info --format '{{.Store.GraphRoot}}/{{.Store.GraphDriverName}}-images'; }
# half_write IMAGE_ID: leaves the image's record in the engine's store as an
# engine SIGKILLed between writing it and storing its manifest leaves it
# (seen in CI after the chaos test: only the config among its items, no
# "manifest" file, the "manifest-sha256:..." one still there), under the
# store's lock, and marks the store changed for any podman that holds it in
# memory.  The engine is stopped.
half_write() {
  python3 - "$(store_dir)" "$1" <<'PY'
import base64, fcntl, json, os, sys
d, image = sys.argv[1], sys.argv[2]
with open(os.path.join(d, "images.lock"), "r+b") as lock:
    fcntl.lockf(lock, fcntl.LOCK_EX)
    with open(os.path.join(d, "images.json")) as f:
        images = json.load(f)
    found = 0
    for i in images:
        if i["id"] == image:
            found = 1
            config = "sha256:" + image
            for n in i.get("big-data-names", []):
                # The file of "manifest" has that name, any other item's
                # is "=" and its name in base64.
                if n == "manifest":
                    os.unlink(os.path.join(d, image, n))
                elif n.startswith("signature-"):
                    os.unlink(os.path.join(d, image, "=" + base64.b64encode(n.encode()).decode()))
            i["big-data-names"] = [n for n in i.get("big-data-names", []) if n == config]
            for k in ("big-data-sizes", "big-data-digests"):
                i[k] = {n: v for n, v in i.get(k, {}).items() if n == config}
    if not found:
        sys.exit("no image " + image + " in " + d)
    with open(os.path.join(d, "images.json.tmp"), "w") as f:
        json.dump(images, f)
    os.rename(os.path.join(d, "images.json.tmp"), os.path.join(d, "images.json"))
    lock.seek(0)
    lock.write(os.urandom(64))
    lock.flush()
PY
}

image_of() { podman image inspect --format '{{.Id}}' "$(q "SELECT image FROM builds WHERE deployment_id = '$1'")"; }
# scratch_image FROM TAG...: a one-label image on FROM, named
# localhost/PREFIXscratch:TAG for each TAG (the engine's CLI, on the store
# directly); prints its ID.
scratch_image() {
  local from=$1 t args=()
  shift
  for t in "$@"; do args+=(-t "localhost/${prefix}scratch:$t"); done
  printf 'FROM %s\nLABEL app-deployer.test=half-written\n' "$from" |
    podman build -q --pull=never "${args[@]}" -f - "$saga_work" | tail -n 1
}
store_whole() { # WHAT IMAGE_ID [LOGGED]: it left the store, podman lists images
  # again, and (with LOGGED) a service logged its removal
  local out
  # (podman image exists fails on a half-written image too: the store's
  # own directory says whether it is there.)
  if [[ -d $(store_dir)/$2 ]]; then fail "$1: the half-written image is still in the store"; fi
  out=$(podman images -q 2>&1 >/dev/null || true)
  expect "$1: errors of podman images" "${out:0:300}" ""
  [[ -z ${3:-} ]] || expect "$1: removals logged" \
    "$(cat "$saga_logs"/*.log | grep 'removed a half-written image' | grep -c "\"$2\"" || true)" 1
}

# redeployed ID APP: the checks of a redeploy, once the previous release's
# container is retired (that happens after EXPOSED).
redeployed() {
  local i
  wait_final "$1" 600 >/dev/null
  for ((i = 0; i < 60; i++)); do
    (($(app_containers "$2") <= 1)) && break
    sleep 0.5
  done
  checks "$1" "$2"
}

case_store() {
  echo "== images the engine left half-written (killed between their record and their manifest)"
  local app=${prefix}build id image step parent out
  # Unnamed, a cached step of the app's build (the first step after its
  # base image).  A new commit's build reuses it (podman reads no manifest
  # for that) and deploys.
  engine_away
  step=$(image_of "${ids[0]}")
  while parent=$(podman image inspect --format '{{.Parent}}' "$step") && [[ -n $parent ]] &&
    [[ -z $(podman image inspect --format '{{join .RepoTags ""}}' "$parent") ]]; do
    step=$parent
  done
  if [[ $step == "$(image_of "${ids[0]}")" ]]; then
    fail "the app's image has no unnamed parent (a cached step) to leave half-written"
  else
    half_write "$step"
    # The store is now as CI found it.
    out=$(podman images -q 2>&1 >/dev/null || true)
    if [[ $out == *"locating item named"*"$step"* ]]; then
      echo "  ok: the store holds a half-written image (${step:0:12}): podman images fails"
    else
      fail "the store was not left half-written: ${out:0:300}"
    fi
  fi
  engine_back
  echo "# a new commit" >>"$saga_work/git/outage-app/app.py"
  git -C "$saga_work/git/outage-app" -c user.name=test -c user.email=test@localhost commit -qam v2
  id=$(api_post_deploy "$api_port" "$repo" "$app" "k-$app-store-build")
  ids+=("$id")
  redeployed "$id" "$app"

  # Unnamed too, the parent of the app's image, with that cached step
  # further up: a redeploy of the commit (its image already built) meets
  # both when the deployer inspects the image (podman walks up the
  # ancestors, one at a time).
  engine_away
  parent=$(podman image inspect --format '{{.Parent}}' "$(image_of "$id")")
  [[ -n $parent ]] || { fail "the app's image has no parent image to leave half-written"; engine_back; return 0; }
  [[ $parent == "$step" ]] || half_write "$parent"
  engine_back
  id=$(api_post_deploy "$api_port" "$repo" "$app" "k-$app-store-parent")
  ids+=("$id")
  redeployed "$id" "$app"
  store_whole "a parent image" "$parent" logged
  [[ $parent == "$step" ]] || store_whole "a cached step" "$step" logged

  # An image no container uses, named twice: podman removes it only by
  # force then.  The next deploy's list of the app's images meets it.
  engine_away
  image=$(scratch_image "$(image_of "$id")" one two)
  half_write "$image"
  engine_back
  id=$(api_post_deploy "$api_port" "$repo" "$app" "k-$app-store-named")
  ids+=("$id")
  redeployed "$id" "$app"
  store_whole "a named image" "$image" logged

  # The scripts' own repair (scripts/lib.sh, before the CLI builds base
  # images).
  engine_away
  image=$(scratch_image "$(image_of "$id")" three)
  half_write "$image"
  ad_engine_store_repair 2>/dev/null
  store_whole "ad_engine_store_repair" "$image"
  engine_back
}

for c in ${OUTAGE_CASES:-build deploy running store}; do "case_$c"; done

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
