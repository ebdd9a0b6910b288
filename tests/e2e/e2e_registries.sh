#!/usr/bin/env bash
# End to end, the apps whose dependencies come from PyPI, the Go module
# proxy, crates.io and Maven Central (through the extra CA bundle for builds,
# $SSL_CERT_FILE by default): each example is served by a git daemon,
# deployed through the REST API (adctl) with no configuration, and must
# answer through its URL with its own text.  Also checked: the start
# command the analysis chose and its `why`, that a compiled app's final
# image holds no toolchain, and that Django's release phase ran `migrate` (once,
# in a container of its own: the web container's sqlite file is not migrated).
# Also a Java app built by Gradle (Debian's, no wrapper), a Bun app with no start script (Bun from the npm registry) and a
# SvelteKit app with adapter-node.
# Usage: e2e_registries.sh BIN_DIR [EXAMPLE...]   (needs the stack: . $AD_STATE_DIR/env)
set -euo pipefail
bin=${1:?usage: e2e_registries.sh BIN_DIR [EXAMPLE...]}
shift
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${AD_STATE_DIR:?start the stack first (scripts/stack.sh up; . .stack/env)}"
. "$root/scripts/lib.sh"
. "$root/tests/support/git_repos.sh"

# example -> language, a part of the start command, a part of its why, the
# text the app answers with, tools its final image must not have.
declare -A want_lang want_start want_why want_body no_tools
add() { want_lang[$1]=$2 want_start[$1]=$3 want_why[$1]=$4 want_body[$1]=$5 no_tools[$1]=${6:-}; }
add python-flask python "python3 -m gunicorn app:app" "flask under gunicorn" \
  "Hello from python-flask (gunicorn)"
add python-fastapi-uv python "python3 -m uvicorn main:app" "served by uvicorn" \
  "Hello from python-fastapi-uv"
add python-django-poetry python "python3 -m gunicorn mysite.wsgi:application" \
  "django under gunicorn" "Hello from python-django-poetry (migrated: False)"
add go-modules go "./bin/go-modules" "the binary built from" "Hello from go-modules (request " \
  "go gcc"
add go-multi-cmd go "./bin/web" "cmd/web is the first that starts a server" \
  "Hello from go-multi-cmd (cmd/web)" "go"
add rust-crates rust "./target/release/rust-crates" "" "Hello from rust-crates" "cargo rustc gcc"
add java-spring-maven java "-Dserver.port=\$PORT -jar target/*.jar" "the jar maven wrote" \
  "Hello from java-spring-maven (java 17" "mvn javac"
# The source file a redeploy changes by one line (a comment).
declare -A edit=(
  [python-flask]="app.py #" [python-fastapi-uv]="main.py #" [python-django-poetry]="mysite/urls.py #"
  [go-modules]="main.go //" [go-multi-cmd]="cmd/web/main.go //" [rust-crates]="src/main.rs //"
  [java-spring-maven]="src/main/java/example/Application.java //"
)
add java-gradle java "-jar \$(ls build/libs/*.jar" "the jar gradle wrote to build/libs" \
  "Hello from java-gradle {\"built_with\":\"gradle\"" "gradle javac"
