#!/usr/bin/env bash
# caddy's admin API is reachable only by the services that drive it
# (scripts/stack.sh, docs/security.md): a unix socket in a directory only
# root may enter, and no TCP port.
#   socket     AD_CADDY_ADMIN_URL is unix://...; the socket's directory is
#              0700 root; root (the services) reads /config/ through it
#   no port    the stack's caddy listens on TCP on its two ingress ports
#              only (before: an admin port on 127.0.0.1 answered /config/
#              to anything on the host, and to build steps run in the host's
#              namespace)
#   others     an unprivileged user of the host cannot connect; a request
#              naming another Host is refused by caddy (origins)
# Usage: test_caddy_admin.sh   (with the stack's env sourced)
set -euo pipefail
: "${AD_STATE_DIR:?source the stack env (scripts/stack.sh up)}"
: "${AD_CADDY_ADMIN_URL:?source the stack env}"
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
ok() { echo "ok: $*"; }

if [[ $AD_CADDY_ADMIN_URL != unix:///* ]]; then
  echo "FAIL: AD_CADDY_ADMIN_URL is $AD_CADDY_ADMIN_URL, not a unix socket" >&2
  exit 1
fi
sock=${AD_CADDY_ADMIN_URL#unix://}
dir=$(dirname "$sock")
perm=$(stat -c '%a %U' "$dir")
[[ $perm == "700 root" ]] && ok "socket: $dir is $perm" || fail "socket: $dir is $perm, want 700 root"
if curl -fsS --unix-socket "$sock" http://localhost/config/admin | grep -q '"listen":"unix/'; then
  ok "socket: root drives caddy through it"
else
  fail "socket: root cannot read /config/admin through $sock"
fi

# --- no TCP admin port ---------------------------------------------------------
pid=$(cat "$AD_STATE_DIR/run/caddy.pid")
ports=$(ss -Hltnp | awk -v p="pid=$pid," 'index($0, p) {n = split($4, a, ":"); print a[n]}' | sort -n | tr '\n' ' ')
want=$(printf '%s\n' "$AD_INGRESS_HTTP_PORT" "$AD_INGRESS_HTTPS_PORT" | sort -n | tr '\n' ' ')
[[ $ports == "$want" ]] && ok "no port: caddy listens on $ports(the ingress) only" ||
  fail "no port: caddy (pid $pid) listens on '$ports', want '$want'"
# (An ingress port answers any path with an empty 200: the admin API's
# answer is the config, naming its servers.)
for p in $ports; do
  if curl -sS -m 3 "http://127.0.0.1:$p/config/" 2>/dev/null | grep -q '"servers"'; then
    fail "no port: the admin API answers on 127.0.0.1:$p"
  fi
done

# --- others ---------------------------------------------------------------------
if out=$(runuser -u nobody -- curl -sS -m 3 --unix-socket "$sock" http://localhost/config/ 2>&1); then
  fail "others: user nobody read the admin API: $out"
else
  ok "others: user nobody cannot connect ($out)"
fi
out=$(curl -sS --unix-socket "$sock" http://evil.example/config/ 2>&1 || true)
[[ $out == *"host not allowed"* ]] && ok "others: Host evil.example refused" ||
  fail "others: Host evil.example got: $out"

if ((failures)); then
  echo "$failures failure(s)" >&2
  exit 1
fi
