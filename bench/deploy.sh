#!/usr/bin/env bash
# Deployment timings of examples/node-express through the whole platform,
# RUNS times each (default 5), with medians:
#   first    a new app: clone, analyze, build (warm layer cache), provision, run
#   redeploy the same app after a one-line code change
# For each, from the deployment's timeline (GET /deployments/{id}, see
# docs/api.md): the total (request accepted -> EXPOSED recorded), the build
# step, the container's start-to-healthy time (containers started -> every
# replica answered), the control plane's own share = total - build -
# start-to-healthy, and the hops (the time no step works on the
# deployment: accepted -> analyzer start, each step's end -> the next
# step's start, the deploy step's end -> EXPOSED recorded), each a median.
# Reference, measured in the same run: the same Dockerfile built and run by
# hand with the podman CLI until it answers (the engine's floor), so the
# ratio total/reference is comparable across machines.  Last, the peak RSS
# (VmHWM) of every service after the runs, next to its RSS before them.
#
# Needs the stack and the services up (scripts/demo.sh, or scripts/stack.sh
# up + scripts/services.sh up BIN_DIR), then:
#   bench/deploy.sh [RUNS] [BIN_DIR]     (BIN_DIR: build-demo/bin)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${1:-5}
bindir=${2:-$root/build-demo/bin}
state=${AD_STATE_DIR:-$root/.stack}
. "$state/env"
. "$state/run/services/env"
ctl=$bindir/adctl
detect=$bindir/adanalyzer
git_port=$(cat "$state/run/git-daemon.port")
repos=$state/git
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
services=(api coordinator analyzer builder provisioner deployer)

ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# kB of /proc/PID/status's FIELD (VmRSS, VmHWM) for service SVC
rss_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$(cat "$state/run/services/$1.pid")/status"; }

# The figures of one deployment, from its timeline, in this order:
columns=(total build healthy control hops h_accept h_analyzed h_built h_provisioned h_exposed
  analyze provision deploy_prepare deploy_switch deploy_finish)
