#!/usr/bin/env bash
# adctl completion bash|zsh and adctl man are made from the command table:
# the bash script completes commands, subcommands, options and app names
# (asked of `adctl apps`, imitated here by a shell function: no API is
# needed for the script's logic), zsh loads the same through bashcompinit,
# and the manual page is valid roff naming every command.
# Usage: adctl_completion.sh BIN_DIR
set -euo pipefail
bin=${1:?usage: adctl_completion.sh BIN_DIR}
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

script=$("$bin/adctl" completion bash)
# shellcheck disable=SC1090
source <(printf '%s\n' "$script")
# What `adctl apps` prints, for the app-name completion.
adctl() {
  [[ $1 == apps ]] || return 1
  printf '%s\n' 'APP  STATUS  RELEASE  REPLICAS  URL' 'shop  running  v3  2  http://shop.localhost/' \
    'api-gw  running  v1  1  http://api-gw.localhost/'
}
complete_words() { # WORDS... (the last one is being completed) -> COMPREPLY, sorted
  COMP_WORDS=("$@")
  COMP_CWORD=$(($# - 1))
  COMPREPLY=()
  _adctl
  printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}
expect() { # WANT WORDS...
  local want=$1 got
  shift
  got=$(complete_words "$@")
  [[ $got == "$want" ]] || fail "completing '$*': got '$got', want '$want'"
}
expect 'domains' adctl dom
expect 'redeploy releases rm rollback run' adctl r
expect '--api --help --json --version' adctl --
expect 'add api-gw' adctl domains a
expect 'api-gw shop' adctl domains add ''
expect 'shop' adctl --api http://x:1 info s
expect 'set shop' adctl config s
expect '--wait' adctl scale shop --w
expect '--follow' adctl logs --fo
expect 'bash' adctl completion b
expect '--idempotency-key' adctl deploy --id
expect '--json' adctl --js
# Every command of the table is offered.
for c in $("$bin/adctl" --help | sed -n 's/^  adctl \([a-z]*\).*/\1/p'); do
  [[ $(complete_words adctl "$c") == *"$c"* ]] || fail "command $c is not completed"
done

# zsh: the same completion through bashcompinit (when zsh is installed).
"$bin/adctl" completion zsh | grep -q '^autoload -U +X bashcompinit && bashcompinit$' ||
  fail "the zsh script does not load bashcompinit"
if command -v zsh >/dev/null; then
  zsh -fc "source <($bin/adctl completion zsh) && (( \${+_comps[adctl]} ))" ||
    fail "zsh does not register the completion"
fi
[[ $("$bin/adctl" completion fish 2>&1 >/dev/null) == *"say bash or zsh"* ]] || fail "completion fish is not refused"

# The manual page: roff that groff reads without a warning, with every command.
man=$("$bin/adctl" man)
grep -q '^\.TH ADCTL 1 ' <<<"$man" || fail "no .TH line"
warnings=$(groff -man -Tutf8 -ww -z <<<"$man" 2>&1)
[[ -z $warnings ]] || fail "groff warns: $warnings"
text=$(groff -man -Tutf8 <<<"$man" 2>/dev/null | sed 's/.\x08//g')
for c in $("$bin/adctl" --help | sed -n 's/^  adctl \([a-z]*\).*/\1/p'); do
  grep -Eq "adctl +$c" <<<"$text" || fail "the manual page lacks adctl $c"
done
grep -Eq 'domains +add +APP +HOST' <<<"$text" || fail "the manual page lacks the domains synopsis"

if ((failures > 0)); then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "completion and manual page checks passed"
