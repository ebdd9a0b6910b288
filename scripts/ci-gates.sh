#!/usr/bin/env bash
# The build gates CI runs beside the sanitizer build (scripts/test.sh calls
# each one).  Every gate fails on the first warning or failing test.
#
# Usage: ci-gates.sh GATE...
#   lint-shell  shellcheck on every shell script of the tree (warnings and errors)
#   release     gcc, -DCMAKE_BUILD_TYPE=Release, with the tests; unit tests
#   clang       clang with our warning set (-Werror), with the tests; unit tests
#   tidy        clang-tidy (.clang-tidy) on every C file of ours, from the
#               clang gate's compile_commands.json (run `clang` first)
#   tsan-build  ThreadSanitizer build of the threaded parts (API pool and
#               relay, coordinator relay, delivery workers, the builder's context
#               stream) and their tests
#   tsan        run those tests against the stack (after tsan-build; needs
#               `. $AD_STATE_DIR/env`)
# Build dirs: build-release, build-clang, build-tsan (AD_GATES_PREFIX to
# put them elsewhere).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
prefix=${AD_GATES_PREFIX:-build}
jobs=$(nproc)
# The integration tests whose code under test runs threads.
TSAN_TESTS=(test_bus test_api test_coordinator test_analyzer_service test_outbox test_builder_tar)
TSAN_BINS=(adapi adcoordinator adanalyzer ad_test_bus_reset)

step() { printf '\n==> %s\n' "$*"; }

configure_build() { # DIR CMAKE_ARGS...
  local dir=$1
  shift
  cmake -S . -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
}

gate_lint-shell() {
  step "shellcheck on every script"
  # Detection fixtures are sample repositories, not our scripts.
  git ls-files -co --exclude-standard -- '*.sh' .ci/run | grep -v '^tests/fixtures/' |
    xargs shellcheck -x -S warning
}

gate_release() {
  step "Release build (gcc) with the tests in $prefix-release/"
  configure_build "$prefix-release" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=gcc
  ctest --test-dir "$prefix-release" -L unit --output-on-failure --no-tests=error -j"$jobs"
}

gate_clang() {
  step "clang build with the tests in $prefix-clang/"
  configure_build "$prefix-clang" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
    -DAD_FAULT_POINTS=ON
  ctest --test-dir "$prefix-clang" -L unit --output-on-failure --no-tests=error -j"$jobs"
}

gate_tidy() {
  step "clang-tidy (.clang-tidy) on our C files"
  [[ -f $prefix-clang/compile_commands.json ]] || {
    echo "tidy: run the clang gate first (no $prefix-clang/compile_commands.json)" >&2
    exit 1
  }
  # Our files that the build compiles (generated protobuf code is not ours).
  jq -r '.[].file' "$prefix-clang/compile_commands.json" | sort -u |
    grep -E "^$PWD/(common|services|cli|bench|tests)/" |
    xargs -P"$jobs" -n8 clang-tidy -p "$prefix-clang" --quiet 2>&1 |
    { grep -v 'warnings\? generated\.$' || true; } | tee "$prefix-clang/tidy.log"
  # clang-tidy exits non-zero on an error; a warning-as-error is printed as
  # "error:" too, so the log decides.
  ! grep -q 'error:' "$prefix-clang/tidy.log"
}

gate_tsan_build() {
  step "ThreadSanitizer build of the threaded parts in $prefix-tsan/"
  cmake -S . -B "$prefix-tsan" -DCMAKE_BUILD_TYPE=Debug -DAD_TSAN=ON >/dev/null
  cmake --build "$prefix-tsan" -j"$jobs" --target "${TSAN_TESTS[@]}" "${TSAN_BINS[@]}"
}

gate_tsan() {
  step "ThreadSanitizer: ${TSAN_TESTS[*]}"
  : "${AD_NATS_URL:?start the stack first (scripts/stack.sh up; . \$AD_STATE_DIR/env)}"
  local re
  re="^($(
    IFS='|'
    echo "${TSAN_TESTS[*]}"
  ))\$"
  TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1} \
    ctest --test-dir "$prefix-tsan" -R "$re" --output-on-failure --no-tests=error
}

(($#)) || {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2
  exit 2
}
for gate in "$@"; do
  case $gate in
  lint-shell | release | clang | tidy | tsan) "gate_$gate" ;;
  tsan-build) gate_tsan_build ;;
  *)
    echo "unknown gate: $gate" >&2
    exit 2
    ;;
  esac
done
