# Sourced by the end-to-end scripts (after scripts/lib.sh): example apps
# served as git repositories by a local git daemon.
# shellcheck shell=bash

# git_repo_from DEST SRC: DEST becomes a repository (branch main, one commit
# "v1") holding a copy of SRC without build leftovers (node_modules, dist).
git_repo_from() {
  mkdir -p "$1"
  cp -r "$2"/. "$1/"
  rm -rf "$1/node_modules" "$1/dist"
  git -C "$1" init -q -b main
  git -C "$1" add -A
  git -C "$1" -c user.name=test -c user.email=test@localhost commit -qm v1
}

# git_daemon_start ROOT LOG: serves every repository under ROOT on a free
# loopback port (git://127.0.0.1:$git_port/NAME); sets git_port and gitd
# (the daemon's pid, for the caller to kill).  Clones refuse loopback
# addresses, so it also allowlists exactly this address and port for the
# services started afterwards (AD_CLONE_ALLOWLIST, which services.sh
# passes on, and each service's own key).
# shellcheck disable=SC2154,SC2034 # git_port (set by ad_pick_port, a nameref) and gitd are for the caller
git_daemon_start() {
  ad_pick_port git_port
  git daemon --reuseaddr --listen=127.0.0.1 --port="$git_port" --export-all \
    --base-path="$1" "$1" >"$2" 2>&1 &
  gitd=$!
  export AD_CLONE_ALLOWLIST=127.0.0.1:$git_port
  export AD_API_CLONE_ALLOWLIST=$AD_CLONE_ALLOWLIST AD_ANALYZER_CLONE_ALLOWLIST=$AD_CLONE_ALLOWLIST \
    AD_BUILDER_CLONE_ALLOWLIST=$AD_CLONE_ALLOWLIST
}
