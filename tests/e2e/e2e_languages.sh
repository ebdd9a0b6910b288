#!/usr/bin/env bash
# End to end, one app per language family that can be built here (only
# Debian's archive and the npm registry are reachable): each example is
# served by a git daemon, deployed through adctl with no configuration,
# and must answer through its URL with its own text.  `adctl status`
# must show the analyzer's "why".  The other languages are covered by
# the detector's fixtures and Dockerfile-plan tests.
# Usage: e2e_languages.sh BIN_DIR   (needs the stack: . $AD_STATE_DIR/env)
set -euo pipefail
bin=${1:?usage: e2e_languages.sh BIN_DIR}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${AD_STATE_DIR:?start the stack first (scripts/stack.sh up; . .stack/env)}"
. "$root/scripts/lib.sh"
. "$root/tests/support/git_repos.sh"

# example -> the language the analyzer must report
declare -A want_lang=(
  [vite-spa]=node [node-express]=node [static-site]=static [python-stdlib]=python
  [go-stdlib]=go [php-app]=php [shell-app]=shell
)
examples=(vite-spa node-express static-site python-stdlib go-stdlib php-app shell-app)

work=$(mktemp -d)
suffix=$(od -An -tx1 -N3 /dev/urandom | tr -d ' \n')
failures=0
t_start=$SECONDS
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
cleanup() {
  [[ -n ${gitd:-} ]] && kill "$gitd" 2>/dev/null || true
  "$root/scripts/services.sh" down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

"$bin/../tests/ad_test_bus_reset"
# The git daemon first: it allowlists its address for the services' clones.
repos=$work/git
mkdir -p "$repos"
for ex in "${examples[@]}"; do
  git_repo_from "$repos/$ex" "$root/examples/$ex"
done
git_daemon_start "$repos" "$work/git-daemon.log"
"$root/scripts/services.sh" up "$bin"
. "$AD_STATE_DIR/run/services/env"
ctl() { "$bin/adctl" "$@"; }

status_of() { ctl --json status "$1" | jq -r .status; }
wait_final() {
  local s i
  for ((i = 0; i < 600; i++)); do
    s=$(status_of "$1")
    case $s in EXPOSED | ROLLED_BACK | DESTROYED | FAILED) echo "$s"; return 0 ;; esac
    sleep 1
  done
  echo "$s"
}

declare -A ids
for ex in "${examples[@]}"; do
  ids[$ex]=$(ctl --json deploy "git://127.0.0.1:$git_port/$ex" --name "lang-$ex-$suffix" | jq -r .id)
done
for ex in "${examples[@]}"; do
  id=${ids[$ex]}
  s=$(wait_final "$id")
  json=$(ctl --json status "$id")
  if [[ $s != EXPOSED ]]; then
    fail "$ex ended $s: $(jq -r '.error // empty' <<<"$json")"
    ctl logs "$id" 2>/dev/null | tail -n 20 >&2 || true
    continue
  fi
  lang=$(jq -r '.analysis.language // empty' <<<"$json")
  [[ -z $lang || $lang == "${want_lang[$ex]}" ]] || fail "$ex analysed as $lang, want ${want_lang[$ex]}"
  url=$(jq -r .url <<<"$json")
  body=$(curl -fsS --max-time 10 "$url" || true)
  if [[ $body == *"Hello from $ex"* ]]; then
    echo "ok: $ex ($lang) at $url"
  else
    fail "$ex: $url answered: ${body:0:200}"
  fi
done

# The explanation is stored with the deployment and shown by adctl status.
text=$(ctl status "${ids[vite-spa]}")
if [[ $text == *"why:"* && $text == *"outputDir"* ]]; then
  echo "ok: adctl status shows the analysis and its why"
else
  fail "adctl status shows no why: ${text:0:400}"
fi

for ex in "${examples[@]}"; do ctl rm "${ids[$ex]}" >/dev/null 2>&1 || true; done
echo "e2e_languages: $((SECONDS - t_start))s"
if ((failures > 0)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "e2e_languages: all checks passed"
