#!/usr/bin/env bash
# Install the Debian packages the project needs (scripts/packages.txt) and
# check that the container engine is usable. Idempotent: when everything is
# installed it only runs dpkg-query and a podman sanity check (~1 s).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

list=${AD_PACKAGES_FILE:-$here/packages.txt}
[[ -r $list ]] || ad_die "package list not found: $list"

mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$list")
# Needed by the scripts themselves even if the list forgets them: runc is the
# only runtime that works on cgroup v1 hybrid hosts (crun refuses), ss is
# used to find free ports.
wanted+=(runc iproute2 curl)
mapfile -t wanted < <(printf '%s\n' "${wanted[@]}" | sort -u)

missing=()
for pkg in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [[ $status == installed ]] || missing+=("$pkg")
done

if ((${#missing[@]})); then
  ((EUID == 0)) || ad_die "missing packages (${missing[*]}); run as root"
  ad_log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Package lists are only refreshed when something must be installed, so
  # the common case needs no network at all.
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  ad_log "all ${#wanted[@]} packages already installed"
fi

command -v runc >/dev/null || ad_die "runc not found after install"

# Podman sanity check with the same configuration the stack uses (written
# to a temporary file here; stack.sh writes its own into the state dir).
tmpdir=$(mktemp -d)
trap 'rm -rf "$tmpdir"' EXIT
ad_write_containers_conf "$tmpdir/containers.conf"
ad_write_registries_conf "$tmpdir/registries.conf"
if ! runtime=$(CONTAINERS_CONF=$tmpdir/containers.conf \
  CONTAINERS_REGISTRIES_CONF=$tmpdir/registries.conf \
  podman info --format '{{.Host.OCIRuntime.Name}}' 2>"$tmpdir/err"); then
  cat "$tmpdir/err" >&2
  ad_die "podman info failed"
fi
[[ $runtime == runc ]] || ad_die "podman uses OCI runtime '$runtime', expected runc"
ad_log "podman ok (runtime $runtime)"
