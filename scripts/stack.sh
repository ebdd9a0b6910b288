#!/usr/bin/env bash
# Local app-deployer stack: NATS (JetStream), PostgreSQL 15, image registry,
# caddy (ingress) and podman's Docker-API service, all on 127.0.0.1 ports
# picked at `up` time, all state under ONE directory:
#   $AD_STATE_DIR, default <repo>/.stack
#
# Usage: stack.sh up | down [--purge] | status | env | kill NAME | restart NAME
#   up      start what is not running (idempotent), write and print STATE/env
#   down    stop the servers; data is kept unless --purge
#   status  one line per server: state, pid, port(s); exit 3 if any stopped
#   env     print STATE/env (source it: `. "$(scripts/stack.sh env-file)"`
#           or `eval "$(scripts/stack.sh env)"`)
#   kill NAME     SIGKILL one server (fault tests); `up` starts it again on
#                 the same port(s) and data
#   restart NAME  stop one server politely and start it again, same ports
#                 and data (postgres: a "fast" shutdown, like pg_ctl -m fast)
#
# Environment (read by `up`, remembered in STATE/mode for later commands,
# including a later `up` without them):
#   AD_NATS_CLUSTER=N   N >= 3: NATS as an N-node JetStream cluster (servers
#                       nats1..natsN, routes between them); AD_NATS_URL lists
#                       every node and AD_NATS_REPLICAS=3 (docs/operations.md).
#                       Unset or 1: one node, `nats`.
#   AD_STACK_SERVERS="nats postgres"  start only these servers (tests that
#                       need a private NATS and/or PostgreSQL); default: all.
#   AD_FIREWALL=auto|on|off  egress rules for the engine's bridges
#                       (scripts/firewall.sh): containers cannot reach
#                       169.254.0.0/16 nor this stack's ports on the host.
#                       auto (default): when root with iptables, a failure
#                       is a warning; on: a failure stops `up`.  The
#                       AD_EGRESS_* variables of firewall.sh apply.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

STATE=$(ad_state_dir)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PG_USER=${AD_PG_USER:-appdeployer}
PG_DB=${AD_PG_DB:-appdeployer}
# A PostgreSQL role per service, ad_<service>, each with its own generated
# password (STATE/pg-users, mode 0600), logging in as itself and working as
# the owner role PG_USER (docs/security.md); PG_USER's password is generated
# too unless AD_PG_PASSWORD gives one.  No default password.
PG_SERVICES=(api coordinator analyzer builder provisioner deployer)
START_TIMEOUT=${AD_START_TIMEOUT:-60}
STOP_TIMEOUT=${AD_STOP_TIMEOUT:-20}

ALL_SERVERS=(nats postgres registry caddy podman)
MAX_NATS_NODES=9
# Process names (/proc/PID/comm) used to tell our server from a recycled pid.
declare -A COMM=([nats]=nats-server [postgres]=postgres
  [registry]=docker-registry [caddy]=caddy [podman]=podman)
PORT_KEYS=(NATS_PORT NATS_MONITOR_PORT PG_PORT REGISTRY_PORT
  CADDY_ADMIN_PORT INGRESS_HTTP_PORT INGRESS_HTTPS_PORT)
for ((i = 1; i <= MAX_NATS_NODES; i++)); do
  COMM[nats$i]=nats-server
  PORT_KEYS+=("NATS${i}_PORT" "NATS${i}_MONITOR_PORT" "NATS${i}_CLUSTER_PORT")
done
declare -A PORT=()
# Set by init_mode: the servers of this stack, in start order, and the NATS
# node count (1: the single server `nats`; N: nats1..natsN).
SERVERS=()
NATS_NODES=1

init_paths() {
  # Absolute path: it ends up in the env file and in server configs.
  mkdir -p "$STATE"
  STATE=$(cd "$STATE" && pwd)
  LOGDIR=$STATE/logs
  RUNDIR=$STATE/run
  PORTS_FILE=$STATE/ports
  ENV_FILE=$STATE/env
  SOCK=$STATE/podman.sock
  PGDATA=$STATE/postgres/data
  PGSOCK=$STATE/postgres/run
  CONTAINERS_CONF_FILE=$STATE/podman/containers.conf
  REGISTRIES_CONF_FILE=$STATE/podman/registries.conf
  CADDY_CA_FILE=$STATE/caddy/data/pki/authorities/local/root.crt
  # caddy's admin API: a unix socket in a directory only root may enter, so
  # only the services that drive it (root, on this host) reach it; no TCP
  # port (docs/security.md).
  CADDY_ADMIN_SOCK=$STATE/caddy/run/admin.sock
  MODE_FILE=$STATE/mode
}

