#!/usr/bin/env bash
# Cold and warm build times of the registry examples (docs/benchmarks.md):
# runs tests/e2e/e2e_registries.sh with a fresh copy of the extra CA bundle
# (one comment line differs), so that every generated build misses podman's
# layer cache from the CA layer on (a cold build: the base images are
# built, nothing of the app is cached), then redeploys each app after a
# one-line source change (warm: the dependency layer is reused).
# Usage: bench/languages.sh BIN_DIR [EXAMPLE...]   (needs the stack: . $AD_STATE_DIR/env)
set -euo pipefail
bin=${1:?usage: bench/languages.sh BIN_DIR [EXAMPLE...]}
shift
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ca=$(mktemp)
trap 'rm -f "$ca"' EXIT
cat "${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}" >"$ca"
echo "# bench $(date +%s%N)" >>"$ca"
AD_BUILDER_EXTRA_CA_FILE=$ca AD_E2E_REDEPLOY=1 bash "$root/tests/e2e/e2e_registries.sh" "$bin" "$@" |
  tee /dev/stderr | grep '^build time:'
