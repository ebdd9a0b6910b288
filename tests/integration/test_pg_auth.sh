#!/usr/bin/env bash
# PostgreSQL has no default password and a role per service
# (scripts/stack.sh, docs/security.md).  On a private stack (NATS and
# PostgreSQL of its own, so the services started here touch nothing shared):
#   no default   the owner role refuses the old default password
#                ("appdeployer"); the generated passwords are in a 0600 file
#   per service  AD_DATABASE_URL_<SERVICE> logs in as ad_<service> over the
#                socket (password, on TCP SCRAM) and works
#                as the owner role (what one service's migration creates, the
#                others use), the analyzer and the provisioner as themselves;
#                one service's password
#                does not open another's role; a wrong one is refused, on
#                TCP and on the socket
#   analyzer,    their roles read a deployment's status (the provisioner's
#   provisioner  also deployment_requests) and record processed events, and
#                are refused changing or deleting a deployment, clearing
#                processed events, reading API keys or the outbox, creating
#                a table
#   in use       scripts/services.sh starts the six services, each connected
#                as its own role, over the socket (pg_stat_activity); and (docs/security.md,
#                "Secrets keep their meaning") only the API, the analyzer, the
#                builder and the deployer have AD_SECRETS_KEY in their
#                environment (not the coordinator and the provisioner), only
#                the builder and the deployer AD_REGISTRY_PASSWORD
# Usage: test_pg_auth.sh BIN_DIR
set -euo pipefail
bin=${1:?usage: test_pg_auth.sh BIN_DIR}
bin=$(cd "$bin" && pwd)
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
ok() { echo "ok: $*"; }
# shellcheck source=../support/private_stack.sh
. "$root/tests/support/private_stack.sh"
cleanup() {
  AD_STATE_DIR=$AD_STATE_DIR bash "$root/scripts/services.sh" down >/dev/null 2>&1 || true
  pstack_down "" "$((failures > 0))"
  if ((failures)); then
    echo "$failures failure(s)" >&2
    exit 1
  fi
}
pstack_up AD_STACK_SERVERS="nats postgres"
trap cleanup EXIT
# shellcheck disable=SC1091
. "$AD_STATE_DIR/env"

q() { psql "$1" -XAtq -v ON_ERROR_STOP=1 -c "$2" 2>&1; }
# refused URL OK-MESSAGE FAIL-MESSAGE: the login is refused for its password.
refused() {
  local out
  if out=$(q "$1" "SELECT 1"); then
    fail "$3"
  elif [[ $out == *"password authentication failed"* ]]; then
    ok "$2"
  else
    fail "${2%%:*}: unexpected: $out"
  fi
}
port=$(sed -n 's/^PG_PORT=//p' "$AD_STATE_DIR/ports")
services=(api coordinator analyzer builder provisioner deployer)

# --- no default password ------------------------------------------------------
refused "postgresql://appdeployer:appdeployer@127.0.0.1:$port/appdeployer" \
  "no default: 'appdeployer' refused" "no default: the owner role accepts the password 'appdeployer'"
mode=$(stat -c %a "$AD_STATE_DIR/pg-users")
[[ $mode == 600 ]] && ok "passwords in a 0600 file" || fail "pg-users has mode $mode"
[[ $(q "$AD_DATABASE_URL" "SELECT current_user") == appdeployer ]] ||
  fail "the owner's URL does not log in"

# --- a role per service -------------------------------------------------------
for svc in "${services[@]}"; do
  var=AD_DATABASE_URL_${svc^^}
  url=${!var:-}
  [[ -n $url ]] || {
    fail "per service: no $var in the env"
    continue
  }
  who=$(q "$url" "SELECT session_user || ' ' || current_user")
  # The analyzer and the provisioner work as themselves, with their own few
  # privileges (below).
  want="ad_$svc appdeployer"
  [[ $svc == analyzer || $svc == provisioner ]] && want="ad_$svc ad_$svc"
  [[ $who == "$want" ]] && ok "per service: $svc is '$who'" || fail "per service: $svc is '$who'"
done
api_pw=$(sed -n 's/^ad_api=//p' "$AD_STATE_DIR/pg-users")
if q "postgresql://ad_deployer:$api_pw@127.0.0.1:$port/appdeployer" "SELECT 1" >/dev/null; then
  fail "per service: the API's password opens the deployer's role"
else
  ok "per service: the API's password does not open the deployer's role"
fi
if q "postgresql://ad_api:wrong@127.0.0.1:$port/appdeployer" "SELECT 1" >/dev/null; then
  fail "per service: a wrong password is accepted"
fi
# The services' URLs are the socket's (its password sent as is, no SCRAM in
# the client; scripts/stack.sh pg_hba): the same passwords hold there.
sock=$AD_STATE_DIR/postgres/run
[[ $AD_DATABASE_URL_API == *"@/appdeployer?host="*"postgres%2Frun&port=$port" ]] &&
  ok "per service: the URLs are the socket's" || fail "per service: not the socket's URL"
refused "postgresql://ad_deployer:$api_pw@/appdeployer?host=$sock&port=$port" \
  "socket: the API's password does not open the deployer's role" \
  "socket: the API's password opens the deployer's role"
if q "postgresql://ad_api:wrong@/appdeployer?host=$sock&port=$port" "SELECT 1" >/dev/null ||
  q "postgresql://ad_api@/appdeployer?host=$sock&port=$port" "SELECT 1" >/dev/null; then
  fail "socket: a wrong or no password is accepted"
else
  ok "socket: a wrong or no password is refused"
