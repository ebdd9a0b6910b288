#!/usr/bin/env bash
# App and build containers cannot reach link-local addresses nor the
# platform's ports on the host (scripts/firewall.sh, installed by
# `scripts/stack.sh up`), and the outside is still routed.  Against the real
# engine: containers on app networks made the way the provisioner makes
# them (ad-<app>, a bridge of their own), probing with bash's /dev/tcp.
#
#   stack      the stack's rules are in place (`stack.sh up` installed them)
#   blocked    a link-local endpoint of the test's own (169.254.250.2:80 in a
#              network namespace behind a veth pair, routed through the
#              host as a cloud's 169.254.169.254 metadata service is; not
#              every machine has one of those), the stack's
#              NATS, NATS monitor, PostgreSQL and registry ports (caddy's
#              admin API is a unix socket, no port)
#              on the bridge's gateway, and a port bound to every address of
#              the host (a platform port as compose's API_BIND=0.0.0.0 makes
#              it), on the gateway and on the host's own address
#   routed     the Debian archive (the outside) answers; DNS resolves
#   build      a build step run as the builder runs one (POST /build, a
#              network namespace of its own on the `podman` bridge) is
#              blocked the same way and reaches the outside
#   control    with the rules removed, the link-local endpoint and the
#              0.0.0.0 port answer from the same container, and the
#              link-local endpoint from a build step: the rules are what
#              blocks them
#   per app    AD_EGRESS_ALLOW_APPS lets one app's network reach link-local
#              again; the platform's ports stay blocked for it
#   apps       another app's container (on its own bridge) is unreachable
#              from an app: the engine's own isolation (the provisioner
#              makes app networks with podman's isolate option), checked here
#   order      on a FORWARD chain without the engine's jump (a host after a
#              reboot), `up` then a container's start leave the stack's
#              jump above the engine's (netavark puts its own first unless
#              it finds it there)
#   private    from the build bridge (`podman`, where build steps run) an
#              app's container answers; with AD_EGRESS_BLOCK_PRIVATE=true it
#              does not, while DNS and the outside still work
#   gone       the rules of a stack whose servers all stopped without a
#              `down` (a killed run) go at the next `up` of another stack;
#              a running stack's stay
# The stack's own rules are put back at the end, whatever happened.
# Usage: test_egress.sh   (with the stack's env sourced; root, iptables)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${AD_STATE_DIR:?source the stack env (scripts/stack.sh up)}"
: "${AD_ENGINE_SOCKET:?source the stack env}"
export AD_STATE_DIR
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
ok() { echo "ok: $*"; }

((EUID == 0)) || {
  echo "FAIL: the egress rules need root (iptables)" >&2
  exit 1
}
command -v iptables >/dev/null || {
  echo "FAIL: iptables is not installed (scripts/install-deps.sh)" >&2
  exit 1
}

suffix=$(od -An -tx1 -N3 /dev/urandom | tr -d ' \n')
app_a=egress-a-$suffix
app_b=egress-b-$suffix
image=localhost/app-deployer/python:bookworm
listener_pid=""
ports_file=$AD_STATE_DIR/ports
port_of() { sed -n "s/^$1=//p" "$ports_file"; }
stack_ports() {
  local k
  for k in NATS_PORT NATS_MONITOR_PORT PG_PORT REGISTRY_PORT CADDY_ADMIN_PORT; do
    port_of "$k"
  done | tr '\n' ' '
}
restore() {
  AD_FIREWALL_HOST_PORTS="$(stack_ports)" "$root/scripts/firewall.sh" up >/dev/null 2>&1 || true
}
ll_ns=adeg-$suffix ll_host=adegh$suffix ll_peer=adegn$suffix ll_pid=""
meta=169.254.250.2/80
cleanup() {
  [[ -n $listener_pid ]] && kill "$listener_pid" 2>/dev/null || true
  [[ -n $ll_pid ]] && kill "$ll_pid" 2>/dev/null || true
  ip netns del "$ll_ns" 2>/dev/null || true
  ip link del "$ll_host" 2>/dev/null || true
  podman rm -f "b-$suffix" >/dev/null 2>&1 || true
  podman network rm -f "ad-$app_a" "ad-$app_b" >/dev/null 2>&1 || true
  restore
  if ((failures)); then
    echo "$failures failure(s)" >&2
    exit 1
  fi
}
trap cleanup EXIT

