#!/usr/bin/env bash
# Egress rules for app and build containers (docs/security.md, "Apps and
# builds reach the outside, not the inside"): traffic that enters the host
# from the container engine's bridges may not reach
#   - link-local addresses (169.254.0.0/16: the cloud metadata endpoint);
#   - the platform's ports on the host (NATS, its monitor, PostgreSQL, the
#     registry, caddy's admin API, the API and the services' health ports),
#     whatever address they listen on;
#   - with AD_EGRESS_BLOCK_PRIVATE=true, private ranges (10/8, 172.16/12,
#     192.168/16, 100.64/10) too: other apps' containers on other bridges,
#     the host's own private address, the data centre's network.  The DNS
#     resolvers of /etc/resolv.conf stay reachable on port 53, and traffic
#     inside one bridge (an app's own replicas) is not affected.
# Everything else (the outside: package archives and registries) is routed
# as before.  The rules sit in chains of their own (ADFW-<id>, ADFW-<id>-in),
# jumped to from FORWARD and INPUT for packets coming in on the bridges, so
# `down` removes exactly what `up` added.  iptables only (the nf_tables or
# legacy backend, whichever `iptables` is); IPv4 only.
#
# Usage: firewall.sh up | down | status | run
#   run: up, then wait; down on SIGTERM (the compose deployment's `egress`
#   service: the rules live as long as the service)
# Environment:
#   AD_FIREWALL_ID          names the chains (default: from AD_STATE_DIR), so
#                           several stacks on one host each keep their own
#   AD_FIREWALL_HOST_PORTS  host TCP ports to protect (space or comma separated)
#   AD_EGRESS_BRIDGES       bridge interfaces (default "cni-podman+ podman+":
#                           podman with CNI, then with netavark; docker0 for Docker)
#   AD_EGRESS_BLOCK_PRIVATE true: private ranges too (default false)
#   AD_EGRESS_ALLOW         CIDRs every container may reach although blocked
#                           (comma separated), e.g. a package mirror on 10.1.2.3/32
#   AD_EGRESS_ALLOW_APPS    app names whose containers may reach everything
#                           blocked except the platform's ports (per-app egress);
#                           their networks (ad-<app>) must exist: run `up` again
#                           after such an app's first deployment
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

fw_id() {
  if [[ -n ${AD_FIREWALL_ID:-} ]]; then
    [[ $AD_FIREWALL_ID =~ ^[A-Za-z0-9_]{1,16}$ ]] || ad_die "AD_FIREWALL_ID: 1-16 of [A-Za-z0-9_]"
    printf '%s\n' "$AD_FIREWALL_ID"
  else
    realpath -m "$(ad_state_dir)" | sha256sum | cut -c1-8
  fi
}

ID=$(fw_id)
FWD=ADFW-$ID
IN=ADFW-$ID-in
read -r -a BRIDGES <<<"${AD_EGRESS_BRIDGES:-cni-podman+ podman+}"
REJECT=(-j REJECT --reject-with icmp-admin-prohibited)

split() { tr ',[:space:]' '\n' <<<"${1:-}" | sed '/^$/d'; }

# jumps ACTION: -I or -D the jumps from FORWARD and INPUT (a -D of a jump
# that is not there is not an error).  -I puts them first, above any rule
# already there (a second `up` moves them back to the top).
jumps() {
  local br
  for br in "${BRIDGES[@]}"; do
    while iptables -D FORWARD -i "$br" -j "$FWD" 2>/dev/null; do :; done
    while iptables -D INPUT -i "$br" -j "$IN" 2>/dev/null; do :; done
    if [[ $1 == -I ]]; then
      iptables -I FORWARD 1 -i "$br" -j "$FWD"
      iptables -I INPUT 1 -i "$br" -j "$IN"
    fi
  done
}

# The engine's network plugins put a jump to their own chain (which accepts
# the containers' traffic) first in FORWARD the first time a container
# starts on one of their bridges, unless that jump is there already: above
# ours, it would let every container past these rules.  So `up` makes the
# chain and the jump itself, below ours, with the exact rule the plugin
# looks for (netavark 1.4, podman's CNI firewall plugin 1.1), and the
# plugin finds it and leaves it where it is.
engine_jumps() {
  local chain comment br
  for br in "${BRIDGES[@]}"; do
    case $br in
    podman+) chain=NETAVARK_FORWARD comment="netavark firewall plugin rules" ;;
    cni-podman+) chain=CNI-FORWARD comment="CNI firewall plugin rules" ;;
    *) continue ;;
    esac
    iptables -N "$chain" 2>/dev/null || true
    iptables -C FORWARD -m comment --comment "$comment" -j "$chain" 2>/dev/null ||
      iptables -A FORWARD -m comment --comment "$comment" -j "$chain"
  done
}

# The stack a chain belongs to, when the chains are named after its state
# dir: a rule without a target (it changes nothing) whose comment names the
# dir.  `up` of any stack reads it to sweep the chains of stacks that are
# gone: a run killed before its `down` (a CI timeout, a machine's crash)
# leaves its rules, and they would block ports another stack may use.
OWNER="app-deployer stack"