# init_mode up|other: NATS_NODES and SERVERS from the environment (`up`) or
# from what the last `up` recorded in STATE/mode (every other command, so
# `down` and `status` need no variables).
init_mode() {
  local cmd=$1 key val nodes="" servers="" name i
  if [[ -f $MODE_FILE ]]; then
    while IFS='=' read -r key val; do
      case $key in
      nats_nodes) nodes=$val ;;
      servers) servers=$val ;;
      esac
    done <"$MODE_FILE"
  fi
  # `up` follows the variables when set, else what the last `up` used (a
  # fresh state dir: one NATS node and every server, as always).
  if [[ $cmd == up ]]; then
    nodes=${AD_NATS_CLUSTER:-$nodes}
    servers=${AD_STACK_SERVERS:-$servers}
  fi
  nodes=${nodes:-1}
  servers=${servers:-${ALL_SERVERS[*]}}
  if ! [[ $nodes =~ ^[0-9]+$ ]] || ! ((nodes == 1 || (nodes >= 3 && nodes <= MAX_NATS_NODES))); then
    ad_die "AD_NATS_CLUSTER must be 1 or 3..$MAX_NATS_NODES, not '$nodes'"
  fi
  NATS_NODES=$nodes
  SERVERS=()
  for name in "${ALL_SERVERS[@]}"; do
    [[ " $servers " == *" $name "* ]] || continue
    if [[ $name == nats ]] && ((NATS_NODES > 1)); then
      for ((i = 1; i <= NATS_NODES; i++)); do SERVERS+=("nats$i"); done
    else
      SERVERS+=("$name")
    fi
  done
  for name in $servers; do
    [[ " ${ALL_SERVERS[*]} " == *" $name "* ]] ||
      ad_die "AD_STACK_SERVERS: unknown server '$name' (known: ${ALL_SERVERS[*]})"
  done
  ((${#SERVERS[@]})) || ad_die "AD_STACK_SERVERS selects no server"
}

save_mode() {
  local name servers=""
  for name in "${ALL_SERVERS[@]}"; do
    if [[ $name == nats ]]; then
      [[ " ${SERVERS[*]} " == *" nats"* ]] && servers+="nats "
    elif [[ " ${SERVERS[*]} " == *" $name "* ]]; then
      servers+="$name "
    fi
  done
  printf 'nats_nodes=%s\nservers=%s\n' "$NATS_NODES" "${servers% }" >"$MODE_FILE.tmp"
  mv -f "$MODE_FILE.tmp" "$MODE_FILE"
}

selected() { [[ " ${SERVERS[*]} " == *" $1 "* ]]; }

# Every server this script may have started in STATE, whatever the mode.
every_server() {
  local i
  echo nats
  for ((i = 1; i <= MAX_NATS_NODES; i++)); do echo "nats$i"; done
  echo postgres registry caddy podman
}

# --- ports -----------------------------------------------------------------

load_ports() {
  local key val
  [[ -f $PORTS_FILE ]] || return 0
  while IFS='=' read -r key val; do
    [[ " ${PORT_KEYS[*]} " == *" $key "* && $val =~ ^[0-9]+$ ]] || continue
    PORT[$key]=$val
  done <"$PORTS_FILE"
}

save_ports() {
  local key
  for key in "${PORT_KEYS[@]}"; do
    [[ -n ${PORT[$key]:-} ]] && printf '%s=%s\n' "$key" "${PORT[$key]}"
  done >"$PORTS_FILE.tmp"
  mv -f "$PORTS_FILE.tmp" "$PORTS_FILE"
}

# pick KEY...: choose a fresh free port for each KEY (the previous one if it
# is still free, so URLs stay stable across restarts).
pick() {
  local key p
  for key in "$@"; do
    ad_pick_port p "${PORT[$key]:-}"
    PORT[$key]=$p
  done
}

# Ports of a running server are in use by that server: reserve them so no
# other server is given them.
reserve() {
  local key
  for key in "$@"; do
    [[ -n ${PORT[$key]:-} ]] && AD_RESERVED_PORTS+="${PORT[$key]} "
  done
  return 0
}

ports_of() {
  case $1 in
  nats) echo NATS_PORT NATS_MONITOR_PORT ;;
  nats[0-9]) echo "NATS${1#nats}_PORT NATS${1#nats}_MONITOR_PORT NATS${1#nats}_CLUSTER_PORT" ;;
  postgres) echo PG_PORT ;;
  registry) echo REGISTRY_PORT ;;
  caddy) echo INGRESS_HTTP_PORT INGRESS_HTTPS_PORT ;; # admin API: a unix socket
  podman) echo ;;
  esac
}

# --- processes -------------------------------------------------------------

# server_pid NAME: print the pid when NAME runs (and really is NAME).
server_pid() {
  local name=$1 pid comm
  pid=$(ad_pid_from_file "$RUNDIR/$name.pid") || return 1
  read -r comm <"/proc/$pid/comm" 2>/dev/null || return 1
  [[ $comm == "${COMM[$name]}" ]] || return 1
  printf '%s\n' "$pid"
}

# launch NAME CMD...: start CMD detached (own session, so the caller's
# Ctrl-C or process-group kill does not take it down), output appended to
# logs/NAME.log, pid in run/NAME.pid. The wrapper writes its own pid then
# execs, so the pid is the server's even if setsid had to fork.
launch() {
  local name=$1 log=$LOGDIR/$1.log pidfile=$RUNDIR/$1.pid i
  shift
  rm -f "$pidfile"
  printf '=== %s: starting %s\n' "$(date -Is)" "$*" >>"$log"
  # shellcheck disable=SC2016 # $$ and $@ are for the inner bash
  (cd / && exec setsid bash -c 'echo $$ >"$0" && exec "$@"' "$pidfile" "$@" \
    </dev/null >>"$log" 2>&1 9>&-) & # 9: the up/down lock, not for servers
  for ((i = 0; i < 100; i++)); do
    [[ -s $pidfile ]] && return 0
    sleep 0.05
  done
  ad_die "$name did not start; see $log"
}

# pg_prefix: set PG_PREFIX to the command prefix that runs a program as the
# postgres user (PostgreSQL refuses root). setpriv execs in place (no extra
# process, unlike su/runuser), so launch's pid is the postmaster's. When a
# parent of the state dir is not traversable by postgres (repo under /root,
# say), keep CAP_DAC_READ_SEARCH instead of chmod-ing directories we do not
# own.
pg_prefix() {
  PG_PREFIX=(setpriv --reuid=postgres --regid=postgres --init-groups)
  if ! "${PG_PREFIX[@]}" -- test -x "$STATE/postgres" 2>/dev/null; then
    PG_PREFIX+=(--inh-caps=+dac_read_search --ambient-caps=+dac_read_search)
  fi
  PG_PREFIX+=(--)
}