figures='(.timeline | map({(.event): .elapsed_ms}) | add) as $t
  | (.hops | map({("\(.from)>\(.to)"): .duration_ms}) | add) as $h
  | [$t.exposed, $t["build.ended"] - $t["build.started"],
     $t["deploy.first_healthy"] - $t["deploy.containers_started"],
     $t.exposed - ($t["build.ended"] - $t["build.started"])
       - ($t["deploy.first_healthy"] - $t["deploy.containers_started"]),
     .hops_total_ms, $h["accepted>analyze.started"], $h["analyze.ended>build.started"],
     $h["build.ended>provision.started"], $h["provision.ended>deploy.started"],
     $h["deploy.ended>exposed"],
     $t["analyze.ended"] - $t["analyze.started"], $t["provision.ended"] - $t["provision.started"],
     $t["deploy.containers_started"] - $t["deploy.started"],
     $t["deploy.route_switched"] - $t["deploy.first_healthy"],
     $t["deploy.ended"] - $t["deploy.route_switched"]] | map(. // "-") | join(" ")'

# deploy APP REPO -> the figures above, in ms
deploy() {
  local id json
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
  if [[ $(jq '.timeline | length' <<<"$json") == 0 ]]; then
    echo "deployment $id has no timeline: services older than the timeline (docs/api.md)" >&2
    exit 1
  fi
  jq -r "$figures" <<<"$json"
}

# The reference: podman build + run + first answer, by hand.
reference() {
  local dir=$1 tag=$2 port cid t0 t1
  "$detect" detect --plan "$dir" >"$dir/Dockerfile.bench" 2>/dev/null
  [[ -f ${SSL_CERT_FILE:-} ]] && cp "$SSL_CERT_FILE" "$dir/.ad-extra-ca.pem" &&
    "$detect" detect --plan --extra-ca "$dir" >"$dir/Dockerfile.bench" 2>/dev/null
  t0=$(ms)
  # (errexit does not reach into $(...): each failure ends the bench here.)
  podman build -q -f "$dir/Dockerfile.bench" -t "localhost/bench-ref:$tag" "$dir" >/dev/null ||
    { echo "reference: podman build failed" >&2; exit 1; }
  port=$((20000 + RANDOM % 10000))
  cid=$(podman run -d --pull=never --user 10001:10001 -e PORT=3000 -p "127.0.0.1:$port:3000" "localhost/bench-ref:$tag") ||
    { echo "reference: podman run failed" >&2; exit 1; }
  until curl -fs -o /dev/null "http://127.0.0.1:$port/"; do
    (($(ms) - t0 < 300000)) || { echo "reference: no answer within 300 s" >&2; podman rm -f "$cid" >/dev/null; exit 1; }
    sleep 0.05
  done
  t1=$(ms)
  podman rm -f "$cid" >/dev/null
  echo $((t1 - t0))
}

for svc in "${services[@]}"; do echo "$svc $(rss_kb "$svc" VmRSS)" >>"$work/rss-idle"; done
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
  f=$(deploy "$name" "$name")
  echo "$f" >>"$work/first"
  read -r total build healthy control hops _ <<<"$f"
  echo "run $i first:    total $total ms, build $build ms, start-to-healthy $healthy ms, control plane $control ms, hops $hops ms"

  sed -i "s/Hello from node-express/Hello from node-express, run $i/" "$repos/$name/server.js"
  git -C "$repos/$name" -c user.name=b -c user.email=b@l commit -qam "one-line change"
  f=$(deploy "$name" "$name")
  echo "$f" >>"$work/redeploy"
  read -r total build healthy control hops _ <<<"$f"
  echo "run $i redeploy: total $total ms, build $build ms, start-to-healthy $healthy ms, control plane $control ms, hops $hops ms"

  cp -r "$repos/$name" "$work/ref-$i"
  sed -i "s/run $i/ref $i/" "$work/ref-$i/server.js"
  r=$(reference "$work/ref-$i" "$suffix-$i")
  echo "$r" >>"$work/ref"
  echo "run $i reference (podman build + run by hand): ${r} ms"
done

ref=$(median <"$work/ref")
col() { cut -d' ' -f"$2" "$work/$1" | grep -v -- '^-$' | median; }
printf '\n%-10s %10s %10s %18s %16s %10s %10s\n' "" total build start-to-healthy control-plane hops total/ref
for kind in first redeploy; do
  t=$(col "$kind" 1)
  printf '%-10s %8s ms %8s ms %15s ms %13s ms %7s ms %10s\n' "$kind" "$t" "$(col "$kind" 2)" \
    "$(col "$kind" 3)" "$(col "$kind" 4)" "$(col "$kind" 5)" \
    "$(awk -v a="$t" -v b="$ref" 'BEGIN {printf "%.2f", a / b}')"
done
echo "reference (median): $ref ms; medians of $runs runs"
printf '\nhops and step pieces, medians in ms:\n%-32s %8s %8s\n' "" first redeploy
labels=("" "" "" "" "" "accepted -> analyze.started" "analyze.ended -> build.started"
  "build.ended -> provision.started" "provision.ended -> deploy.started" "deploy.ended -> exposed"
  "analyze (step)" "provision (step)" "deploy: network + image pull" "deploy: healthy -> route switched"
  "deploy: switched -> ended")
for ((c = 6; c <= ${#columns[@]}; c++)); do
  printf '%-32s %8s %8s\n' "${labels[$((c - 1))]}" "$(col first "$c")" "$(col redeploy "$c")"
done
printf '\nRSS of the services (MiB): before the runs, peak during them (VmHWM)\n'
idle_total=0
peak_total=0
for svc in "${services[@]}"; do
  idle=$(awk -v s="$svc" '$1 == s {print $2}' "$work/rss-idle")
  peak=$(rss_kb "$svc" VmHWM)
  idle_total=$((idle_total + idle))
  peak_total=$((peak_total + peak))
  printf '%-12s %8.1f %8.1f\n' "$svc" "$(awk -v k="$idle" 'BEGIN {print k / 1024}')" \
    "$(awk -v k="$peak" 'BEGIN {print k / 1024}')"
done
printf '%-12s %8.1f %8.1f\n' total "$(awk -v k="$idle_total" 'BEGIN {print k / 1024}')" \
  "$(awk -v k="$peak_total" 'BEGIN {print k / 1024}')"
for ((i = 1; i <= runs; i++)); do podman rmi -f "localhost/bench-ref:$suffix-$i" >/dev/null 2>&1 || true; done
# The benchmark's apps go too (their containers would load the next run).
for ((i = 1; i <= runs; i++)); do "$ctl" rm "bench-$suffix-$i" >/dev/null 2>&1 || true; done
