#!/usr/bin/env bash
# Throughput: N apps (default 20) submitted at once, each a copy of
# examples/node-express with its own greeting, through the whole platform;
# the wall time until every one is EXPOSED (each also answers through the
# ingress), against the reference measured in the same run: the same N
# Dockerfiles built and run by hand with the podman CLI one after another
# (build, run, first answer, remove), the way one person would without the
# platform.  Also the RSS of every service before (idle) and its peak
# (VmHWM) after, and the apps' own deployment totals (median, max).
#
# Needs the stack and the services up (scripts/demo.sh, or scripts/stack.sh
# up + scripts/services.sh up BIN_DIR), then:
#   bench/throughput.sh [N] [BIN_DIR]     (BIN_DIR: build-demo/bin)
# The apps are deleted at the end.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
n=${1:-20}
bindir=${2:-$root/build-demo/bin}
state=${AD_STATE_DIR:-$root/.stack}
. "$state/env"
. "$state/run/services/env"
ctl=$bindir/adctl
detect=$bindir/adanalyzer
git_port=$(cat "$state/run/git-daemon.port")
repos=$state/git
work=$(mktemp -d)
suffix=$(od -An -tx1 -N3 /dev/urandom | tr -d ' \n')
services=(api coordinator analyzer builder provisioner deployer)
cleanup() {
  local i
  for ((i = 1; i <= n; i++)); do
    "$ctl" rm "tp-$suffix-$i" >/dev/null 2>&1 || true
    rm -rf "${repos:?}/tp-$suffix-$i"
    podman rmi -f "localhost/bench-tp:$suffix-$i" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
rss_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$(cat "$state/run/services/$1.pid")/status"; }

for svc in "${services[@]}"; do echo "$svc $(rss_kb "$svc" VmRSS)" >>"$work/rss-idle"; done

# The apps' repositories: node-express, each with its own greeting.
for ((i = 1; i <= n; i++)); do
  d=$repos/tp-$suffix-$i
  rm -rf "$d"
  cp -r "$root/examples/node-express" "$d"
  rm -rf "$d/node_modules"
  sed -i "s/Hello from node-express/Hello from node-express, app $i/" "$d/server.js"
  git -C "$d" init -q -b main
  git -C "$d" add -A
  git -C "$d" -c user.name=b -c user.email=b@l commit -qm v1
done

echo "== the platform: $n apps submitted at once"
t0=$(ms)
for ((i = 1; i <= n; i++)); do
  "$ctl" --json deploy "git://127.0.0.1:$git_port/tp-$suffix-$i" --name "tp-$suffix-$i" |
    jq -r .id >"$work/id-$i" &
done
wait
left=$n
failed=0
declare -A done_at=()
while ((left > 0)); do
  for ((i = 1; i <= n; i++)); do
    [[ -n ${done_at[$i]:-} ]] && continue
    s=$("$ctl" --json status "$(cat "$work/id-$i")" | jq -r .status)
    case $s in
    EXPOSED) done_at[$i]=$(ms) left=$((left - 1)) ;;
    ROLLED_BACK | FAILED | DESTROYED)
      echo "app $i ended $s: $("$ctl" --json status "$(cat "$work/id-$i")" | jq -r .error)" >&2
      done_at[$i]=$(ms) left=$((left - 1)) failed=$((failed + 1))
      ;;
    esac
  done
  sleep 0.5
done
t1=$(ms)
platform=$((t1 - t0))
for ((i = 1; i <= n; i++)); do
  "$ctl" --json status "$(cat "$work/id-$i")" |
    jq -r '(.timeline | map({(.event): .elapsed_ms}) | add).exposed // empty' >>"$work/totals"
  url=$("$ctl" --json status "$(cat "$work/id-$i")" | jq -r .url)
  host=${url#*://}
  host=${host%%[:/]*}
  port=${url##*:}
  port=${port%%/*}
  body=$(curl -fsS --resolve "$host:$port:127.0.0.1" "$url" 2>/dev/null || true)
  [[ $body == *"app $i"* ]] || { echo "app $i does not answer at $url: ${body:0:100}" >&2; failed=$((failed + 1)); }
done
echo "platform: $n apps EXPOSED in $platform ms (failed: $failed)"

echo "== the reference: the same $n Dockerfiles built and run by hand, one after another"
t0=$(ms)
for ((i = 1; i <= n; i++)); do
  d=$work/ref-$i
  cp -r "$repos/tp-$suffix-$i" "$d"
  "$detect" detect --plan "$d" >"$d/Dockerfile.bench" 2>/dev/null
  # The extra CA the platform's builds get (a TLS-inspecting proxy).
  [[ -f ${SSL_CERT_FILE:-} ]] && cp "$SSL_CERT_FILE" "$d/.ad-extra-ca.pem" &&
    "$detect" detect --plan --extra-ca "$d" >"$d/Dockerfile.bench" 2>/dev/null
  podman build -q -f "$d/Dockerfile.bench" -t "localhost/bench-tp:$suffix-$i" "$d" >/dev/null
  port=$((20000 + RANDOM % 10000))
  cid=$(podman run -d --user 10001:10001 -e PORT=3000 -p "127.0.0.1:$port:3000" "localhost/bench-tp:$suffix-$i")
  until curl -fs -o /dev/null "http://127.0.0.1:$port/"; do sleep 0.05; done
  podman rm -f "$cid" >/dev/null
done
t1=$(ms)
reference=$((t1 - t0))
echo "reference: $n builds and runs in $reference ms"

printf '\n%-34s %10s\n' "$n apps at once, wall time" "$platform ms"
printf '%-34s %10s\n' "$n by hand one after another" "$reference ms"
printf '%-34s %10s\n' "platform / reference" "$(awk -v a="$platform" -v b="$reference" 'BEGIN {printf "%.2f", a / b}')"
printf '%-34s %7s ms / %s ms\n' "one app's total, median / max" "$(median <"$work/totals")" "$(sort -n "$work/totals" | tail -1)"
printf '%-34s %10s\n' "failed" "$failed"
printf '\nRSS of the services (MiB): before, peak (VmHWM) after\n'
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
((failed == 0))