edit[java-gradle]="src/main/java/example/App.java //"
add bun-app node "bun index.ts" "bun runs index.ts directly" "Hello from bun-app (bun 1."
edit[bun-app]="index.ts //"
add sveltekit-node node "node build" "SvelteKit with adapter-node" "Hello from sveltekit-node"
edit[sveltekit-node]="src/routes/+page.server.js //"
if (($# > 0)); then examples=("$@"); else
  examples=(python-flask python-fastapi-uv python-django-poetry go-modules go-multi-cmd
    rust-crates java-spring-maven java-gradle bun-app sveltekit-node)
fi

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

# Mirrors (builder.mirrors.*): the tools' own default registries, named
# through the config, must reach the builds and serve them.
declare -A mirror_line=()
if gp=$(go env GOPROXY 2>/dev/null) && [[ -n $gp && $gp != off ]]; then
  export AD_BUILDER_MIRRORS_GOPROXY=$gp
  mirror_line[go-modules]="ENV GOPROXY=\"$gp\""
fi
if nr=$(npm config get registry 2>/dev/null) && [[ $nr == http* ]]; then
  export AD_BUILDER_MIRRORS_NPM=$nr
  mirror_line[bun-app]="NPM_CONFIG_REGISTRY=\"$nr\""
fi

repos=$work/git
mkdir -p "$repos"
for ex in "${examples[@]}"; do
  [[ -n ${want_lang[$ex]:-} ]] || ad_die "unknown example $ex"
  git_repo_from "$repos/$ex" "$root/examples/$ex"
done
git_daemon_start "$repos" "$work/git-daemon.log"
# Services after the git server: git_daemon_start allowlists its exact
# address for their clones (AD_CLONE_ALLOWLIST, read by services.sh).
"$bin/../tests/ad_test_bus_reset"
"$root/scripts/services.sh" up "$bin"
. "$AD_STATE_DIR/run/services/env"
ctl() { "$bin/adctl" "$@"; }

status_of() { ctl --json status "$1" | jq -r .status; }
wait_final() {
  local s i
  for ((i = 0; i < 1500; i++)); do
    s=$(status_of "$1")
    case $s in EXPOSED | ROLLED_BACK | DESTROYED | FAILED) echo "$s"; return 0 ;; esac
    sleep 1
  done
  echo "$s"
}

declare -A ids ids2 cold
for ex in "${examples[@]}"; do
  ids[$ex]=$(ctl --json deploy "git://127.0.0.1:$git_port/$ex" --name "reg-$ex-$suffix" | jq -r .id)
done
for ex in "${examples[@]}"; do
  id=${ids[$ex]}
  s=$(wait_final "$id")
  json=$(ctl --json status "$id")
  if [[ $s != EXPOSED ]]; then
    fail "$ex ended $s: $(jq -r '.error // empty' <<<"$json")"
    ctl logs "$id" 2>/dev/null | tail -n 30 >&2 || true
    continue
  fi
  lang=$(jq -r '.analysis.language // empty' <<<"$json")
  start=$(jq -r '.analysis.startCommand // empty' <<<"$json")
  # The start command's why, or for Go the main package's.
  why=$(jq -r '[.analysis.why.startCommand, .analysis.why.goMainPackage] | map(values) | join("; ")' <<<"$json")
  [[ $lang == "${want_lang[$ex]}" ]] || fail "$ex analysed as '$lang', want ${want_lang[$ex]}"
  [[ $start == *"${want_start[$ex]}"* ]] || fail "$ex: start command '$start' lacks '${want_start[$ex]}'"
  [[ $why == *"${want_why[$ex]}"* ]] || fail "$ex: why '$why' lacks '${want_why[$ex]}'"
  cold[$ex]=$(jq -r '.build.duration_ms // 0' <<<"$json")
  url=$(jq -r .url <<<"$json")
  body=$(curl -fsS --max-time 20 "$url" || true)
  if [[ $body == *"${want_body[$ex]}"* ]]; then
    echo "ok: $ex ($lang: $start) at $url, built in ${cold[$ex]} ms"
  else
    fail "$ex: $url answered: ${body:0:200}"
  fi
  if [[ $ex == python-django-poetry ]]; then
    # The release phase ran `manage.py migrate` once, in a container of
    # its own (its sqlite file is not the web container's: migrated False).
    log=$(ctl logs "$id" 2>/dev/null || true)
    grep -q 'Applying contenttypes.0001_initial' <<<"$log" && grep -qxF '==> release command exited 0' <<<"$log" ||
      fail "$ex: no release phase in the deployment's log: $(tail -n 5 <<<"$log")"
  fi
  if [[ -n ${mirror_line[$ex]:-} ]]; then
    # The log in a variable first: grep -q ends the pipe early (pipefail).
    log=$(ctl logs "$id" 2>/dev/null || true)
    if grep -qF "${mirror_line[$ex]}" <<<"$log"; then
      echo "ok: $ex built through the configured mirror (${mirror_line[$ex]})"
    else
      fail "$ex: the build log has no ${mirror_line[$ex]}"
    fi
  fi
  # The final image of a compiled language holds the app, not its toolchain.
  if [[ -n ${no_tools[$ex]} ]]; then
    image=$(jq -r '.image // .build.image // empty' <<<"$json")
    if [[ -z $image ]]; then
      fail "$ex: no image in the deployment's status"
    else
      found=$(podman run --rm --pull=never --entrypoint /bin/sh "$image" -c \
        "for t in ${no_tools[$ex]}; do command -v \$t; done; true" 2>&1 || true)
      [[ -z $found ]] && echo "ok: $ex's image has none of: ${no_tools[$ex]}" ||
        fail "$ex: the final image has $found"
    fi
  fi
done

# A redeploy after a one-line change reuses the dependency layer: it must
# still answer; its build time is reported beside the first one's.
if [[ ${AD_E2E_REDEPLOY:-1} == 1 ]]; then
  for ex in "${examples[@]}"; do
    read -r file mark <<<"${edit[$ex]}"
    echo "$mark redeploy $suffix" >>"$repos/$ex/$file"
    git -C "$repos/$ex" -c user.name=test -c user.email=test@localhost commit -qam v2
    ids2[$ex]=$(ctl --json deploy "git://127.0.0.1:$git_port/$ex" --name "reg-$ex-$suffix" | jq -r .id)
  done
  for ex in "${examples[@]}"; do
    s=$(wait_final "${ids2[$ex]}")
    json=$(ctl --json status "${ids2[$ex]}")
    if [[ $s != EXPOSED ]]; then
      fail "$ex redeploy ended $s: $(jq -r '.error // empty' <<<"$json")"
      continue
    fi
    warm=$(jq -r '.build.duration_ms // 0' <<<"$json")
    # The dependency layer came from the cache: no download again.
    install=$(jq -r '.analysis.installCommand // empty' <<<"$json")
    if [[ -n $install ]]; then
      log=$(ctl logs "${ids2[$ex]}" 2>/dev/null || true)
      if grep -F -A1 "STEP" <<<"$log" | grep -F -A1 "$install" | grep -c "Using cache" >/dev/null; then
        echo "ok: $ex redeploy reused the dependency layer ($install)"
      else
        fail "$ex redeploy ran its install again: $install"
      fi
    fi
    body=$(curl -fsS --max-time 20 "$(jq -r .url <<<"$json")" || true)
    [[ $body == *"${want_body[$ex]}"* ]] || fail "$ex redeploy answered: ${body:0:200}"
    echo "build time: $ex cold ${cold[$ex]:-?} ms, after a one-line change $warm ms"
  done
fi

for ex in "${examples[@]}"; do
  ctl rm "${ids2[$ex]:-${ids[$ex]}}" >/dev/null 2>&1 || true
done
echo "e2e_registries: $((SECONDS - t_start))s"
if ((failures > 0)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "e2e_registries: all checks passed"
