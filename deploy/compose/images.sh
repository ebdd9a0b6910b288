#!/usr/bin/env bash
# Builds the images deploy/compose/compose.yaml runs, from Debian packages
# on the platform's base image (scripts/base-images.sh builds that first):
#   localhost/app-deployer/platform:latest       the seven binaries of BIN_DIR
#   localhost/app-deployer/{nats,postgres,registry,caddy}:bookworm
# Usage: deploy/compose/images.sh [BIN_DIR]   (default: build-release/bin,
#   a -DCMAKE_BUILD_TYPE=Release -DAD_BUILD_TESTS=OFF build; not a
#   sanitizer build: its binaries need the compiler's runtime libraries)
# Env: PLATFORM_IMAGE (the platform image's name), CONTAINERS_CONF.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../../scripts/lib.sh
. "$root/scripts/lib.sh"

bin=${1:-$root/build-release/bin}
[[ -x $bin/adapi ]] || ad_die "no binaries in $bin: build them first (see the header of $0)"
if ldd "$bin/adapi" | grep -q libasan; then
  ad_die "$bin holds a sanitizer build: build a Release one (see the header of $0)"
fi
if [[ -z ${CONTAINERS_CONF:-} ]]; then
  cache=$(ad_cache_dir)
  mkdir -p "$cache"
  ad_write_containers_conf "$cache/containers.conf"
  export CONTAINERS_CONF=$cache/containers.conf
fi
podman image exists localhost/app-deployer/base:bookworm ||
  ad_die "no localhost/app-deployer/base:bookworm: run scripts/base-images.sh first"

# A small build context: only what the Containerfiles copy.
ctx=$(mktemp -d /tmp/adcompose-ctx.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/bin" "$ctx/deploy/compose" "$ctx/scripts"
cp "$bin"/ad* "$ctx/bin/"
cp "$root/scripts/firewall.sh" "$root/scripts/lib.sh" "$ctx/scripts/"
cp -r "$here/files" "$ctx/deploy/compose/"

build() {
  local tag=$1
  shift
  ad_log "building $tag"
  # A retry: a concurrent image removal can break podman's layer lookup.
  podman build --runtime runc --pull=never -q -t "$tag" "$@" "$ctx" >/dev/null ||
    podman build --runtime runc --pull=never -q -t "$tag" "$@" "$ctx" >/dev/null
}

build "${PLATFORM_IMAGE:-localhost/app-deployer/platform:latest}" \
  -f "$here/Containerfile" --build-arg BIN=bin
for server in nats postgres registry caddy; do
  build "localhost/app-deployer/$server:bookworm" -f "$here/infra.Containerfile" --target "$server"
done
ad_log "images ready"
