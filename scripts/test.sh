#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine:
#   installs the packages, builds with AddressSanitizer + UBSan, checks the
#   formatting, starts a private stack (NATS, PostgreSQL, registry, caddy,
#   podman) on free loopback ports, builds the platform's base images once,
#   runs every test with ctest, and stops what it started.
# Exits non-zero on any failure.
#
# Besides the sanitizer build it runs the build gates of scripts/ci-gates.sh:
# lint of the shell scripts, a Release (gcc) and a clang build with their unit tests,
# clang-tidy, and a ThreadSanitizer build whose threaded tests run against
# the stack after the main suite.
#
# Environment: AD_BUILD_DIR (default build), AD_STATE_DIR (default
# .stack-test), AD_TEST_ARGS (extra ctest arguments, e.g. "-R bus"),
# AD_SKIP_GATES=1 (a developer's quick run: the sanitizer build only; CI
# never sets it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

step() { printf '\n==> %s\n' "$*"; }

step "installing packages"
scripts/install-deps.sh

# The Kubernetes control plane for the k8s tests is built from Go modules
# (minutes on a fresh machine, cached after): started now, at low priority,
# so it overlaps the C build; the k8s test waits for it.
step "building the Kubernetes test control plane and Helm in the background (scripts/k8s.sh build, helm)"
mkdir -p "${AD_STATE_DIR:-$root/.stack-test}"
(nice -n 15 scripts/k8s.sh build && nice -n 15 scripts/k8s.sh helm) \
  >"${AD_STATE_DIR:-$root/.stack-test}/k8s-build.log" 2>&1 &

build=${AD_BUILD_DIR:-build}
step "building with AddressSanitizer and UndefinedBehaviorSanitizer in $build/"
cmake -S . -B "$build" -DAD_SANITIZE=ON -DAD_FAULT_POINTS=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build" -j"$(nproc)"

step "checking formatting (clang-format)"
scripts/format.sh --check

gates=()
[[ ${AD_SKIP_GATES:-0} == 1 ]] || gates=(lint-shell release clang tidy tsan-build)
((${#gates[@]} == 0)) || scripts/ci-gates.sh "${gates[@]}"

step "fuzzing every parser briefly (scripts/fuzz.sh --long for longer runs)"
AD_FUZZ_SECONDS=${AD_FUZZ_SECONDS:-8} scripts/fuzz.sh

# A stack of its own, so a developer's running stack is left alone.
export AD_STATE_DIR=${AD_STATE_DIR:-$root/.stack-test}
step "starting the stack in $AD_STATE_DIR"
stop_stack() {
  step "stopping the stack"
  scripts/stack.sh down || true
}
trap stop_stack EXIT
scripts/stack.sh up
# shellcheck disable=SC1091
. "$AD_STATE_DIR/env"

step "building the platform's base images (cached after the first run)"
AD_BIN_DIR=$(cd "$build" && pwd)/bin scripts/base-images.sh

step "running the tests"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# shellcheck disable=SC2086
ctest --test-dir "$build" --output-on-failure --no-tests=error ${AD_TEST_ARGS:-}
((${#gates[@]} == 0)) || scripts/ci-gates.sh tsan
