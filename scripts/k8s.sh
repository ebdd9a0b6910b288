#!/usr/bin/env bash
# A real Kubernetes control plane for the tests, on loopback ports.
#   scripts/k8s.sh build   build kube-apiserver, kube-controller-manager,
#                          kube-scheduler (k8s.io/kubernetes) and kwok
#                          (sigs.k8s.io/kwok) from their Go modules, pinned,
#                          into $AD_CACHE_DIR/k8s-<version>/bin (reused later)
#   scripts/k8s.sh up      start etcd + the control plane + kwok nodes under
#                          $AD_STATE_DIR/k8s and write a kubeconfig
#   scripts/k8s.sh down    stop them (state dir kept for the logs)
#   scripts/k8s.sh env     print the variables the tests read
#   scripts/k8s.sh helm    build Helm (helm.sh/helm/v3), cached; prints its path
# Nodes are simulated by kwok: see docs/kubernetes.md for why no kubelet.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

K8S_VERSION=${AD_K8S_VERSION:-v1.34.4}
KWOK_VERSION=${AD_KWOK_VERSION:-v0.7.0}
HELM_VERSION=${AD_HELM_VERSION:-v3.22.0}
k8s_cache() { printf '%s/k8s-%s\n' "$(ad_cache_dir)" "$K8S_VERSION"; }
k8s_bin() { printf '%s/bin\n' "$(k8s_cache)"; }
K8S_COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler)

k8s_built() {
  local b
  b=$(k8s_bin)
  for c in "${K8S_COMPONENTS[@]}" kwok; do [[ -x $b/$c ]] || return 1; done
  [[ -f $b/.complete ]]
}

