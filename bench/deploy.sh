#!/usr/bin/env bash
# Deployment timings of examples/node-express through the whole platform,
# RUNS times each (default 5), with medians:
#   first    a new app: clone, analyze, build (warm layer cache), provision, run
#   redeploy the same app after a one-line code change
# For each: total (request accepted -> EXPOSED, server-side timestamps),
# the build step, the container's start-to-healthy time, and the control
# plane's own share = total - build - start-to-healthy.
# Reference, measured in the same run: the same Dockerfile built and run by
# hand with the podman CLI until it answers (the engine's floor), so the
# ratio total/reference is comparable across machines.
#
# Needs the demo's stack and services up (scripts/demo.sh), then:
#   bench/deploy.sh [RUNS]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${1:-5}
state=${AD_STATE_DIR:-$root/.stack}
. "$state/env"
. "$state/run/services/env"
ctl=$root/build-demo/bin/adctl
detect=$root/build-demo/bin/adanalyzer
git_port=$(cat "$state/run/git-daemon.port")
repos=$state/git
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# deploy APP REPO -> "total build start_to_healthy" in ms
deploy() {
  local id json total build healthy
  id=$("$ctl" --json deploy "git://127.0.0.1:$git_port/$2" --name "$1" | jq -r .id)
  while :; do
    json=$("$ctl" --json status "$id")
    case $(jq -r .status <<<"$json") in
    EXPOSED) break ;;
    ROLLED_BACK | FAILED | DESTROYED)
      echo "deployment $id failed: $(jq -r .error <<<"$json")" >&2
      exit 1
      ;;
    esac
    sleep 0.2
  done
  total=$(jq -r '((.updated_at | sub("\\.[0-9]+Z$"; "Z") | fromdate) - (.created_at | sub("\\.[0-9]+Z$"; "Z") | fromdate)) * 1000
    + ((.updated_at | capture("\\.(?<ms>[0-9]+)Z$").ms | tonumber) - (.created_at | capture("\\.(?<ms>[0-9]+)Z$").ms | tonumber))' <<<"$json")
  build=$(jq -r '[.steps[] | select(.step == "build") | .duration_ms][0]' <<<"$json")
  healthy=$(grep -h "\"deployment_id\":\"$id\"" "$state/logs/services/deployer.log" |
    grep -o '"start_to_healthy_ms":[0-9]*' | tail -n 1 | cut -d: -f2)
  echo "$total $build ${healthy:-0}"
}

# The reference: podman build + run + first answer, by hand.
reference() {
  local dir=$1 tag=$2 port cid t0 t1
  "$detect" detect --plan "$dir" >"$dir/Dockerfile.bench" 2>/dev/null
  [[ -f ${SSL_CERT_FILE:-} ]] && cp "$SSL_CERT_FILE" "$dir/.ad-extra-ca.pem" &&
    "$detect" detect --plan --extra-ca "$dir" >"$dir/Dockerfile.bench" 2>/dev/null
  t0=$(ms)
  podman build -q -f "$dir/Dockerfile.bench" -t "localhost/bench-ref:$tag" "$dir" >/dev/null
  port=$((20000 + RANDOM % 10000))
  cid=$(podman run -d --user 10001:10001 -e PORT=3000 -p "127.0.0.1:$port:3000" "localhost/bench-ref:$tag")
  until curl -fs -o /dev/null "http://127.0.0.1:$port/"; do sleep 0.05; done
  t1=$(ms)
  podman rm -f "$cid" >/dev/null
  echo $((t1 - t0))
}

suffix=$(od -An -tx1 -N3 /dev/urandom | tr -d ' \n')
: >"$work/first"
: >"$work/redeploy"
: >"$work/ref"
for ((i = 1; i <= runs; i++)); do
  name=bench-$suffix-$i
  rm -rf "${repos:?}/$name"
  cp -r "$root/examples/node-express" "$repos/$name"
  rm -rf "$repos/$name/node_modules"
  git -C "$repos/$name" init -q -b main
  git -C "$repos/$name" add -A
  git -C "$repos/$name" -c user.name=b -c user.email=b@l commit -qm v1
  read -r total build healthy < <(deploy "$name" "$name")
  echo "$total $build $healthy $((total - build - healthy))" >>"$work/first"
  echo "run $i first:    total ${total} ms, build ${build} ms, start-to-healthy ${healthy} ms"

  sed -i "s/Hello from node-express/Hello from node-express, run $i/" "$repos/$name/server.js"
  git -C "$repos/$name" -c user.name=b -c user.email=b@l commit -qam "one-line change"
  read -r total build healthy < <(deploy "$name" "$name")
  echo "$total $build $healthy $((total - build - healthy))" >>"$work/redeploy"
  echo "run $i redeploy: total ${total} ms, build ${build} ms, start-to-healthy ${healthy} ms"

  cp -r "$repos/$name" "$work/ref-$i"
  sed -i "s/run $i/ref $i/" "$work/ref-$i/server.js"
  r=$(reference "$work/ref-$i" "$suffix-$i")
  echo "$r" >>"$work/ref"
  echo "run $i reference (podman build + run by hand): ${r} ms"
done

ref=$(median <"$work/ref")
printf '\n%-10s %10s %10s %18s %16s %12s\n' "" total build start-to-healthy control-plane total/ref
for kind in first redeploy; do
  t=$(cut -d' ' -f1 "$work/$kind" | median)
  b=$(cut -d' ' -f2 "$work/$kind" | median)
  h=$(cut -d' ' -f3 "$work/$kind" | median)
  c=$(cut -d' ' -f4 "$work/$kind" | median)
  printf '%-10s %8s ms %8s ms %15s ms %13s ms %12s\n' "$kind" "$t" "$b" "$h" "$c" \
    "$(awk -v a="$t" -v b="$ref" 'BEGIN {printf "%.2f", a / b}')"
done
echo "reference (median): $ref ms; medians of $runs runs"
for ((i = 1; i <= runs; i++)); do podman rmi -f "localhost/bench-ref:$suffix-$i" >/dev/null 2>&1 || true; done