# An app network the way the provisioner makes one: through the engine's
# Docker API.
net_create() {
  curl -fsS --unix-socket "$AD_ENGINE_SOCKET" -X POST -H 'Content-Type: application/json' \
    -d "{\"Name\": \"ad-$1\", \"Labels\": {\"app-deployer.app\": \"$1\"}, \"Options\": {\"isolate\": \"true\"}}" \
    http://d/v1.41/networks/create >/dev/null
}
net_create "$app_a"
net_create "$app_b"
gw_a=$(podman network inspect "ad-$app_a" --format '{{range .Subnets}}{{.Gateway}}{{end}}')
host_ip=$(ip -4 route get 1.1.1.1 | awk '{for (i = 1; i < NF; i++) if ($i == "src") print $(i + 1)}')
[[ -n $gw_a && -n $host_ip ]] || {
  echo "FAIL: no gateway ($gw_a) or host address ($host_ip)" >&2
  exit 1
}

# A port bound to every address of the host: what a platform port would be
# with http.bind 0.0.0.0.  It is added to the protected ports below.
wide_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])')
python3 -c "
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', $wide_port)); s.listen(16)
while True: s.accept()[0].close()" &
listener_pid=$!

# The link-local endpoint: 169.254.250.2:80 in a network namespace of its
# own, reached through the host (containers' traffic to it is forwarded,
# as to a cloud's metadata service at 169.254.169.254).
ip netns add "$ll_ns"
ip link add "$ll_host" type veth peer name "$ll_peer"
ip link set "$ll_peer" netns "$ll_ns"
ip addr add 169.254.250.1/30 dev "$ll_host"
ip link set "$ll_host" up
ip netns exec "$ll_ns" ip addr add 169.254.250.2/30 dev "$ll_peer"
ip netns exec "$ll_ns" ip link set "$ll_peer" up
ip netns exec "$ll_ns" ip link set lo up
ip netns exec "$ll_ns" python3 -c "
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('169.254.250.2', 80)); s.listen(16)
while True: s.accept()[0].close()" &
ll_pid=$!
for ((i = 0; i < 50; i++)); do
  timeout 1 bash -c 'exec 3<>/dev/tcp/169.254.250.2/80' 2>/dev/null && break
  sleep 0.1
done

# Another app's container: a listener on its own bridge.
podman run -d --name "b-$suffix" --network "ad-$app_b" "$image" \
  python3 -c 'import http.server as h; h.HTTPServer(("", 8080), h.SimpleHTTPRequestHandler).serve_forever()' >/dev/null
ip_b=$(podman inspect "b-$suffix" --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}')

# probe NET TARGET...: "host/port open|closed" for each, from a container on
# NET; "dns ok|failed" for deb.debian.org.
probe() {
  local net=$1
  shift
  podman run --rm --network "$net" "$image" bash -c '
    for t in "$@"; do
      if timeout 4 bash -c "exec 3<>/dev/tcp/${t%/*}/${t#*/}" 2>/dev/null; then
        echo "$t open"; else echo "$t closed"; fi
    done
    if getent hosts deb.debian.org >/dev/null; then echo "dns ok"; else echo "dns failed"; fi' \
    probe "$@"
}
expect() { # OUTPUT TARGET open|closed WHY
  if grep -qxF "$2 $3" <<<"$1"; then ok "$4: $2 $3"; else fail "$4: $2 not $3 ($(grep -F "$2 " <<<"$1" || echo no answer))"; fi
}