# --- per-server start ------------------------------------------------------

# --- NATS users -----------------------------------------------------------
# One user per service with only the subjects it publishes (only the
# deployer publishes deploy.exposed), `external` for systems that publish
# deploy.requested from outside, and `admin` (everything) for tests and
# tools.  Of the JetStream API each service gets only what it uses
# (nats_jetstream_of): the DEPLOY stream's info and its creation on an
# empty server, and for each of its own durable consumers their info,
# creation, next messages and acks; never a delete, purge or update.
# Replies come on _INBOX.>.
# Passwords are made once, kept in $STATE/nats-users (root only).
NATS_USERS=(admin api coordinator analyzer builder provisioner deployer external)
nats_publish_of() {
  case $1 in
  # The API and the coordinator share the outbox table, and either's relay
  # publishes any row of it: the same subjects for both.
  # The API also asks deployers to run one-off commands (app.run.<app>)
  # and to route custom domains (app.domains.<app>).
  api) echo '"deploy.>", "app.run.>", "app.domains.>"' ;;
  coordinator) echo '"deploy.>"' ;;
  analyzer) echo '"deploy.analyzed", "deploy.failed", "logs.>"' ;;
  builder) echo '"deploy.built", "deploy.failed", "deploy.compensated.>", "logs.>"' ;;
  provisioner) echo '"deploy.provisioned", "deploy.failed", "deploy.compensated.>", "logs.>"' ;;
  deployer) echo '"deploy.exposed", "deploy.failed", "deploy.compensated.>", "logs.>"' ;;
  esac
}
# The deployer takes the API's one-off command and domain requests
# and may answer each once on its reply subject (allow_responses), not
# publish into any other inbox.
nats_subscribe_of() {
  case $1 in
  deployer) echo '"_INBOX.>", "app.run.>", "app.domains.>"' ;;
  *) echo '"_INBOX.>"' ;;
  esac
}
# The durable consumers each service creates and reads (services/*/main.c).
nats_consumers_of() {
  case $1 in
  coordinator) echo coordinator ;;
  analyzer) echo analyzer ;;
  builder) echo builder builder-compensate ;;
  provisioner) echo provisioner provisioner-compensate ;;
  deployer) echo deployer deployer-compensate ;;
  esac
}
# nats_jetstream_of USER: its $JS subjects, a quoted list. cnats 3.4 makes
# a consumer with CONSUMER.CREATE.<stream>.<name>[.<filter>] or, on older
# servers, CONSUMER.DURABLE.CREATE.<stream>.<name>.
nats_jetstream_of() {
  local c out
  # shellcheck disable=SC2016 # $JS is NATS subject text, not a shell variable
  out='"$JS.API.INFO", "$JS.API.STREAM.INFO.DEPLOY", "$JS.API.STREAM.CREATE.DEPLOY"'
  for c in $(nats_consumers_of "$1"); do
    out+=", \"\$JS.API.CONSUMER.INFO.DEPLOY.$c\", \"\$JS.API.CONSUMER.CREATE.DEPLOY.$c\""
    out+=", \"\$JS.API.CONSUMER.CREATE.DEPLOY.$c.>\", \"\$JS.API.CONSUMER.DURABLE.CREATE.DEPLOY.$c\""
    out+=", \"\$JS.API.CONSUMER.MSG.NEXT.DEPLOY.$c\", \"\$JS.ACK.DEPLOY.$c.>\""
  done
  echo "$out"
}
nats_password() { sed -n "s/^$1=//p" "$STATE/nats-users"; }
nats_auth_conf() {
  local u pub
  if [[ ! -s $STATE/nats-users ]]; then
    (umask 077 && for u in "${NATS_USERS[@]}"; do
      echo "$u=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
    done >"$STATE/nats-users")
  fi
  (
    umask 077
    echo "# Written by scripts/stack.sh: users and permissions (docs/security.md)."
    echo "authorization { users = ["
    for u in "${NATS_USERS[@]}"; do
      case $u in
      admin) printf '  { user: admin, password: "%s" }\n' "$(nats_password admin)" ;;
      external)
        printf '  { user: external, password: "%s", permissions: { publish: { allow: ["deploy.requested"] }, subscribe: { allow: ["_INBOX.>"] } } }\n' \
          "$(nats_password external)"
        ;;
      *)
        pub=$(nats_publish_of "$u")
        # The API and the coordinator publish any deploy.* but the results
        # only a step may announce.
        local deny='[]'
        [[ $u == coordinator || $u == api ]] && deny='["deploy.exposed", "deploy.provisioned", "deploy.analyzed"]'
        local responses=''
        [[ $u == deployer ]] && responses=', allow_responses: { max: 1 }'
        printf '  { user: %s, password: "%s", permissions: { publish: { allow: [%s, %s], deny: %s }, subscribe: { allow: [%s] }%s } }\n' \
          "$u" "$(nats_password "$u")" "$pub" "$(nats_jetstream_of "$u")" "$deny" "$(nats_subscribe_of "$u")" "$responses"
        ;;
      esac
    done
    echo "] }"
  ) >"$STATE/nats-auth.conf"
}

start_nats() {
  mkdir -p "$STATE/nats"
  nats_auth_conf
  # -a also binds the monitoring port (-m) to 127.0.0.1.
  launch nats nats-server -c "$STATE/nats-auth.conf" -n app-deployer-local -js -sd "$STATE/nats" \
    -a 127.0.0.1 -p "${PORT[NATS_PORT]}" -m "${PORT[NATS_MONITOR_PORT]}"
}
ready_nats() {
  curl -fsS "http://127.0.0.1:${PORT[NATS_MONITOR_PORT]}/healthz" &&
    (exec 3<>"/dev/tcp/127.0.0.1/${PORT[NATS_PORT]}")
}

