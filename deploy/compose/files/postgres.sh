#!/bin/sh
# PostgreSQL for the platform: on first start, a cluster in $PGDATA with
# the role and database POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB
# (password auth over TCP); then the server on POSTGRES_LISTEN:POSTGRES_PORT.
set -eu
bin=/usr/lib/postgresql/15/bin
: "${POSTGRES_USER:=appdeployer}" "${POSTGRES_DB:=appdeployer}"
: "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
        pwfile=$(mktemp)
        printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
        "$bin/initdb" -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" \
                --auth-local=trust --auth-host=scram-sha-256 >/dev/null
        rm -f "$pwfile"
        "$bin/pg_ctl" -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/tmp" \
                -w start >/dev/null
        "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h /tmp -U "$POSTGRES_USER" -d postgres <<SQL
SELECT format('CREATE DATABASE %I OWNER %I', '$POSTGRES_DB', '$POSTGRES_USER')
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$POSTGRES_DB') \gexec
SQL
        "$bin/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec "$bin/postgres" -D "$PGDATA" -c listen_addresses="$POSTGRES_LISTEN" -p "$POSTGRES_PORT" \
        -c unix_socket_directories=/tmp