# build_probe: a build step run the way the builder runs one (POST /build
# with the network namespace of its own, nsoptions), probing the metadata
# endpoint, the 0.0.0.0 port on the host and the outside; prints what the
# step printed ("169.254.250.2/80 open", ...).
build_probe() {
  local ctx
  ctx=$(mktemp -d)
  cat >"$ctx/Dockerfile" <<EOF
FROM localhost/app-deployer/base:bookworm
RUN for t in $meta $host_ip/$wide_port deb.debian.org/80; do \
      if timeout 4 bash -c "exec 3<>/dev/tcp/\${t%/*}/\${t#*/}" 2>/dev/null; then \
        echo "build: \$t open"; else echo "build: \$t closed"; fi; done
EOF
  tar -C "$ctx" -c Dockerfile |
    curl -sS --unix-socket "$AD_ENGINE_SOCKET" -X POST -H 'Content-Type: application/x-tar' \
      --data-binary @- "http://d/v1.41/build?t=egress-probe-$suffix&nocache=1&nsoptions=%5B%7B%22Name%22%3A%22network%22%2C%22Host%22%3Afalse%7D%5D" |
    grep -o '"stream":"[^"]*' | sed 's/^"stream":"//; s/\\n/\n/g' | sed -n 's/^build: //p'
  podman rmi -f "egress-probe-$suffix" >/dev/null 2>&1 || true
  rm -rf "$ctx"
}

outside=deb.debian.org/80
protected=()
for p in $(stack_ports); do protected+=("$gw_a/$p"); done

# --- the stack's rules ------------------------------------------------------
if "$root/scripts/firewall.sh" status >/dev/null 2>&1; then
  ok "stack: the egress rules of this stack are installed"
else
  fail "stack: scripts/stack.sh up did not install the egress rules"
fi

# A FORWARD chain without the engine's jump, as on a host after a reboot
# where no container has started yet (the policy is ACCEPT, so nothing
# running loses its traffic meanwhile).
case $(podman info --format '{{.Host.NetworkBackend}}') in
netavark) engine_chain=NETAVARK_FORWARD engine_comment="netavark firewall plugin rules" ;;
*) engine_chain=CNI-FORWARD engine_comment="CNI firewall plugin rules" ;;
esac
while iptables -D FORWARD -m comment --comment "$engine_comment" -j "$engine_chain" 2>/dev/null; do :; done
AD_FIREWALL_HOST_PORTS="$(stack_ports) $wide_port" "$root/scripts/firewall.sh" up
out=$(probe "ad-$app_a" "$meta" "${protected[@]}" "$gw_a/$wide_port" "$host_ip/$wide_port" "$outside" "$ip_b/8080")
expect "$out" "$meta" closed "blocked"
for t in "${protected[@]}"; do expect "$out" "$t" closed "blocked (platform port)"; done
expect "$out" "$gw_a/$wide_port" closed "blocked (port on every address, via the gateway)"
expect "$out" "$host_ip/$wide_port" closed "blocked (port on every address, via the host's address)"
expect "$out" "$outside" open "routed"
expect "$out" "dns" ok "routed"
expect "$out" "$ip_b/8080" closed "apps (another app's container, the engine's isolation)"
# After a container started: the stack's jump still comes first.
ours=$(iptables -S FORWARD | grep -n -m1 -e "-j ADFW-" | cut -d: -f1)
theirs=$(iptables -S FORWARD | grep -n -m1 -e "-j $engine_chain\$" | cut -d: -f1)
if [[ -n $ours && -n $theirs ]] && ((ours < theirs)); then
  ok "order: the stack's jump (rule $ours) above the engine's $engine_chain (rule $theirs)"
else
  fail "order: the stack's jump at '${ours:-none}', the engine's $engine_chain at '${theirs:-none}'"