# Cluster node natsI: its own store dir and server name, one cluster name,
# routes to every other node (a node that is down is retried by the
# others). JetStream elects a meta leader once a majority of nodes is up.
# The users of nats-auth.conf, in the default account (see
# docs/operations.md about CVE-2023-47090 before exposing it).
start_nats_node() {
  local i=$1 j routes=""
  for ((j = 1; j <= NATS_NODES; j++)); do
    ((j == i)) || routes+="${routes:+,}nats://127.0.0.1:${PORT[NATS${j}_CLUSTER_PORT]}"
  done
  mkdir -p "$STATE/nats$i"
  nats_auth_conf
  launch "nats$i" nats-server -c "$STATE/nats-auth.conf" -n "app-deployer-nats$i" -js -sd "$STATE/nats$i" \
    -a 127.0.0.1 -p "${PORT[NATS${i}_PORT]}" -m "${PORT[NATS${i}_MONITOR_PORT]}" \
    --cluster_name app-deployer-local --cluster "nats://127.0.0.1:${PORT[NATS${i}_CLUSTER_PORT]}" \
    --routes "$routes"
}
# /healthz answers ok once the node's JetStream is up and has a meta leader.
ready_nats_node() {
  local i=$1
  curl -fsS "http://127.0.0.1:${PORT[NATS${i}_MONITOR_PORT]}/healthz" &&
    (exec 3<>"/dev/tcp/127.0.0.1/${PORT[NATS${i}_PORT]}")
}

# start_server NAME / ready_server NAME: dispatch (natsI shares one pair).
start_server() {
  case $1 in
  nats[0-9]) start_nats_node "${1#nats}" ;;
  *) "start_$1" ;;
  esac
}
ready_server() {
  case $1 in
  nats[0-9]) ready_nats_node "${1#nats}" ;;
  *) "ready_$1" ;;
  esac
}

start_postgres() {
  id postgres >/dev/null 2>&1 || ad_die "no 'postgres' user (install postgresql: scripts/install-deps.sh)"
  [[ -x $PGBIN/postgres ]] || ad_die "PostgreSQL binaries not found in $PGBIN"
  # The state dirs are root's; postgres must be able to traverse them and
  # own its data and socket dirs (initdb insists on 0700).
  mkdir -p "$STATE/postgres"
  chmod 0755 "$STATE" "$STATE/postgres"
  install -d -o postgres -g postgres -m 0700 "$PGDATA" "$PGSOCK"
  pg_prefix
  if [[ ! -f $PGDATA/PG_VERSION ]]; then
    ad_log "postgres: initdb $PGDATA"
    # Local socket: trust (the socket dir is 0700 postgres, so only root
    # and postgres reach it). TCP on 127.0.0.1: password (scram).
    (cd / && "${PG_PREFIX[@]}" "$PGBIN/initdb" -D "$PGDATA" -U postgres -E UTF8 --locale=C \
      --auth-local=trust --auth-host=scram-sha-256 --no-instructions \
      >>"$LOGDIR/postgres.log" 2>&1) ||
      ad_die "postgres: initdb failed; see $LOGDIR/postgres.log"
  fi
  # Port, address and socket dir on the command line: they change per `up`.
  launch postgres "${PG_PREFIX[@]}" "$PGBIN/postgres" -D "$PGDATA" \
    -c listen_addresses=127.0.0.1 -p "${PORT[PG_PORT]}" \
    -c unix_socket_directories="$PGSOCK" -c logging_collector=off
}
# Who may log in how, written on every `up` (setup_postgres, which reloads it), so
# a state dir made before a change gets it too.  The socket's directory is
# 0700 postgres: only root and postgres reach it.  There postgres logs in
# without a password (this script's set-up), every other role with its
# password sent as is: the services connect there (AD_DATABASE_URL_<SERVICE>),
# and a password sent as is needs no hashing in the client, where SCRAM's
# brings up OpenSSL, about 2 MiB of every service (docs/benchmarks.md).  On
# 127.0.0.1 (tests, tools, anything from another network namespace): SCRAM.
pg_hba() {
  local f=$PGDATA/pg_hba.conf
  cat >"$f.tmp" <<'HBA'
# Written by scripts/stack.sh on every `up`; edits here are lost.
# TYPE  DATABASE  USER      ADDRESS        METHOD
local   all       postgres                 trust
local   all       all                      password
host    all       all       127.0.0.1/32   scram-sha-256
host    all       all       ::1/128        scram-sha-256
HBA
  chown postgres:postgres "$f.tmp" && chmod 0600 "$f.tmp" && mv -f "$f.tmp" "$f"
}
ready_postgres() {
  "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "${PORT[PG_PORT]}" -d postgres
}
# Role and database, created on every `up` when missing (cheap, idempotent).
# pg_password NAME: the generated password of role NAME (PG_USER or a
# service's ad_<service>), made once.
pg_password() {
  local name
  if [[ ! -s $STATE/pg-users ]]; then
    (umask 077 && for name in "$PG_USER" "${PG_SERVICES[@]/#/ad_}"; do
      echo "$name=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
    done >"$STATE/pg-users")
  fi
  if [[ $1 == "$PG_USER" && -n ${AD_PG_PASSWORD:-} ]]; then
    printf '%s\n' "$AD_PG_PASSWORD"
  else
    sed -n "s/^$1=//p" "$STATE/pg-users"
  fi
}

