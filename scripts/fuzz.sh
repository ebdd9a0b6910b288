#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each from
# its seed corpus: briefly by default (as scripts/test.sh does), longer
# with --long, or for SECONDS each with --seconds N.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${AD_FUZZ_SECONDS:-10}
case ${1:-} in
--long) seconds=300 ;;
--seconds) seconds=${2:?--seconds N} ;;
"") ;;
*)
  echo "usage: fuzz.sh [--long | --seconds N]" >&2
  exit 2
  ;;
esac
build=${AD_FUZZ_BUILD_DIR:-build-fuzz}
CC=clang cmake -S . -B "$build" -DAD_FUZZ=ON -DAD_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
status=0
for target in "$build"/fuzz/fuzz_*; do
  name=$(basename "$target")
  seeds=tests/fuzz/corpus/$name
  work=$(mktemp -d)
  [[ -d $seeds ]] && cp -r "$seeds"/. "$work"/
  echo "fuzzing $name for ${seconds}s"
  if ! "$target" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
    -print_final_stats=1 "$work" >"$work.log" 2>&1; then
    echo "FAIL: $name found a crash:" >&2
    tail -n 60 "$work.log" >&2
    status=1
  else
    grep -E 'stat::number_of_executed_units|Done' "$work.log" | tail -n 2 || true
  fi
  rm -rf "$work" "$work.log"
done
exit $status
