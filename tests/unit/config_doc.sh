#!/usr/bin/env bash
# The configuration tables in the code and docs/configuration.md agree:
# every row a service prints with --config-doc (generated from its
# `struct ad_config_key` declarations) is in the docs, word for word; and
# --print-config shows every declared key with where it came from, with a
# password in a URL masked.
# Usage: config_doc.sh SOURCE_DIR BIN_DIR
set -euo pipefail
src=${1:?usage: config_doc.sh SOURCE_DIR BIN_DIR}
bin=${2:?usage: config_doc.sh SOURCE_DIR BIN_DIR}
doc=$src/docs/configuration.md
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

rows=0
for exe in adapi adcoordinator adanalyzer adbuilder adprovisioner addeployer; do
  out=$("$bin/$exe" --config-doc) || fail "$exe --config-doc exited $?"
  [[ -n $out ]] || fail "$exe --config-doc printed nothing"
  while IFS= read -r row; do
    rows=$((rows + 1))
    grep -qxF -- "$row" "$doc" || fail "$exe: docs/configuration.md lacks the row: $row"
  done <<<"$out"
done

# --print-config: the environment wins and is named; secrets stay hidden.
out=$(env -i PATH="$PATH" AD_DATABASE_URL='postgresql://u:hunter2@db.example:5432/x' \
  AD_COORDINATOR_SWEEP_INTERVAL_MS=750 "$bin/adcoordinator" --print-config) ||
  fail "adcoordinator --print-config exited $?"
[[ $out != *hunter2* ]] || fail "--print-config shows a password: $out"
grep -qF 'database.url = postgresql://u:***@db.example:5432/x  # environment variable AD_DATABASE_URL' <<<"$out" ||
  fail "--print-config: database.url line: $(grep database.url <<<"$out")"
grep -qF 'coordinator.sweep_interval_ms = 750  # environment variable AD_COORDINATOR_SWEEP_INTERVAL_MS' <<<"$out" ||
  fail "--print-config: sweep_interval_ms line: $(grep sweep_interval <<<"$out")"
grep -qF 'coordinator.deadline.build_s = 1800  # default' <<<"$out" ||
  fail "--print-config: a default is not shown as such"
# A value out of its declared bounds is refused, naming the key.
rc=0
err=$(env -i PATH="$PATH" AD_COORDINATOR_SWEEP_INTERVAL_MS=5 "$bin/adcoordinator" --check-config 2>&1) || rc=$?
[[ $rc == 2 && $err == *"coordinator.sweep_interval_ms"*"out of range [100, 600000]"* ]] ||
  fail "an out-of-bounds value: rc $rc: $err"

if ((failures)); then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "ok: $rows configuration rows of six services are in docs/configuration.md; --print-config names origins and hides secrets"