fi
# What one service creates (a migration) another uses.
q "$AD_DATABASE_URL_COORDINATOR" "CREATE TABLE pg_auth_probe (x int)" >/dev/null
if [[ $(q "$AD_DATABASE_URL_API" "INSERT INTO pg_auth_probe VALUES (1); SELECT count(*) FROM pg_auth_probe") == 1 ]] &&
  [[ $(q "$AD_DATABASE_URL_DEPLOYER" "SELECT tableowner FROM pg_tables WHERE tablename = 'pg_auth_probe'") == appdeployer ]]; then
  ok "per service: a table made by one service is owned by appdeployer and usable by another"
else
  fail "per service: a table made by the coordinator's role is not usable by the API's"
fi
q "$AD_DATABASE_URL" "DROP TABLE pg_auth_probe" >/dev/null

# --- the services use them ------------------------------------------------------
if AD_ENGINE_SOCKET=/nonexistent.sock AD_REGISTRY_PASSWORD=probe \
  bash "$root/scripts/services.sh" up "$bin" >/dev/null; then
  roles=$(q "$AD_DATABASE_URL" "SELECT string_agg(DISTINCT usename, ' ' ORDER BY usename) FROM pg_stat_activity WHERE usename LIKE 'ad\_%'")
  [[ $roles == "ad_analyzer ad_api ad_builder ad_coordinator ad_deployer ad_provisioner" ]] &&
    ok "in use: connected as $roles" || fail "in use: connected roles: '$roles'"
  # As postgres: pg_stat_activity shows another role's address only to a
  # superuser (or pg_read_all_stats); to the owner it is NULL.
  tcp=$(q "postgresql://postgres@/postgres?host=$sock&port=$port" "SELECT count(*) FROM pg_stat_activity WHERE usename LIKE 'ad\_%' AND client_addr IS NOT NULL")
  [[ $tcp == 0 ]] && ok "in use: every service is on the socket" ||
    fail "in use: $tcp service connection(s) over TCP"
  with_key=""
  with_registry=""
  for svc in "${services[@]}"; do
    pid=$(cat "$AD_STATE_DIR/run/services/$svc.pid")
    tr '\0' '\n' <"/proc/$pid/environ" | grep -q '^AD_SECRETS_KEY=' && with_key+="$svc "
    tr '\0' '\n' <"/proc/$pid/environ" | grep -q '^AD_REGISTRY_PASSWORD=' && with_registry+="$svc "
  done
  [[ $with_key == "api analyzer builder deployer " ]] &&
    ok "in use: only the API, the analyzer, the builder and the deployer hold the secrets key" ||
    fail "in use: the secrets key is in the environment of: $with_key"
  [[ $with_registry == "builder deployer " ]] &&
    ok "in use: only the builder and the deployer hold the registry's password" ||
    fail "in use: the registry's password is in the environment of: $with_registry"
else
  fail "in use: scripts/services.sh up failed"
  tail -n 5 "$AD_STATE_DIR"/logs/services/*.log >&2 || true
fi

# --- the analyzer's and the provisioner's roles: only what they need -----------
# (migration 021).  The services above applied the migrations (these two
# waited for them).
probe=00000000-0000-4000-8000-000000000021
for an_var in AD_DATABASE_URL_ANALYZER AD_DATABASE_URL_PROVISIONER; do
  an=${!an_var}
  who=${an_var#AD_DATABASE_URL_}
  who="${who,,}'s role"
  q "$AD_DATABASE_URL" "INSERT INTO deployments (id, app_name, repo_url, status)
    VALUES ('$probe', 'pg-auth-probe', 'file:///x', 'ANALYZING')" >/dev/null ||
    fail "$who: cannot make the probe deployment as the owner"
  [[ $(q "$an" "SELECT status FROM deployments WHERE id = '$probe'") == ANALYZING ]] &&
    ok "$who: reads a deployment's status" || fail "$who: cannot read a deployment's status"
  for stmt in "UPDATE deployments SET status = 'FAILED' WHERE id = '$probe'" \
    "DELETE FROM deployments WHERE id = '$probe'" \
    "DELETE FROM processed_events" "SELECT count(*) FROM api_keys" "SELECT count(*) FROM outbox" \
    "CREATE TABLE pg_auth_probe2 (x int)"; do
    if out=$(q "$an" "$stmt"); then
      fail "$who: allowed: $stmt"
    elif [[ $out == *"permission denied"* ]]; then
      ok "$who: refused: ${stmt%% WHERE*}"
    else
      fail "$who: $stmt: unexpected: $out"
    fi
  done
  [[ $(q "$AD_DATABASE_URL" "SELECT status FROM deployments WHERE id = '$probe'") == ANALYZING ]] ||
    fail "$who: the deployment changed"
  if q "$an" "INSERT INTO processed_events (consumer, event_id)
    VALUES ('pg-auth-probe', '$probe') ON CONFLICT DO NOTHING" >/dev/null; then
    ok "$who: records a processed event"
  else
    fail "$who: cannot record a processed event"
  fi
  q "$AD_DATABASE_URL" "DELETE FROM processed_events WHERE consumer = 'pg-auth-probe';
    DELETE FROM deployments WHERE id = '$probe'" >/dev/null || true
done
# The provisioner also reads a first request's app name.
if q "$AD_DATABASE_URL_PROVISIONER" "SELECT app_name FROM deployment_requests LIMIT 1" >/dev/null; then
  ok "provisioner's role: reads deployment_requests"
else
  fail "provisioner's role: cannot read deployment_requests"
fi