setup_postgres() {
  local pw svc sql
  pg_hba
  pw=$(pg_password "$PG_USER")
  sql="SELECT format('CREATE ROLE %I LOGIN CREATEDB', '$PG_USER')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') \\gexec
ALTER ROLE \"$PG_USER\" PASSWORD '${pw//\'/\'\'}';
SELECT format('CREATE DATABASE %I OWNER %I', '$PG_DB', '$PG_USER')
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DB') \\gexec
SELECT pg_reload_conf() \\g /dev/null
"
  # Each service logs in as itself (pg_stat_activity names it; its password
  # is revoked alone) and works as PG_USER, so what one creates (a
  # migration's table) the others may use.  Except the analyzer and the
  # provisioner: their roles are not PG_USER's members and have only the
  # privileges migration 021 grants them (read a deployment's status, app
  # name and the applied migrations, record processed events); they wait for
  # another service to apply migrations.
  for svc in "${PG_SERVICES[@]}"; do
    pw=$(pg_password "ad_$svc")
    sql+="SELECT format('CREATE ROLE %I LOGIN', 'ad_$svc')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ad_$svc') \\gexec
ALTER ROLE \"ad_$svc\" PASSWORD '${pw//\'/\'\'}';
"
    if [[ $svc == analyzer || $svc == provisioner ]]; then
      sql+="REVOKE \"$PG_USER\" FROM \"ad_$svc\";
ALTER ROLE \"ad_$svc\" RESET role;
"
    else
      sql+="GRANT \"$PG_USER\" TO \"ad_$svc\";
ALTER ROLE \"ad_$svc\" SET role = '$PG_USER';
"
    fi
  done
  "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGSOCK" -p "${PORT[PG_PORT]}" \
    -U postgres -d postgres >>"$LOGDIR/postgres.log" 2>&1 <<<"$sql" ||
    ad_die "postgres: creating roles/database failed; see $LOGDIR/postgres.log"
}

# The registry asks for credentials (htpasswd, bcrypt): one account,
# REGISTRY_USER, that the builder pushes and the deployer pulls with.
# distribution's htpasswd mode gives every account every right (pull and
# push), so one account per service would narrow nothing (docs/security.md).
# The password is made once (STATE/registry/password, 0600) and never
# logged; STATE/registry/netrc (0600) gives it to curl in tests and tools,
# STATE/registry/auth.json (0600) to the podman CLI.
REGISTRY_USER=app-deployer
registry_password() { cat "$STATE/registry/password"; }
registry_credentials() {
  local dir=$STATE/registry salt
  (
    umask 077
    [[ -s $dir/password ]] || od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$dir/password"
    # bcrypt through libcrypt (perl's crypt): the password goes on stdin,
    # never on a command line.  $2b$, a 22-character salt (hex digits are
    # in bcrypt's alphabet), cost 5: the registry checks the password on
    # every request (a push makes about 20), and at cost 10 each check is
    # 50 ms of CPU, most of a push's time.  The cost slows the guessing of
    # a weak password; this one is 128 random bits, which no guessing
    # reaches at any cost (docs/security.md).
    salt=$(od -An -tx1 -N11 /dev/urandom | tr -d ' \n')
    # shellcheck disable=SC2016 # perl code, not shell
    registry_password | perl -e '
      my $pw = do { local $/; <STDIN> };
      my $h = crypt($pw, "\$2b\$05\$" . $ARGV[1]);
      defined $h && $h =~ /^\$2b\$/ or die "bcrypt not supported by crypt(3)\n";
      print "$ARGV[0]:$h\n";' "$REGISTRY_USER" "$salt" >"$dir/htpasswd.tmp" ||
      ad_die "registry: making the htpasswd file failed"
    mv -f "$dir/htpasswd.tmp" "$dir/htpasswd"
    printf 'machine 127.0.0.1 login %s password %s\n' "$REGISTRY_USER" "$(registry_password)" \
      >"$dir/netrc"
    # The podman CLI's (REGISTRY_AUTH_FILE in the env file; never the
    # podman service's: the engine gets credentials with each call).
    printf '{"auths": {"127.0.0.1:%s": {"auth": "%s"}}}\n' "${PORT[REGISTRY_PORT]}" \
      "$(printf '%s:%s' "$REGISTRY_USER" "$(registry_password)" | base64 -w0)" >"$dir/auth.json"
  )
}

