#!/usr/bin/env bash
# Build the platform's own base and runtime images from Debian packages (no
# public image registry is reachable, so nothing can be pulled):
#   localhost/app-deployer/base:bookworm    mmdebstrap minbase + ca-certificates, tini
#   localhost/app-deployer/<key>:bookworm   FROM base, for every other key the
#     languages' plans use: `adanalyzer --list-images` prints them from the
#     provider table (services/analyzer/detect_<lang>.c), so this script
#     needs a built adanalyzer (AD_BIN_DIR) unless AD_IMAGES names the keys;
#     each key has its recipe below (recipe(): node, python, go, static,
#     php, rust, java, jre today)
# go and rust are build-stage images with the host's own toolchain when it
# has one (Debian's Go 1.19 and Rust 1.63 are too old for today's modules
# and crates; cargo 1.63 cannot read crates.io's sparse index), else
# Debian's; java is the JDK with Maven (build stage), jre the runtime.
# Every image has user `app` (uid/gid 10001) and /app owned by it; runtime
# images run as `app` in /app with PORT=8080 by default, under tini
# (ENTRYPOINT) so SIGTERM stops them promptly.
#
# Images are built once and then reused from podman's machine-wide store
# (/var/lib/containers). An image is rebuilt only when its recipe (or, for
# runtime images, the base image) changed, or with AD_FORCE_REBUILD=1.
#
# Env: AD_DEBIAN_MIRROR, AD_DEBIAN_SECURITY_MIRROR (default: what the host's
#      apt uses), AD_CACHE_DIR (default /var/cache/app-deployer: rootfs tar),
#      AD_STATE_DIR (its podman/containers.conf is used if present),
#      AD_BIN_DIR (where adanalyzer is; default build/bin of the checkout,
#      then $PATH), AD_IMAGES (space-separated subset of the keys, instead of
#      all of them: then no adanalyzer is needed), AD_HOST_TOOLCHAINS=0
#      (Debian's Go and Rust even when the host has its own).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

SUITE=bookworm
PREFIX=localhost/app-deployer
BASE=$PREFIX/base:$SUITE
CACHE=$(ad_cache_dir)
FORCE=${AD_FORCE_REBUILD:-0}
# The image keys of the languages' plans but base (always built: every
# other image starts FROM it), from the provider table.
plan_images() {
  local analyzer list
  for analyzer in ${AD_BIN_DIR:+"$AD_BIN_DIR/adanalyzer"} "$AD_REPO_ROOT/build/bin/adanalyzer" \
    "$(command -v adanalyzer || true)"; do
    [[ -n $analyzer && -x $analyzer ]] && break
    analyzer=
  done
  [[ -n $analyzer ]] ||
    ad_die "no adanalyzer in ${AD_BIN_DIR:-$AD_REPO_ROOT/build/bin} or \$PATH: build first (docs/development.md) and set AD_BIN_DIR=<build dir>/bin, or name the images in AD_IMAGES"
  list=$("$analyzer" --list-images) || ad_die "$analyzer --list-images failed"
  awk -F '\t' '$1 != "base" { printf "%s ", $1 }' <<<"$list"
}
if [[ -n ${AD_IMAGES:-} ]]; then
  read -r -a IMAGES <<<"$AD_IMAGES"
