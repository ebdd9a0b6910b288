#!/usr/bin/env bash
# The API's accept rate for POST /deployments (issue 13), with
# authentication (a team API key, looked up in PostgreSQL on every request)
# and rate limiting on (buckets sized above the load, so every request pays
# for the check and none is refused), against a real adapi and the stack's
# PostgreSQL and NATS.  For each CLIENTS value, bench_accept runs that many
# keep-alive clients for SECONDS (after a 1 s warm-up): requests a second,
# p50 and p99 latency.  The reference, measured right after in the same
# run with the same number of clients: pgbench inserting one row a
# transaction into a table shaped like deployment_requests (uuid, app name,
# repository URL, ref, principal, timestamps), the least durable work an
# accepted request implies.  Prints a Markdown table; the ratio is
# API / pgbench.
#
# Needs the stack (scripts/stack.sh up; . $AD_STATE_DIR/env) and a build:
#   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release -DAD_BUILD_TESTS=OFF
#   cmake --build build-rel --target adapi bench_accept
#   bench/accept.sh [BUILD_DIR] [SECONDS] [CLIENTS...]   (default build-rel 10 1 4 16)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build-rel}
secs=${2:-10}
shift $(($# > 2 ? 2 : $#))
clients=("$@")
((${#clients[@]})) || clients=(1 4 16)
: "${AD_DATABASE_URL:?start the stack first (scripts/stack.sh up; . \$AD_STATE_DIR/env)}"
# shellcheck source-path=SCRIPTDIR source=../tests/support/adapi.sh
. "$root/tests/support/adapi.sh"
work=$(mktemp -d)
run=$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')
team=bench-$run
api_pid=
sql() { psql "$AD_DATABASE_URL" -qAt -v ON_ERROR_STOP=1 -c "$1"; }
cleanup() {
  [[ -n $api_pid ]] && kill "$api_pid" 2>/dev/null && wait "$api_pid" 2>/dev/null
  psql "$AD_DATABASE_URL" -qAt >/dev/null 2>&1 <<SQL || true
DELETE FROM outbox WHERE published_at IS NOT NULL AND created_at > now() - interval '1 day' AND position(convert_to('bench-accept-$run-', 'UTF8') in payload) > 0;
DELETE FROM deployment_requests WHERE app_name LIKE 'bench-accept-$run-%';
DELETE FROM app_owners WHERE app_name LIKE 'bench-accept-$run-%';
DELETE FROM audit_log WHERE team_id IN (SELECT id FROM teams WHERE name = '$team');
DELETE FROM teams WHERE name = '$team';
DROP TABLE IF EXISTS bench_accept_ref;
SQL
  rm -rf "$work"
}
trap cleanup EXIT

"$build/bin/adapi" admin create-team "$team" 2>/dev/null
key=$("$build/bin/adapi" admin create-token --team "$team" --role deployer --name bench 2>/dev/null)
adapi_start "$build/bin" "$work/api.log" AD_API_REQUIRE_AUTH=true \
  AD_API_RATE_LIMIT_PER_TOKEN=1000000 AD_API_RATE_BURST_PER_TOKEN=1000000 \
  AD_API_RATE_LIMIT_PER_ADDRESS=1000000 AD_API_RATE_BURST_PER_ADDRESS=1000000 \
  AD_API_MAX_CONNECTIONS_PER_ADDRESS=0
api_pid=$started_pid
[[ -n $started_port ]] || { tail -n 5 "$work/api.log" >&2; echo "adapi did not start" >&2; exit 1; }
api=http://127.0.0.1:$started_port

sql "CREATE TABLE bench_accept_ref (id uuid PRIMARY KEY, app_name text NOT NULL, repo_url text NOT NULL, ref text NOT NULL DEFAULT '', requested_by text NOT NULL DEFAULT '', created_at timestamptz NOT NULL DEFAULT now())"
cat >"$work/insert.sql" <<'SQL'
INSERT INTO bench_accept_ref (id, app_name, repo_url, ref, requested_by) VALUES (gen_random_uuid(), 'bench-accept-ref', 'https://example.com/acme/bench.git', 'main', 'bench/bench');
SQL
# pgbench: the latencies of its per-transaction log (µs), as p50 p99 in ms.
pg_percentiles() { cat "$work"/pglog* | awk '{print $3}' | sort -n |
  awk '{a[NR]=$1} END {printf "%.2f %.2f\n", a[int(NR/2)+1]/1000, a[int(NR*0.99)+1]/1000}'; }

echo "| clients | API accepts/s | API p50 | API p99 | pgbench inserts/s | pgbench p50 | pgbench p99 | API / pgbench |"
echo "|---|---|---|---|---|---|---|---|"
for n in "${clients[@]}"; do
  out=$("$build/bench/bench_accept" "$api" "$key" "$n" "$secs" "bench-accept-$run") || { echo "bench_accept: $out" >&2; exit 1; }
  rate=$(sed -n 's/.*rate=\([0-9.]*\).*/\1/p' <<<"$out")
  p50=$(sed -n 's/.*p50_ms=\([0-9.]*\).*/\1/p' <<<"$out")
  p99=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' <<<"$out")
  rm -f "$work"/pglog*
  pg=$(cd "$work" && pgbench -n -c "$n" -j "$((n < 2 ? n : 2))" -T "$secs" -l --log-prefix=pglog \
    -f "$work/insert.sql" "$AD_DATABASE_URL" 2>&1)
  tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$pg" | head -1)
  read -r pg50 pg99 < <(pg_percentiles)
  ratio=$(awk -v a="$rate" -v b="$tps" 'BEGIN {printf "%.2f", a / b}')
  printf '| %s | %.0f | %s ms | %s ms | %.0f | %s ms | %s ms | %s |\n' "$n" "$rate" "$p50" "$p99" "$tps" "$pg50" "$pg99" "$ratio"
done