# stack_alive DIR: one of the stack's servers (DIR/run/*.pid) still runs.
stack_alive() {
  local f
  for f in "$1"/run/*.pid; do
    ad_pid_from_file "$f" >/dev/null && return 0
  done
  return 1
}

# sweep_gone: removes the chains (and their jumps) of other stacks whose
# servers all stopped.  Chains named by AD_FIREWALL_ID have no owner rule
# and are never swept; nor does such a run sweep (compose's `egress`
# service runs in a container, which sees neither the host's state dirs
# nor its processes).
sweep_gone() {
  local chain dir rule
  [[ -z ${AD_FIREWALL_ID:-} ]] || return 0
  while read -r chain dir; do
    [[ $chain != "$FWD" ]] || continue
    stack_alive "$dir" && continue
    ad_log "firewall: removing $chain and $chain-in: the stack in $dir no longer runs"
    for rule in $(iptables -S FORWARD | grep -nE -e "-j $chain\$" | cut -d: -f1 | sort -rn); do
      iptables -D FORWARD "$((rule - 1))"
    done
    for rule in $(iptables -S INPUT | grep -nE -e "-j $chain-in\$" | cut -d: -f1 | sort -rn); do
      iptables -D INPUT "$((rule - 1))"
    done
    iptables -F "$chain" && iptables -X "$chain"
    if iptables -F "$chain-in" 2>/dev/null; then iptables -X "$chain-in"; fi
  done < <(iptables -S | sed -n "s/^-A \(ADFW-[0-9a-f]\{8\}\) -m comment --comment \"\{0,1\}$OWNER \([^\"]*\)\"\{0,1\}\$/\1 \2/p")
}

# The subnets of an app's networks, as the engine reports them.
app_subnets() {
  podman network inspect "ad-$1" --format '{{range .Subnets}}{{.Subnet}} {{end}}' 2>/dev/null |
    tr ' ' '\n' | grep -E '^[0-9.]+/[0-9]+$' || true
}

cmd_up() {
  local port cidr app net ns
  command -v iptables >/dev/null || ad_die "iptables is not installed (apt-get install iptables)"
  sweep_gone
  iptables -N "$FWD" 2>/dev/null || iptables -F "$FWD"
  iptables -N "$IN" 2>/dev/null || iptables -F "$IN"
  [[ -n ${AD_FIREWALL_ID:-} ]] || iptables -A "$FWD" -m comment --comment "$OWNER $(realpath -m "$(ad_state_dir)")"

  # Forwarded traffic: replies to connections made to the containers pass.
  iptables -A "$FWD" -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
  for cidr in $(split "${AD_EGRESS_ALLOW:-}"); do
    iptables -A "$FWD" -d "$cidr" -j RETURN
  done
  for app in $(split "${AD_EGRESS_ALLOW_APPS:-}"); do
    net=$(app_subnets "$app")
    [[ -n $net ]] || ad_log "firewall: app $app has no network (ad-$app) yet: not allowed"
    for cidr in $net; do
      iptables -A "$FWD" -s "$cidr" -j RETURN
    done
  done
  iptables -A "$FWD" -d 169.254.0.0/16 "${REJECT[@]}"
  if [[ ${AD_EGRESS_BLOCK_PRIVATE:-false} == true ]]; then
    # Inside one bridge (replicas of one app): not this rule's business.
    iptables -A "$FWD" -m physdev --physdev-is-bridged -j RETURN
    while read -r ns; do
      iptables -A "$FWD" -d "$ns" -p udp --dport 53 -j RETURN
      iptables -A "$FWD" -d "$ns" -p tcp --dport 53 -j RETURN
    done < <(awk '$1 == "nameserver" && $2 ~ /^[0-9.]+$/ {print $2}' /etc/resolv.conf)
    for cidr in 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 100.64.0.0/10; do
      iptables -A "$FWD" -d "$cidr" "${REJECT[@]}"
    done
  fi

  # To the host itself: its platform ports, on any of its addresses.
  iptables -A "$IN" -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
  for port in $(split "${AD_FIREWALL_HOST_PORTS:-}"); do
    [[ $port =~ ^[0-9]+$ ]] || ad_die "AD_FIREWALL_HOST_PORTS: not a port: $port"
    iptables -A "$IN" -p tcp --dport "$port" -j REJECT --reject-with tcp-reset
  done
  if [[ ${AD_EGRESS_BLOCK_PRIVATE:-false} == true ]]; then
    iptables -A "$IN" -d 169.254.0.0/16 "${REJECT[@]}"
  fi
  engine_jumps
  jumps -I
  ad_log "firewall: $FWD and $IN on ${BRIDGES[*]} (private ranges blocked: ${AD_EGRESS_BLOCK_PRIVATE:-false})"
}

cmd_down() {
  command -v iptables >/dev/null || return 0
  jumps -D
  local chain
  for chain in "$FWD" "$IN"; do
    if iptables -F "$chain" 2>/dev/null; then
      iptables -X "$chain"
    fi
  done
}

cmd_status() {
  iptables -S "$FWD" && iptables -S "$IN"
}

cmd_run() {
  cmd_up
  trap 'cmd_down; exit 0' TERM INT
  sleep infinity &
  wait
}

case ${1:-} in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
run) cmd_run ;;
*)
  echo "usage: firewall.sh up | down | status | run" >&2
  exit 2
  ;;
esac