start_registry() {
  local dir=$STATE/registry
  mkdir -p "$dir/data"
  chmod 0700 "$dir"
  # A fixed secret avoids the "No HTTP secret provided" random one per start.
  [[ -s $dir/secret ]] || (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/secret")
  registry_credentials
  (umask 077 && cat >"$dir/config.yml") <<EOF
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
auth:
  htpasswd:
    realm: app-deployer
    path: $dir/htpasswd
http:
  addr: 127.0.0.1:${PORT[REGISTRY_PORT]}
  secret: $(cat "$dir/secret")
EOF
  launch registry docker-registry serve "$dir/config.yml"
}
# Up and asking for credentials: /v2/ answers 401 without them.
ready_registry() {
  [[ $(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:${PORT[REGISTRY_PORT]}/v2/") == 401 ]]
}

start_caddy() {
  local dir=$STATE/caddy
  ((${#CADDY_ADMIN_SOCK} < 100)) ||
    ad_die "caddy admin socket path too long (${#CADDY_ADMIN_SOCK} chars): $CADDY_ADMIN_SOCK; use a shorter AD_STATE_DIR"
  mkdir -p "$dir/data" "$dir/config" "$dir/home" "$dir/run"
  chmod 0700 "$dir/run"
  rm -f "$CADDY_ADMIN_SOCK"
  # - `apps`: plain HTTP ingress, routes are POSTed at runtime to
  #   /config/apps/http/servers/apps/routes. No automatic HTTPS there.
  # - `apps_tls`: HTTPS ingress, certificates issued on demand by caddy's
  #   internal CA for whatever SNI is asked (*.localhost), no redirects, no
  #   HTTP/3 (it would also bind a UDP port nobody checked was free).
  # - http_port/https_port point at our ports so caddy never tries :80/:443.
  # - install_trust=false: never touch the system trust store.
  # - persist=false: runtime routes are not autosaved; the platform
  #   re-applies its routes after a caddy restart.
  # - admin on the unix socket; origins: requests over it say Host: localhost.
  cat >"$dir/caddy.json" <<EOF
{
  "admin": {"listen": "unix/$CADDY_ADMIN_SOCK", "origins": ["localhost"], "config": {"persist": false}},
  "storage": {"module": "file_system", "root": "$dir/data"},
  "apps": {
    "http": {
      "http_port": ${PORT[INGRESS_HTTP_PORT]},
      "https_port": ${PORT[INGRESS_HTTPS_PORT]},
      "servers": {
        "apps": {
          "listen": ["127.0.0.1:${PORT[INGRESS_HTTP_PORT]}"],
          "routes": [],
          "automatic_https": {"disable": true}
        },
        "apps_tls": {
          "listen": ["127.0.0.1:${PORT[INGRESS_HTTPS_PORT]}"],
          "routes": [],
          "tls_connection_policies": [{}],
          "protocols": ["h1", "h2"],
          "automatic_https": {"disable_redirects": true}
        }
      }
    },
    "tls": {
      "automation": {
        "policies": [{"issuers": [{"module": "internal"}], "on_demand": true}]
      }
    },
    "pki": {
      "certificate_authorities": {"local": {"install_trust": false}}
    }
  }
}
EOF
  launch caddy env HOME="$dir/home" XDG_DATA_HOME="$dir/data" \
    XDG_CONFIG_HOME="$dir/config" caddy run --config "$dir/caddy.json"
}
ready_caddy() {
  curl -fsS --unix-socket "$CADDY_ADMIN_SOCK" http://localhost/config/ &&
    (exec 3<>"/dev/tcp/127.0.0.1/${PORT[INGRESS_HTTP_PORT]}") &&
    (exec 3<>"/dev/tcp/127.0.0.1/${PORT[INGRESS_HTTPS_PORT]}")
}

start_podman() {
  # sockaddr_un.sun_path is 108 bytes.
  ((${#SOCK} < 100)) || ad_die "podman socket path too long (${#SOCK} chars): $SOCK; use a shorter AD_STATE_DIR"
  rm -f "$SOCK"
  # No REGISTRY_AUTH_FILE (a shell that sourced the env file has it):
  # the engine pulls and pushes only with the credentials a call brings.
  launch podman env -u REGISTRY_AUTH_FILE CONTAINERS_CONF="$CONTAINERS_CONF_FILE" \
    CONTAINERS_REGISTRIES_CONF="$REGISTRIES_CONF_FILE" \
    podman system service --time=0 "unix://$SOCK"
}
ready_podman() {
  [[ $(curl -fsS --unix-socket "$SOCK" http://d/_ping) == OK ]]
}

# --- commands --------------------------------------------------------------

write_env() {
  local urls="" i u svc pg_opts
  # The platform key that seals app secrets: made once, readable by root
  # only, and read from its file (never copied into the env file).
  if [[ ! -s $STATE/secrets.key ]]; then
    (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$STATE/secrets.key")
  fi
  {
    echo "# app-deployer local stack ($(date -Is)); source this file."
    printf 'export AD_STATE_DIR=%q\n' "$STATE"
    if selected nats; then
      # AD_NATS_URL is admin's (tests, tools); AD_NATS_URL_<SERVICE> each
      # service's own, which scripts/services.sh passes on.
      for u in "${NATS_USERS[@]}"; do
        printf 'export AD_NATS_URL_%s=%q\n' "${u^^}" \
          "nats://$u:$(nats_password "$u")@127.0.0.1:${PORT[NATS_PORT]}"
      done
      printf 'export AD_NATS_URL=%q\n' "nats://admin:$(nats_password admin)@127.0.0.1:${PORT[NATS_PORT]}"
      printf 'export AD_NATS_MONITOR_URL=%q\n' "http://127.0.0.1:${PORT[NATS_MONITOR_PORT]}"
    elif selected nats1; then
      # Every node: a client connects to any and fails over to the others.
      for u in "${NATS_USERS[@]}"; do
        urls=""
        for ((i = 1; i <= NATS_NODES; i++)); do
          urls+="${urls:+,}nats://$u:$(nats_password "$u")@127.0.0.1:${PORT[NATS${i}_PORT]}"
        done
        [[ $u == admin ]] && printf "export AD_NATS_URL='%s'\n" "$urls"
        printf "export AD_NATS_URL_%s='%s'\n" "${u^^}" "$urls"
      done
      printf 'export AD_NATS_MONITOR_URL=%q\n' "http://127.0.0.1:${PORT[NATS1_MONITOR_PORT]}"
      printf 'export AD_NATS_REPLICAS=3\n'
    fi
    if selected postgres; then
      # The owner's (tests, tools) on 127.0.0.1.  The stack's PostgreSQL
      # is on loopback without TLS: no SSL or GSS negotiation (libpq's
      # default "prefer" sets up OpenSSL and Kerberos in every process at
      # connect, about 0.5 MiB each; docs/benchmarks.md).
      pg_opts="sslmode=disable&gssencmode=disable"
      printf 'export AD_DATABASE_URL=%q\n' \
        "postgresql://$PG_USER:$(urlencode "$(pg_password "$PG_USER")")@127.0.0.1:${PORT[PG_PORT]}/$PG_DB?$pg_opts"
      # AD_DATABASE_URL_<SERVICE> each service's own, which
      # scripts/services.sh passes on: over the socket, with its password
      # sent as is (pg_hba above).
      for svc in "${PG_SERVICES[@]}"; do
        printf 'export AD_DATABASE_URL_%s=%q\n' "${svc^^}" \
          "postgresql://ad_$svc:$(pg_password "ad_$svc")@/$PG_DB?host=$(urlencode "$PGSOCK")&port=${PORT[PG_PORT]}"
      done
    fi
    selected podman && printf 'export AD_ENGINE_SOCKET=%q\n' "$SOCK"
    if selected registry; then
      printf 'export AD_REGISTRY_ADDRESS=%q\n' "127.0.0.1:${PORT[REGISTRY_PORT]}"
      printf 'export AD_REGISTRY_USERNAME=%q\n' "$REGISTRY_USER"
      # shellcheck disable=SC2016 # expanded when the env file is sourced
      printf 'export AD_REGISTRY_PASSWORD="$(cat %q)"\n' "$STATE/registry/password"
      printf 'export AD_REGISTRY_NETRC=%q\n' "$STATE/registry/netrc"
      printf 'export REGISTRY_AUTH_FILE=%q\n' "$STATE/registry/auth.json"
    fi
    if selected caddy; then
      printf 'export AD_CADDY_ADMIN_URL=%q\n' "unix://$CADDY_ADMIN_SOCK"
      printf 'export AD_INGRESS_HTTP_PORT=%q\n' "${PORT[INGRESS_HTTP_PORT]}"
      printf 'export AD_INGRESS_HTTPS_PORT=%q\n' "${PORT[INGRESS_HTTPS_PORT]}"
      printf 'export AD_INGRESS_CA_FILE=%q\n' "$CADDY_CA_FILE"
    fi
    if selected podman; then
      printf 'export CONTAINERS_CONF=%q\n' "$CONTAINERS_CONF_FILE"
      printf 'export CONTAINERS_REGISTRIES_CONF=%q\n' "$REGISTRIES_CONF_FILE"
      printf 'export DOCKER_HOST=%q\n' "unix://$SOCK"
    fi
    printf 'export PGBIN=%q\n' "$PGBIN"
    # shellcheck disable=SC2016 # expanded when the env file is sourced
    printf 'export AD_SECRETS_KEY="$(cat %q)"\n' "$STATE/secrets.key"
  } >"$ENV_FILE.tmp"
  mv -f "$ENV_FILE.tmp" "$ENV_FILE"
}

urlencode() {
  local s=$1 out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
    [a-zA-Z0-9.~_-]) out+=$c ;;
    *) out+=$(printf '%%%02X' "'$c") ;;
    esac
  done
  printf '%s' "$out"
}

cmd_up() {
  local name started=() torun=() pid t0=$SECONDS key
  # Marker so `down --purge` only ever deletes a directory we created.
  touch "$STATE/.app-deployer-stack"
  mkdir -p "$LOGDIR" "$RUNDIR" "$STATE/podman"
  load_ports
  save_mode

  # NATS of the other mode (one node vs a cluster) cannot run alongside.
  for name in $(every_server); do
    if [[ $name != nats* ]] || selected "$name"; then continue; fi
    pid=$(server_pid "$name") || continue
    ad_log "$name: not part of this stack's NATS mode, stopping"
    stop_server "$name" "$pid"
  done

  # A caddy started with its admin API on a TCP port (before the unix
  # socket): restart it with the socket.
  if pid=$(server_pid caddy) && ! grep -q '"listen": "unix/' "$STATE/caddy/caddy.json" 2>/dev/null; then
    ad_log "caddy: its admin API moves to a unix socket, restarting"
    stop_server caddy "$pid"
  fi

  # A registry started without credentials (before htpasswd auth):
  # restart it with them.
  if pid=$(server_pid registry) && ! grep -q '^auth:' "$STATE/registry/config.yml" 2>/dev/null; then
    ad_log "registry: it asks for credentials now, restarting"
    stop_server registry "$pid"
  fi

  # Ports of servers that already run are taken; others get fresh ones.
  for name in "${SERVERS[@]}"; do
    pid=$(server_pid "$name") || continue
    for key in $(ports_of "$name"); do
      if [[ -z ${PORT[$key]:-} ]]; then
        # Running but its ports were lost (ports file removed): restart it.
        ad_log "$name: running with unknown ports, restarting"
        stop_server "$name" "$pid"
        continue 2
      fi
    done
    # shellcheck disable=SC2046 # word splitting of the key list is wanted
    reserve $(ports_of "$name")
  done

  if selected registry || selected podman; then
    # podman reads registries.conf at start: (re)write it for the registry's
    # port, restarting a running podman service if the port changed.
    server_pid registry >/dev/null || pick REGISTRY_PORT
    ad_write_containers_conf "$CONTAINERS_CONF_FILE"
    local regconf_old=""
    [[ -f $REGISTRIES_CONF_FILE ]] && regconf_old=$(cat "$REGISTRIES_CONF_FILE")
    ad_write_registries_conf "$REGISTRIES_CONF_FILE" "127.0.0.1:${PORT[REGISTRY_PORT]}"
    if pid=$(server_pid podman) && [[ $regconf_old != "$(cat "$REGISTRIES_CONF_FILE")" ]]; then
      ad_log "podman: registry address changed, restarting the service"
      ad_stop_pid podman "$pid" "$STOP_TIMEOUT"
    fi
  fi

  # Every port first: a cluster node's routes name the other nodes' ports.
  for name in "${SERVERS[@]}"; do
    if pid=$(server_pid "$name"); then
      ad_log "$name: already running (pid $pid)"
      continue
    fi
    # (the registry's port was picked above, for registries.conf)
    # shellcheck disable=SC2046
    [[ $name == registry ]] || pick $(ports_of "$name")
    torun+=("$name")
  done
  save_ports # before starting: `status`/`down` must know even on failure
  for name in "${torun[@]}"; do
    start_server "$name"
    started+=("$name")
  done

  for name in "${started[@]}"; do
    # Raw read: a server that already died must be reported as such.
    read -r pid <"$RUNDIR/$name.pid" || pid=""
    ad_wait_for "$name" "$START_TIMEOUT" "$pid" "$LOGDIR/$name.log" ready_server "$name" ||
      ad_die "$name failed to start (log: $LOGDIR/$name.log)"
    ad_log "$name: ready (pid $pid)"
  done
  if selected postgres; then setup_postgres; fi
  firewall_up

  write_env
  ad_log "stack up in $((SECONDS - t0))s; state in $STATE"
  cat "$ENV_FILE"
}

stop_server() {
  local name=$1 pid=$2
  ad_log "$name: stopping (pid $pid)"
  # postgres: SIGINT is "fast" shutdown (SIGTERM waits for clients to leave).
  if [[ $name == postgres ]]; then
    ad_stop_pid "$name" "$pid" "$STOP_TIMEOUT" INT
  else
    ad_stop_pid "$name" "$pid" "$STOP_TIMEOUT"
  fi
  rm -f "$RUNDIR/$name.pid"
}

# The egress rules (scripts/firewall.sh), protecting every port of this
# stack but the ingress's (apps may call other apps through it).
firewall_up() {
  local mode=${AD_FIREWALL:-auto} key ports=()
  [[ $mode == off ]] && return 0
  if [[ $mode == auto ]] && { ((EUID != 0)) || ! command -v iptables >/dev/null; }; then
    ad_log "firewall: not root or no iptables, containers' egress is not restricted"
    return 0
  fi
  for key in "${!PORT[@]}"; do
    [[ $key == INGRESS_HTTP_PORT || $key == INGRESS_HTTPS_PORT ]] || ports+=("${PORT[$key]}")
  done
  if ! AD_STATE_DIR=$STATE AD_FIREWALL_HOST_PORTS="${ports[*]} ${AD_FIREWALL_HOST_PORTS:-}" \
    "$here/firewall.sh" up; then
    [[ $mode == on ]] && ad_die "firewall: the egress rules could not be installed"
    ad_log "firewall: WARNING: the egress rules could not be installed"
  fi
}

cmd_down() {
  local purge=0 name pid i all
  [[ ${1:-} == --purge ]] && purge=1
  [[ ${AD_FIREWALL:-auto} == off ]] || AD_STATE_DIR=$STATE "$here/firewall.sh" down || true
  # Whatever mode the servers were started in.
  mapfile -t all < <(every_server | tr ' ' '\n')
  for ((i = ${#all[@]} - 1; i >= 0; i--)); do
    name=${all[i]}
    if pid=$(server_pid "$name"); then
      stop_server "$name" "$pid"
    fi
    rm -f "$RUNDIR/$name.pid"
  done
  rm -f "$ENV_FILE" "$SOCK"
  if ((purge)); then
    if [[ -f $STATE/.app-deployer-stack ]]; then
      ad_log "purging $STATE"
      rm -rf "$STATE"
    else
      ad_log "not purging $STATE: no .app-deployer-stack marker"
    fi
  fi
}

cmd_status() {
  local name pid key ports rc=0
  load_ports
  for name in "${SERVERS[@]}"; do
    ports=""
    for key in $(ports_of "$name"); do ports+=" $key=${PORT[$key]:-?}"; done
    [[ $name == podman ]] && ports=" socket=$SOCK"
    if pid=$(server_pid "$name"); then
      printf '%-9s running  pid=%-7s%s\n' "$name" "$pid" "$ports"
    else
      printf '%-9s stopped\n' "$name"
      rc=3
    fi
  done
  return "$rc"
}

cmd_env() {
  [[ -f $ENV_FILE ]] || ad_die "no $ENV_FILE; run: $0 up"
  cat "$ENV_FILE"
}

# known_server NAME: NAME is a server of this stack's mode.
known_server() {
  if [[ -z ${1:-} ]] || ! selected "$1"; then
    ad_die "no server '${1:-}' in this stack (servers: ${SERVERS[*]})"
  fi
}

# kill NAME: SIGKILL, as a crash would; `up` starts it again.
cmd_kill() {
  local name=${1:-} pid
  known_server "$name"
  pid=$(server_pid "$name") || ad_die "$name is not running"
  ad_log "$name: killing (SIGKILL, pid $pid)"
  kill -KILL "$pid"
  while ad_alive "$pid"; do sleep 0.05; done
}

# restart NAME: polite stop, then `up` starts it again with its ports.
cmd_restart() {
  local name=${1:-} pid
  known_server "$name"
  if pid=$(server_pid "$name"); then
    stop_server "$name" "$pid"
  fi
  cmd_up >/dev/null
}

main() {
  local cmd=${1:-}
  shift || true
  init_paths
  init_mode "$cmd"
  case $cmd in
  up | down | restart)
    # One up/down at a time per state dir (parallel test runners).
    exec 9>>"$STATE/.lock"
    flock -w 120 9 || ad_die "another up/down holds $STATE/.lock"
    "cmd_$cmd" "$@"
    ;;
  kill) cmd_kill "$@" ;;
  status) cmd_status "$@" ;;
  env) cmd_env ;;
  env-file) printf '%s\n' "$ENV_FILE" ;;
  *)
    echo "usage: $0 up | down [--purge] | status | env | env-file | kill NAME | restart NAME" >&2
    exit 2
    ;;
  esac
}

main "$@"