# Go module builds of k8s.io/kubernetes: its go.mod requires the staging
# modules (k8s.io/api, k8s.io/client-go...) at v0.0.0 and replaces them with
# ./staging/src/k8s.io/X, which only works inside its own tree. A main module
# of ours requires k8s.io/kubernetes and replaces each staging module with its
# published tag v0.<minor>.<patch>, generated from that go.mod.
cmd_build() {
  # One build per version at a time: a second caller (test.sh's early
  # background build, then the test's `up`) waits for the first.
  mkdir -p "$(k8s_cache)"
  exec 8>"$(k8s_cache)/.lock"
  flock 8
  if k8s_built; then
    exec 8>&-
    ad_log "k8s $K8S_VERSION already built in $(k8s_bin)"
    return 0
  fi
  command -v go >/dev/null || ad_die "go not found (the Go toolchain is needed to build Kubernetes)"
  local cache src bin t0 gomod staging ver
  cache=$(k8s_cache)
  src=$cache/src
  bin=$cache/bin
  mkdir -p "$src" "$bin"
  t0=$(date +%s)
  export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
  ver=v0.${K8S_VERSION#v1.}
  (
    cd "$src"
    rm -f go.mod go.sum
    go mod init app-deployer.local/k8s-build >/dev/null 2>&1
    gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
    [[ -r $gomod ]] || ad_die "go mod download k8s.io/kubernetes@$K8S_VERSION gave no go.mod"
    mapfile -t staging < <(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\1#p' "$gomod")
    ((${#staging[@]} > 10)) || ad_die "no staging replace lines found in $gomod"
    go mod edit -require="k8s.io/kubernetes@$K8S_VERSION"
    for m in "${staging[@]}"; do go mod edit -replace="$m=$m@$ver"; done
    printf 'package tools\n\nimport (\n' >tools.go
    for c in "${K8S_COMPONENTS[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c" >>tools.go; done
    printf ')\n' >>tools.go
    sed -i '1i //go:build tools\n' tools.go
    go mod tidy -e >/dev/null 2>&1 || true
    local ld="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION"
    ld+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${K8S_VERSION#v1.}"
    ld+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
    for c in "${K8S_COMPONENTS[@]}"; do
      ad_log "building $c $K8S_VERSION"
      nice -n 10 go build -tags tools -trimpath -ldflags "$ld" -o "$bin/$c" "k8s.io/kubernetes/cmd/$c"
    done
  )
  ad_log "building kwok $KWOK_VERSION"
  GOBIN=$bin nice -n 10 go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  touch "$bin/.complete"
  ad_log "k8s $K8S_VERSION built in $(($(date +%s) - t0)) s into $bin"
  exec 8>&-
}

K8S_NODES=${AD_K8S_NODES:-2}
K8S_DIR=$(ad_state_dir)/k8s

k8s_pid() { ad_pid_from_file "$K8S_DIR/run/$1.pid"; }

# k8s_launch NAME CMD...: detached (own session), log appended to
# logs/NAME.log, pid in run/NAME.pid (the exec'd server's own).
k8s_launch() {
  local name=$1 log=$K8S_DIR/logs/$1.log pidfile=$K8S_DIR/run/$1.pid i
  shift
  rm -f "$pidfile"
  printf '=== %s: starting %s\n' "$(date -Is)" "$*" >>"$log"
  # shellcheck disable=SC2016 # $$ and $@ are for the inner bash
  (cd / && exec setsid bash -c 'echo $$ >"$0" && exec "$@"' "$pidfile" "$@" \
    </dev/null >>"$log" 2>&1 8>&-) & # 8: the build lock, not for servers
  for ((i = 0; i < 100; i++)); do
    [[ -s $pidfile ]] && return 0
    sleep 0.05
  done
  ad_die "$name did not start; see $log"
}

# A CA, the API server's serving certificate, an admin client certificate
# (group system:masters), the service-account key pair, and a bearer token
# (tokens.csv) so both kinds of client credentials can be tested.
k8s_certs() {
  local d=$K8S_DIR/pki
  [[ -s $d/admin.crt ]] && return 0
  mkdir -p "$d"
  (
    cd "$d"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
      -subj "/CN=app-deployer-test-ca" 2>/dev/null
    cat >server.ext <<'X'
subjectAltName = IP:127.0.0.1, DNS:localhost, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc
extendedKeyUsage = serverAuth
X
    printf 'extendedKeyUsage = clientAuth\n' >client.ext
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr \
      -subj "/CN=kube-apiserver" 2>/dev/null
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -out apiserver.crt -days 3650 -extfile server.ext 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr \
      -subj "/O=system:masters/CN=admin" 2>/dev/null
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -out admin.crt -days 3650 -extfile client.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    printf '%s,deployer-token,1001,"system:masters"\n' "$(openssl rand -hex 24)" >tokens.csv
    cut -d, -f1 tokens.csv >token
    rm -f ./*.csr
  )
}

# The kwok nodes' kubelet endpoint is kwok's own server: a serving
# certificate for 127.0.0.1 from the same CA, so the API server can reach it
# (and verify it) for a pod's log.
k8s_kubelet_cert() {
  local d=$K8S_DIR/pki
  [[ -s $d/kubelet.crt ]] && return 0
  (
    cd "$d"
    umask 077
    printf 'subjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth\n' >kubelet.ext
    openssl req -newkey rsa:2048 -nodes -keyout kubelet.key -out kubelet.csr \
      -subj "/CN=kwok-kubelet" 2>/dev/null
    openssl x509 -req -in kubelet.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -out kubelet.crt -days 3650 -extfile kubelet.ext 2>/dev/null
    rm -f kubelet.csr
  )
}

# kwok answers a pod's log (GET .../pods/NAME/log, through the API server)
# from one file, $K8S_DIR/node-logs/current.log, in the CRI log format
# ("<RFC 3339 time> stdout F <line>"): the tests write there what a
# container they ran themselves printed (no container runs on kwok).
k8s_kwok_config() {
  mkdir -p "$K8S_DIR/node-logs"
  cat >"$K8S_DIR/kwok.yaml" <<EOF
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: node-logs
spec:
  logs:
  - logsFile: $K8S_DIR/node-logs/current.log
EOF
  # The pod stages: kwok's own "fast" ones (sigs.k8s.io/kwok
  # kustomize/stage/pod/fast, v0.7.0) less pod-complete, which ends every
  # pod a Job owns with exit code 0 as soon as it runs: a release phase
  # Job's pod ends when the test, playing its kubelet, says so and with the
  # exit code its command had.
  cat >>"$K8S_DIR/kwok.yaml" <<'EOF'
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-ready
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.podIP'
      operator: 'DoesNotExist'
  next:
    statusTemplate: |
      {{ $now := Now }}

      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: ContainersReady
      {{ range .spec.readinessGates }}
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: {{ .conditionType | Quote }}
      {{ end }}

      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}

      initContainerStatuses:
      {{ range .spec.initContainers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        {{ if eq .restartPolicy "Always" }}
        started: true
        state:
          running:
            startedAt: {{ $now | Quote }}
        {{ else }}
        state:
          terminated:
            exitCode: 0
            finishedAt: {{ $now | Quote }}
            reason: Completed
            startedAt: {{ $now | Quote }}
        {{ end }}
      {{ end }}

      hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
      podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
      phase: Running
      startTime: {{ $now | Quote }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-delete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'Exists'
  next:
    finalizers:
      empty: true
    delete: true
EOF
}

# k8s_kubeconfig FILE: the admin kubeconfig, everything inline (-data).
k8s_kubeconfig() {
  local f=$1 b64='base64 -w0'
  umask 077
  cat >"$f" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: ad-test
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $($b64 <"$K8S_DIR/pki/ca.crt")
users:
- name: admin
  user:
    client-certificate-data: $($b64 <"$K8S_DIR/pki/admin.crt")
    client-key-data: $($b64 <"$K8S_DIR/pki/admin.key")
contexts:
- name: ad-test
  context:
    cluster: ad-test
    user: admin
current-context: ad-test
EOF
}

# k8s_api METHOD PATH [BODY [CONTENT-TYPE]]: the API server as admin.
k8s_api() {
  local args=(-sS --fail-with-body --cacert "$K8S_DIR/pki/ca.crt" --cert "$K8S_DIR/pki/admin.crt"
    --key "$K8S_DIR/pki/admin.key" -X "$1" "https://127.0.0.1:$APISERVER_PORT$2")
  [[ -n ${3:-} ]] && args+=(-H "Content-Type: ${4:-application/json}" --data-binary "$3")
  curl "${args[@]}"
}

k8s_ready() {
  [[ $(k8s_api GET /readyz 2>/dev/null) == ok ]]
}

k8s_ports_load() {
  # shellcheck disable=SC1091
  [[ -r $K8S_DIR/ports ]] && . "$K8S_DIR/ports"
  ad_pick_port ETCD_PORT "${ETCD_PORT:-}"
  ad_pick_port ETCD_PEER_PORT "${ETCD_PEER_PORT:-}"
  ad_pick_port APISERVER_PORT "${APISERVER_PORT:-}"
  ad_pick_port KCM_PORT "${KCM_PORT:-}"
  ad_pick_port SCHED_PORT "${SCHED_PORT:-}"
  ad_pick_port KWOK_PORT "${KWOK_PORT:-}"
  printf 'ETCD_PORT=%s\nETCD_PEER_PORT=%s\nAPISERVER_PORT=%s\nKCM_PORT=%s\nSCHED_PORT=%s\nKWOK_PORT=%s\n' \
    "$ETCD_PORT" "$ETCD_PEER_PORT" "$APISERVER_PORT" "$KCM_PORT" "$SCHED_PORT" "$KWOK_PORT" \
    >"$K8S_DIR/ports"
}

k8s_node_json() {
  cat <<EOF
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$1",
 "annotations":{"node.alpha.kubernetes.io/ttl":"0","kwok.x-k8s.io/node":"fake"},
 "labels":{"kubernetes.io/hostname":"$1","kubernetes.io/os":"linux","kubernetes.io/arch":"amd64","type":"kwok"}},
 "spec":{},
 "status":{"allocatable":{"cpu":"8","memory":"16Gi","pods":"110"},
  "capacity":{"cpu":"8","memory":"16Gi","pods":"110"},
  "nodeInfo":{"architecture":"amd64","operatingSystem":"linux","kubeletVersion":"fake","kubeProxyVersion":"fake"}}}
EOF
}

cmd_up() {
  local bin
  bin=$(k8s_bin)
  command -v etcd >/dev/null || ad_die "etcd not found: run scripts/install-deps.sh (etcd-server)"
  cmd_build
  mkdir -p "$K8S_DIR/logs" "$K8S_DIR/run" "$K8S_DIR/etcd"
  if k8s_pid kube-apiserver >/dev/null; then
    # shellcheck disable=SC1091
    . "$K8S_DIR/ports"
    ad_log "k8s already up: https://127.0.0.1:$APISERVER_PORT"
    cmd_env >"$K8S_DIR/env"
    return 0
  fi
  k8s_ports_load
  k8s_certs
  k8s_kubelet_cert
  k8s_kwok_config
  k8s_kubeconfig "$K8S_DIR/kubeconfig"
  local t0=$SECONDS pki=$K8S_DIR/pki
  k8s_pid etcd >/dev/null ||
    k8s_launch etcd etcd --name ad-test --data-dir "$K8S_DIR/etcd" \
      --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
      --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
      --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
      --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
      --initial-cluster "ad-test=http://127.0.0.1:$ETCD_PEER_PORT" \
      --quota-backend-bytes $((512 * 1024 * 1024))
  ad_wait_for etcd 30 "$(k8s_pid etcd)" "$K8S_DIR/logs/etcd.log" \
    curl -sf "http://127.0.0.1:$ETCD_PORT/health"
  # WatchList off: Debian's etcd 3.4.23 has no watch progress requests, so
  # streaming lists (sendInitialEvents) end in an error, and kwok, which asks
  # for them, then saw pods late (25 s and more to mark one ready).
  # The endpoint reconciler is off: the kubernetes Service's endpoint would
  # be 127.0.0.1, which Endpoints refuse (loopback). The service CIDR is
  # bookkeeping only: nothing is ever sent to those addresses.
  k8s_launch kube-apiserver "$bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --endpoint-reconciler-type none \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" --token-auth-file "$pki/tokens.csv" \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-cluster-ip-range 10.96.0.0/16 --authorization-mode Node,RBAC \
    --allow-privileged=false --cert-dir "$K8S_DIR/run" --profiling=false \
    --feature-gates WatchList=false \
    --kubelet-preferred-address-types InternalIP \
    --kubelet-certificate-authority "$pki/ca.crt"
  ad_wait_for kube-apiserver 120 "$(k8s_pid kube-apiserver)" "$K8S_DIR/logs/kube-apiserver.log" \
    k8s_ready
  k8s_launch kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig "$K8S_DIR/kubeconfig" --leader-elect=false \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" --cert-dir "$K8S_DIR/run" \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --use-service-account-credentials=false --controllers '*,-nodeipam,-cloud-node-lifecycle' \
    --profiling=false
  k8s_launch kube-scheduler "$bin/kube-scheduler" \
    --kubeconfig "$K8S_DIR/kubeconfig" --leader-elect=false \
    --bind-address 127.0.0.1 --secure-port "$SCHED_PORT" --profiling=false
  k8s_launch kwok "$bin/kwok" --kubeconfig "$K8S_DIR/kubeconfig" \
    --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --node-lease-duration-seconds=40 \
    --cidr=10.244.0.1/24 --node-ip=127.0.0.1 --node-port "$KWOK_PORT" \
    --server-address "127.0.0.1:$KWOK_PORT" --config "$K8S_DIR/kwok.yaml" \
    --tls-cert-file "$pki/kubelet.crt" --tls-private-key-file "$pki/kubelet.key"
  local i
  for ((i = 0; i < K8S_NODES; i++)); do
    k8s_api GET "/api/v1/nodes/kwok-node-$i" >/dev/null 2>&1 ||
      k8s_api POST /api/v1/nodes "$(k8s_node_json "kwok-node-$i")" >/dev/null
  done
  ad_wait_for "kwok nodes" 60 "$(k8s_pid kwok)" "$K8S_DIR/logs/kwok.log" k8s_nodes_ready
  # The kubelet endpoint the API server proxies logs to: kwok's server
  # (a node kept from an earlier run keeps its old address otherwise).
  for ((i = 0; i < K8S_NODES; i++)); do
    k8s_api PATCH "/api/v1/nodes/kwok-node-$i/status" \
      "{\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"127.0.0.1\"}],\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":$KWOK_PORT}}}}" \
      application/merge-patch+json >/dev/null
  done
  ad_wait_for "default service account" 60 "$(k8s_pid kube-controller-manager)" \
    "$K8S_DIR/logs/kube-controller-manager.log" \
    k8s_api GET /api/v1/namespaces/default/serviceaccounts/default
  cmd_env >"$K8S_DIR/env"
  ad_log "k8s $K8S_VERSION up in $((SECONDS - t0)) s: https://127.0.0.1:$APISERVER_PORT ($K8S_NODES kwok nodes); . $K8S_DIR/env"
}

k8s_nodes_ready() {
  local n
  n=$(k8s_api GET /api/v1/nodes | jq '[.items[] | select(.status.conditions // [] | any(.type == "Ready" and .status == "True"))] | length')
  ((n >= K8S_NODES))
}

cmd_down() {
  local c pid
  for c in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    pid=$(k8s_pid "$c") || continue
    ad_stop_pid "$c" "$pid" 20
  done
  ad_log "k8s down (state and logs kept in $K8S_DIR)"
}

cmd_env() {
  # shellcheck disable=SC1091
  . "$K8S_DIR/ports"
  cat <<EOF
export AD_K8S_DIR=$K8S_DIR
export AD_K8S_KUBECONFIG=$K8S_DIR/kubeconfig
export AD_K8S_SERVER=https://127.0.0.1:$APISERVER_PORT
export AD_K8S_CA=$K8S_DIR/pki/ca.crt
export AD_K8S_TOKEN_FILE=$K8S_DIR/pki/token
export AD_K8S_BIN=$(k8s_bin)
EOF
}

# Helm (helm.sh/helm/v3, no replace lines needed), for the chart test:
# $AD_CACHE_DIR/helm-<version>/helm.
cmd_helm() {
  local dir
  dir=$(ad_cache_dir)/helm-$HELM_VERSION
  mkdir -p "$dir"
  exec 7>"$dir/.lock"
  flock 7
  if [[ ! -x $dir/helm ]]; then
    command -v go >/dev/null || ad_die "go not found (needed to build Helm)"
    local t0=$SECONDS
    ad_log "building helm $HELM_VERSION"
    GOFLAGS='' GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN=$dir/.tmp nice -n 10 \
      go install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
    mv "$dir/.tmp/helm" "$dir/helm"
    ad_log "helm $HELM_VERSION built in $((SECONDS - t0)) s"
  fi
  exec 7>&-
  printf '%s\n' "$dir/helm"
}

main() {
  local cmd=${1:-}
  case $cmd in
  build) cmd_build ;;
  up) cmd_up ;;
  down) cmd_down ;;
  env) cmd_env ;;
  helm) cmd_helm ;;
  *) ad_die "usage: $0 build|up|down|env" ;;
  esac
}

main "$@"