else
  keys=$(plan_images) || exit 1
  read -r -a IMAGES <<<"$keys"
  ((${#IMAGES[@]})) || ad_die "adanalyzer --list-images lists no image but base"
fi
HOST_TOOLCHAINS=${AD_HOST_TOOLCHAINS:-1}

# The host's Go root and Rust sysroot, when usable (empty otherwise).
host_goroot() {
  ((HOST_TOOLCHAINS)) || return 0
  local root
  root=$(go env GOROOT 2>/dev/null) || return 0
  [[ -x $root/bin/go && $root == /* ]] && echo "$root"
}
host_rust_sysroot() {
  ((HOST_TOOLCHAINS)) || return 0
  local root
  root=$(rustc --print sysroot 2>/dev/null) || return 0
  [[ -x $root/bin/rustc && -x $root/bin/cargo && $root == /* ]] && echo "$root"
}
GOROOT_HOST=$(host_goroot || true)
RUST_HOST=$(host_rust_sysroot || true)

# The first http(s) URI of the host's apt sources ending in /debian (or
# /debian-security): that mirror is known to be reachable from here.
host_mirror() {
  local suffix=$1
  {
    grep -hsE '^[[:space:]]*URIs:' /etc/apt/sources.list.d/*.sources |
      sed -E 's/^[[:space:]]*URIs:[[:space:]]*//' | tr ' ' '\n'
    grep -hsE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
      sed -E 's/\[[^]]*\]//' | awk '{print $2}'
  } | grep -E "^https?://[^ ]*/$suffix/?\$" | head -n 1 | sed 's:/$::'
}

MIRROR=${AD_DEBIAN_MIRROR:-$(host_mirror debian || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${AD_DEBIAN_SECURITY_MIRROR:-$(host_mirror debian-security || true)}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}

# Same podman configuration as the stack (runc, cgroupfs, ulimits within the
# hard limits); a private copy when no stack state dir exists yet.
STATE=$(ad_state_dir)
if [[ -z ${CONTAINERS_CONF:-} ]]; then
  if [[ -f $STATE/podman/containers.conf ]]; then
    export CONTAINERS_CONF=$STATE/podman/containers.conf
  else
    mkdir -p "$CACHE"
    ad_write_containers_conf "$CACHE/containers.conf"
    export CONTAINERS_CONF=$CACHE/containers.conf
  fi
fi
if [[ -z ${CONTAINERS_REGISTRIES_CONF:-} ]]; then
  if [[ -f $STATE/podman/registries.conf ]]; then
    export CONTAINERS_REGISTRIES_CONF=$STATE/podman/registries.conf
  else
    mkdir -p "$CACHE"
    ad_write_registries_conf "$CACHE/registries.conf"
    export CONTAINERS_REGISTRIES_CONF=$CACHE/registries.conf
  fi
fi

ad_engine_store_repair

summary=()
note() {
  summary+=("$(printf '%-40s %-8s %4ss' "$1" "$2" "$3")")
  ad_log "$1: $2 in $3s"
}

label_of() {
  podman image inspect --format "{{index .Labels \"$2\"}}" "$1" 2>/dev/null || true
}

# --- base ------------------------------------------------------------------

# Bump when the base recipe below changes (forces a new rootfs and image).
BASE_RECIPE=2
# tini: runtime images run it as PID 1. Servers started as PID 1 (node,
# busybox httpd) ignore SIGTERM, so every stop would take podman's
# full 10 s timeout and end in SIGKILL.
BASE_INCLUDE=ca-certificates,tini

build_base() {
  local t0=$SECONDS tar=$CACHE/base-$SUITE-r$BASE_RECIPE.tar tmp old_id
  if ((!FORCE)) && podman image exists "$BASE" &&
    [[ $(label_of "$BASE" app-deployer.recipe) == "$BASE_RECIPE" ]]; then
    note "$BASE" cached 0
    return
  fi
  mkdir -p "$CACHE"
  if ((FORCE)) || [[ ! -s $tar ]]; then
    ad_log "mmdebstrap $SUITE from $MIRROR -> $tar"
    tmp=$(mktemp "$tar.XXXXXX")
    # Docs/man/locales are dropped (and stay dropped for later installs:
    # the dpkg options end up in the image). Recommends are off for the
    # same reason. The `app` user and /app exist in every image.
    # shellcheck disable=SC2016 # "$1" is expanded by mmdebstrap's hooks
    mmdebstrap --variant=minbase --format=tar --include="$BASE_INCLUDE" \
      --aptopt='APT::Install-Recommends "false"' \
      --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/doc/*' \
      --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --dpkgopt='path-exclude=/usr/share/locale/*' \
      --dpkgopt='path-exclude=/usr/share/info/*' \
      --customize-hook='chroot "$1" groupadd -g 10001 app' \
      --customize-hook='chroot "$1" useradd -u 10001 -g 10001 -m -d /home/app -s /bin/sh app' \
      --customize-hook='install -d -o 10001 -g 10001 -m 0755 "$1/app"' \
      "$SUITE" "$tmp" \
      "deb $MIRROR $SUITE main" \
      "deb $MIRROR $SUITE-updates main" \
      "deb $SECURITY_MIRROR $SUITE-security main" >&2
    mv -f "$tmp" "$tar"
  fi
  old_id=$(podman image inspect --format '{{.Id}}' "$BASE" 2>/dev/null || true)
  podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change "LABEL app-deployer.recipe=$BASE_RECIPE" \
    --change 'CMD ["/bin/bash"]' \
    "$tar" "$BASE" >/dev/null
  # The replaced base (and old rootfs tars) are garbage now; runtime images
  # built on it are rebuilt below, which frees it for good.
  [[ -n $old_id ]] && OLD_IMAGES+=("$old_id")
  find "$CACHE" -maxdepth 1 -name "base-$SUITE-r*.tar" ! -path "$tar" -delete
  note "$BASE" built $((SECONDS - t0))
}

# --- runtime images --------------------------------------------------------

# recipe NAME: print the Containerfile body (after FROM) for NAME.
# shellcheck disable=SC2016 # $PORT etc. are for the container shell
recipe() {
  local pkgs cmd env="" pre="" post=""
  case $1 in
  node)
    pkgs="nodejs npm"
    cmd='["node"]'
    ;;
  python)
    # pip and venv: pip, uv, Poetry, PDM and Pipenv installs.
    pkgs="python3 python3-pip python3-venv"
    cmd='["python3"]'
    ;;
  go)
    # Build-stage image. No gcc (no recommends): pure-Go static binaries.
    if [[ -n $GOROOT_HOST ]]; then
      pkgs="git"
      post="# host toolchain: $("$GOROOT_HOST/bin/go" version)
COPY --chown=0:0 . /usr/local/go/"
      env='ENV CGO_ENABLED=0 PATH=/usr/local/go/bin:$PATH'
    else
      pkgs="golang-go git"
      env='ENV CGO_ENABLED=0'
    fi
    # The standard library compiled once, with the flags of generated
    # builds (plan_go in services/analyzer/detect_go.c: CGO_ENABLED=0
    # GOFLAGS=-trimpath, GOCACHE=/go/cache):
    # an app's build then compiles only its own packages and modules.
    post="$post
ENV GOPATH=/go GOCACHE=/go/cache
RUN PATH=/usr/local/go/bin:\$PATH CGO_ENABLED=0 GOFLAGS=-trimpath GOTOOLCHAIN=local go build std && \\
 chmod -R a+rwX /go"
    cmd='["go", "version"]'
    ;;
  rust)
    # Build-stage image: cargo + rustc, cc as the linker, what the usual
    # -sys crates need (pkg-config, OpenSSL headers).
    if [[ -n $RUST_HOST ]]; then
      pkgs="gcc libc6-dev pkg-config libssl-dev git"
      post="# host toolchain: $("$RUST_HOST/bin/rustc" --version)
COPY --chown=0:0 bin/cargo bin/rustc /usr/local/rust/bin/
COPY --chown=0:0 lib/ /usr/local/rust/lib/
COPY --chown=0:0 libexec/ /usr/local/rust/libexec/"
      env='ENV PATH=/usr/local/rust/bin:$PATH CARGO_HOME=/cargo'
    else
      pkgs="cargo rustc gcc libc6-dev pkg-config libssl-dev git"
      env='ENV CARGO_HOME=/cargo'
    fi
    cmd='["cargo", "--version"]'
    ;;
  java)
    # Build-stage image. The JDK's postinst wants man directories that the
    # base image leaves out.
    pre='mkdir -p /usr/share/man/man1 &&'
    pkgs="openjdk-17-jdk-headless maven"
    cmd='["java", "-version"]'
    ;;
  jre)
    pre='mkdir -p /usr/share/man/man1 &&'
    pkgs="openjdk-17-jre-headless"
    cmd='["java", "-version"]'
    ;;
  static)
    # busybox httpd: ~1 MB, serves $STATIC_DIR on $PORT as non-root.
    pkgs="busybox"
    env='ENV STATIC_DIR=/app'
    cmd='["/bin/sh", "-c", "exec busybox httpd -f -v -p \"$PORT\" -h \"$STATIC_DIR\""]'
    ;;
  php)
    # Production PHP: php-fpm behind caddy (scripts/images/php-serve), not
    # PHP's development server. The launcher's hash is part of the recipe,
    # so editing it rebuilds the image.
    pkgs="php-cli php-fpm caddy"
    post="# php-serve $(sha256sum <"$here/images/php-serve" | cut -c1-16)
COPY --chown=0:0 php-serve /usr/local/bin/php-serve"
    cmd='["php-serve", "/app"]'
    ;;
  *) ad_die "image \`$1\` (a key of the languages' plans: adanalyzer --list-images) has no recipe in scripts/base-images.sh (recipe())" ;;
  esac
  cat <<EOF
RUN export DEBIAN_FRONTEND=noninteractive && $pre \\
 apt-get update -q \\
 && apt-get install -y -q --no-install-recommends $pkgs \\
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
$post
ENV PORT=8080
$env
WORKDIR /app
USER app
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD $cmd
EOF
}

# The build context of NAME: the host toolchain it copies, or nothing.
context_of() {
  case $1 in
  go) [[ -n $GOROOT_HOST ]] && echo "$GOROOT_HOST" ;;
  rust) [[ -n $RUST_HOST ]] && echo "$RUST_HOST" ;;
  php) echo "$here/images" ;;
  esac
  return 0
}

build_runtime() {
  local name=$1 image=$PREFIX/$1:$SUITE t0=$SECONDS ctx base_id hash old_id src
  base_id=$(podman image inspect --format '{{.Id}}' "$BASE")
  # Rebuild when the recipe or the base image changed.
  hash=$( (
    recipe "$name"
    echo "$base_id"
  ) | sha256sum | cut -c1-16)
  if ((!FORCE)) && podman image exists "$image" &&
    [[ $(label_of "$image" app-deployer.recipe) == "$hash" ]]; then
    note "$image" cached 0
    return
  fi
  old_id=$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
  ctx=$(mktemp -d)
  {
    echo "FROM $BASE"
    echo "LABEL app-deployer.recipe=$hash app-deployer.runtime=$name"
    recipe "$name"
  } >"$ctx/Containerfile"
  # --pull=never: the base is local; never look for it in a registry.
  # --layers=false: one layer on the base, no intermediate images left
  # behind (the whole image is cached instead, see the label check above).
  src=$(context_of "$name")
  if ! podman build --runtime runc --pull=never --layers=false -t "$image" -f "$ctx/Containerfile" "${src:-$ctx}" >&2; then
    rm -rf "$ctx"
    ad_die "building $image failed"
  fi
  rm -rf "$ctx"
  [[ -n $old_id ]] && OLD_IMAGES+=("$old_id")
  note "$image" built $((SECONDS - t0))
}

OLD_IMAGES=()
t_all=$SECONDS
build_base
for img in "${IMAGES[@]}"; do
  build_runtime "$img"
done
# Drop only the images these builds replaced (the store is machine-wide:
# no prune). Fails harmlessly if a container still uses one.
for id in "${OLD_IMAGES[@]}"; do
  podman rmi "$id" >/dev/null 2>&1 || true
done
printf '%s\n' "${summary[@]}"
echo "total: $((SECONDS - t_all))s"