fi
out=$(build_probe)
expect "$out" "$meta" closed "build step blocked"
expect "$out" "$host_ip/$wide_port" closed "build step blocked (port on every address)"
expect "$out" "$outside" open "build step routed"
out=$(probe podman "$ip_b/8080")
expect "$out" "$ip_b/8080" open "private ranges allowed by default (build bridge -> app)"

# --- control: without the rules --------------------------------------------
"$root/scripts/firewall.sh" down
out=$(probe "ad-$app_a" "$meta" "$gw_a/$wide_port" "$outside")
expect "$out" "$meta" open "control (no rules)"
expect "$out" "$gw_a/$wide_port" open "control (no rules)"
expect "$out" "$outside" open "control (no rules)"
out=$(build_probe)
expect "$out" "$meta" open "control (no rules): build step"

# --- per-app egress ----------------------------------------------------------
AD_EGRESS_ALLOW_APPS=$app_a AD_FIREWALL_HOST_PORTS="$(stack_ports) $wide_port" \
  "$root/scripts/firewall.sh" up
out=$(probe "ad-$app_a" "$meta" "$gw_a/$wide_port")
expect "$out" "$meta" open "per app (allowed app)"
expect "$out" "$gw_a/$wide_port" closed "per app (platform ports stay blocked)"
out=$(probe "ad-$app_b" "$meta")
expect "$out" "$meta" closed "per app (other app)"

# --- private ranges ----------------------------------------------------------
AD_EGRESS_BLOCK_PRIVATE=true AD_FIREWALL_HOST_PORTS="$(stack_ports)" "$root/scripts/firewall.sh" up
out=$(probe podman "$ip_b/8080" "$outside")
expect "$out" "$ip_b/8080" closed "private (build bridge -> an app's container)"
expect "$out" "$outside" open "private (the outside)"
expect "$out" "dns" ok "private (the resolver stays reachable)"

# --- a stack that is gone ------------------------------------------------------
# Two other stacks' rules: one whose servers all stopped without a `down`
# (no live pid in its run/), one still running (a live pid).  The next `up`
# sweeps the first and keeps the second.
gone_dir=$(mktemp -d) live_dir=$(mktemp -d)
mkdir -p "$gone_dir/run" "$live_dir/run"
echo 999999999 >"$gone_dir/run/nats.pid"
echo $$ >"$live_dir/run/nats.pid"
chain_of() { echo "ADFW-$(realpath -m "$1" | sha256sum | cut -c1-8)"; }
gone=$(chain_of "$gone_dir") live=$(chain_of "$live_dir")
AD_STATE_DIR=$live_dir AD_FIREWALL_HOST_PORTS=1 "$root/scripts/firewall.sh" up 2>/dev/null
AD_STATE_DIR=$gone_dir AD_FIREWALL_HOST_PORTS=1 "$root/scripts/firewall.sh" up 2>/dev/null
if iptables -S "$gone" >/dev/null 2>&1 && iptables -S FORWARD | grep -q -e "-j $gone\$"; then
  ok "gone: the gone stack's rules are there before"
else
  fail "gone: the gone stack's rules were not installed"
fi
restore
n=$( (iptables -S FORWARD; iptables -S INPUT) | grep -c -e "-j $gone\(-in\)\{0,1\}\$" || true)
if iptables -S "$gone" >/dev/null 2>&1 || iptables -S "$gone-in" >/dev/null 2>&1 || ((n > 0)); then
  fail "gone: $gone is still there ($n jumps) after another stack's up"
else
  ok "gone: another stack's up removed $gone, its -in chain and their jumps"
fi
if iptables -S "$live" >/dev/null 2>&1 && iptables -S FORWARD | grep -q -e "-j $live\$"; then
  ok "gone: a running stack's rules ($live) stay"
else
  fail "gone: a running stack's rules ($live) were removed"
fi
AD_STATE_DIR=$live_dir "$root/scripts/firewall.sh" down
rm -rf "$gone_dir" "$live_dir"

