#!/usr/bin/env bash
# deployer.backend: kubernetes, through the REST API, against a real
# Kubernetes control plane (scripts/k8s.sh: kube-apiserver,
# kube-controller-manager, kube-scheduler built from their Go modules,
# Debian's etcd; kwok nodes, see docs/kubernetes.md) with all six services:
#   - an app reaches EXPOSED; its Deployment carries the probes, limits,
#     security context and labels; its Service, Ingress, NetworkPolicy,
#     ResourceQuota, LimitRange, ConfigMap and Secret exist;
#   - the generated Deployment, ConfigMap and Secret, run by
#     `podman kube play`, start the app and it answers;
#   - a deployer.yaml asking more memory than the namespace quota fails
#     with the quota's own message and is compensated (namespace gone);
#   - a deployer.yaml with autoscaling gets an HPA;
#   - a Procfile `worker:` runs a Deployment <app>-worker with ready pods,
#     non-root with every capability dropped, no Service; scaling it to 0
#     leaves no worker pod;
#   - a one-off `run` of `echo hi; exit 3` is a Pod of the release
#     (restartPolicy Never, activeDeadlineSeconds, image by digest); the
#     test plays its kubelet (podman kube play, its log and exit code back
#     to the cluster); the reply is "hi" and 3, and the pod is deleted;
#   - a Procfile `release:` runs as a Job <app>-release-<12 hex> before
#     the Deployments (the test plays its pod's kubelet as for run): its
#     output is in the deployment's log, no Job or pod is left, and one
#     exiting 3 fails its deployment while the previous release serves;
#   - the deploy step reports its moments (containers started, first
#     healthy, route switched), in order;
#   - DELETE leaves no object of the app behind.
# Also prints the rollout times (median of 5 redeploys) for docs/kubernetes.md
# when AD_K8S_MEASURE=1.  Usage: k8s.sh BIN_DIR
set -euo pipefail
bin=${1:?usage: k8s.sh BIN_DIR}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${AD_STATE_DIR:?start the stack first (scripts/stack.sh up; . .stack/env)}"
. "$root/scripts/lib.sh"
. "$root/tests/support/git_repos.sh"

work=$(mktemp -d)
suffix=$(od -An -tx1 -N3 /dev/urandom | tr -d ' \n')
failures=0
checks=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
ok() {
  checks=$((checks + 1))
  echo "ok: $*"
}
cleanup() {
  [[ -n ${gitd:-} ]] && kill "$gitd" 2>/dev/null || true
  [[ -n ${play:-} && -f $play ]] && podman kube down "$play" >/dev/null 2>&1 || true
  [[ -n ${psecret:-} ]] && podman secret rm "$psecret" >/dev/null 2>&1 || true
  "$root/scripts/services.sh" down >/dev/null 2>&1 || true
  [[ ${AD_K8S_KEEP:-} == 1 ]] || "$root/scripts/k8s.sh" down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# The control plane: built from the Go module cache on first use (minutes),
# reused afterwards.
"$root/scripts/k8s.sh" up
eval "$("$root/scripts/k8s.sh" env)"
# The tests read the cluster with the bearer token, the deployer writes
# with the kubeconfig's client certificate: both kinds of credentials.
kapi() { # PATH -> JSON (status >= 400 prints the Status object and fails)
  curl -sS --fail-with-body --cacert "$AD_K8S_CA" \
    -H "Authorization: Bearer $(cat "$AD_K8S_TOKEN_FILE")" "$AD_K8S_SERVER$1"
}
kcode() { # PATH -> HTTP status
  curl -sS -o /dev/null -w '%{http_code}' --cacert "$AD_K8S_CA" \
    -H "Authorization: Bearer $(cat "$AD_K8S_TOKEN_FILE")" "$AD_K8S_SERVER$1"
}

export AD_DEPLOYER_BACKEND=kubernetes
# Apps may choose their backend in deployer.yaml (one does, below).
export AD_DEPLOYER_APP_BACKENDS=true
export AD_KUBERNETES_KUBECONFIG=$AD_K8S_KUBECONFIG
export AD_KUBERNETES_QUOTA_MEMORY_MB=2048 AD_KUBERNETES_QUOTA_CPU=4
export AD_KUBERNETES_ROLLOUT_TIMEOUT_S=${AD_KUBERNETES_ROLLOUT_TIMEOUT_S:-120}
export AD_KUBERNETES_INGRESS_CLASS=nginx AD_KUBERNETES_POLL_MS=200
# The git server first: git_daemon_start allowlists its exact address for
# the services' clones (AD_CLONE_ALLOWLIST, read by services.sh).
repos=$work/git
mkdir -p "$repos"
git_daemon_start "$repos" "$work/git-daemon.log"
"$bin/../tests/ad_test_bus_reset"
"$root/scripts/services.sh" up "$bin"
. "$AD_STATE_DIR/run/services/env"
ctl() { "$bin/adctl" "$@"; }
status_of() { ctl --json status "$1" | jq -r .status; }
wait_final() { # ID -> final status
  local s i
  for ((i = 0; i < 900; i++)); do
    s=$(status_of "$1")
    case $s in EXPOSED | ROLLED_BACK | DESTROYED | FAILED) echo "$s"; return 0 ;; esac
    sleep 1
  done
  echo "$s"
}

git_repo_from "$repos/py" "$root/examples/python-stdlib"
git_repo_from "$repos/big" "$root/examples/python-stdlib"
printf 'resources: { cpu: 500m, memory: 4Gi }\n' >"$repos/big/deployer.yaml"
git -C "$repos/big" add -A && git -C "$repos/big" -c user.name=t -c user.email=t@l commit -qm big
git_repo_from "$repos/hpa" "$root/examples/python-stdlib"
printf 'resources: { cpu: 250m, memory: 128Mi }\nautoscaling: { min: 2, max: 4, cpu: 60 }\n' \
  >"$repos/hpa/deployer.yaml"
git -C "$repos/hpa" add -A && git -C "$repos/hpa" -c user.name=t -c user.email=t@l commit -qm hpa

git_repo_from "$repos/wrk" "$root/examples/procfile-worker"

app=k8s-py-$suffix big=k8s-big-$suffix hpa=k8s-hpa-$suffix wrk=k8s-wrk-$suffix
id=$(ctl --json deploy "git://127.0.0.1:$git_port/py" --name "$app" | jq -r .id)
wid=$(ctl --json deploy "git://127.0.0.1:$git_port/wrk" --name "$wrk" | jq -r .id)
bid=$(ctl --json deploy "git://127.0.0.1:$git_port/big" --name "$big" | jq -r .id)
hid=$(ctl --json deploy "git://127.0.0.1:$git_port/hpa" --name "$hpa" | jq -r .id)

echo "== an app reaches EXPOSED on the cluster"
s=$(wait_final "$id")
json=$(ctl --json status "$id")
ns=ad-$app
if [[ $s == EXPOSED ]]; then
  ok "$app EXPOSED at $(jq -r .url <<<"$json") ($(jq -r .ip <<<"$json"))"
else
  fail "$app ended $s: $(jq -r '.error // empty' <<<"$json")"
  tail -n 30 "$AD_STATE_DIR/logs/services/deployer.log" >&2 || true
fi
d=$(kapi "/apis/apps/v1/namespaces/$ns/deployments/$app" || echo '{}')
c='.spec.template.spec.containers[0]'
check() { # DESCRIPTION JQ-EXPR (true when right) against $d
  if [[ $(jq -r "$2" <<<"$d") == true ]]; then ok "$1"; else fail "$1: $(jq -c "$3" <<<"$d" 2>/dev/null)"; fi
}
check "readiness and liveness probes on the app's port" \
  "$c.readinessProbe.httpGet.port == \"http\" and $c.livenessProbe.httpGet.port == \"http\" and $c.ports[0].containerPort == 8000" \
  "$c | {readinessProbe, livenessProbe, ports}"
check "PORT is the detected port" "[$c.env[] | select(.name == \"PORT\")][0].value == \"8000\"" "$c.env"
check "requests and limits" \
  "$c.resources.limits.memory != null and $c.resources.requests.cpu != null" "$c.resources"
check "non-root, read-only root, no capabilities, RuntimeDefault seccomp" \
  "$c.securityContext.runAsNonRoot and $c.securityContext.readOnlyRootFilesystem and $c.securityContext.capabilities.drop == [\"ALL\"] and .spec.template.spec.securityContext.seccompProfile.type == \"RuntimeDefault\" and .spec.template.spec.securityContext.runAsUser > 0" \
  "$c.securityContext"
check "emptyDir on /tmp" \
  "$c.volumeMounts[0].mountPath == \"/tmp\" and .spec.template.spec.volumes[0].emptyDir != null" \
  ".spec.template.spec.volumes"
check "rolling update with maxUnavailable 0" \
  ".spec.strategy.rollingUpdate.maxUnavailable == 0" ".spec.strategy"
check "labels: app, deployment, managed-by" \
  ".metadata.labels[\"app-deployer.app\"] == \"$app\" and .spec.template.metadata.labels[\"app-deployer.deployment\"] == \"$id\" and .metadata.labels[\"app.kubernetes.io/managed-by\"] == \"app-deployer\"" \
  ".metadata.labels"
check "every replica updated and available" \
  ".status.availableReplicas == .spec.replicas and .status.updatedReplicas == .spec.replicas" ".status"
# The deploy step's moments: the web Deployment applied, its rollout
# available, every Deployment rolled out; each there, in that order,
# between the step's start and end.
tl=$(ctl --json status "$id" | jq -c '[.timeline[]? | {(.event): .elapsed_ms}] | add // {}')
[[ $(jq -r '(.["deploy.containers_started"] // 0) > 0 and (.["deploy.first_healthy"] // 0) > 0 and (.["deploy.route_switched"] // 0) > 0 and .["deploy.started"] <= .["deploy.containers_started"] and .["deploy.containers_started"] <= .["deploy.first_healthy"] and .["deploy.first_healthy"] <= .["deploy.route_switched"] and .["deploy.route_switched"] <= .["deploy.ended"]' <<<"$tl") == true ]] &&
  ok "timeline: deploy.containers_started, first_healthy, route_switched reported, in order" ||
  fail "deploy moments: $tl"
check "applied by field manager app-deployer" \
  "[.metadata.managedFields[] | select(.manager == \"app-deployer\" and .operation == \"Apply\")] | length == 1" \
  "[.metadata.managedFields[] | {manager, operation}]"
for obj in "api/v1/namespaces/$ns/services/$app" \
  "apis/networking.k8s.io/v1/namespaces/$ns/ingresses/$app" \
  "apis/networking.k8s.io/v1/namespaces/$ns/networkpolicies/$app" \
  "api/v1/namespaces/$ns/resourcequotas/quota" "api/v1/namespaces/$ns/limitranges/limits"; do
  code=$(kcode "/$obj")
  [[ $code == 200 ]] && ok "${obj##*/namespaces/} exists" || fail "/$obj: $code"
done
ing=$(kapi "/apis/networking.k8s.io/v1/namespaces/$ns/ingresses/$app" || echo '{}')
[[ $(jq -r '.spec.ingressClassName + " " + .spec.rules[0].host' <<<"$ing") == "nginx $app.localhost" ]] &&
  ok "Ingress: class nginx, host $app.localhost" || fail "Ingress: $(jq -c .spec <<<"$ing")"

echo "== a custom domain on the app's Ingress (adctl domains add/rm)"
dom=www-$suffix.example.test
ingpath=/apis/networking.k8s.io/v1/namespaces/$ns/ingresses/$app
if out=$(ctl domains add "$app" "$dom" 2>&1); then
  ing=$(kapi "$ingpath" || echo '{}')
  [[ $(jq -c '[.spec.rules[].host]' <<<"$ing") == "[\"$app.localhost\",\"$dom\"]" &&
    $(jq -r ".spec.rules[1].http.paths[0].backend.service.name" <<<"$ing") == "$app" ]] &&
    ok "Ingress rules: $app.localhost and $dom, both to the app's Service" ||
    fail "Ingress after domains add: $(jq -c .spec.rules <<<"$ing")"
else
  fail "adctl domains add $app $dom: $out"
fi
if out=$(ctl domains rm "$app" "$dom" 2>&1); then
  ing=$(kapi "$ingpath" || echo '{}')
  [[ $(jq -c '[.spec.rules[].host]' <<<"$ing") == "[\"$app.localhost\"]" ]] &&
    ok "domains rm: the Ingress has only the platform host again" ||
    fail "Ingress after domains rm: $(jq -c .spec.rules <<<"$ing")"
else
  fail "adctl domains rm $app $dom: $out"
fi

echo "== podman kube play of the generated Deployment, ConfigMap and Secret"
# The objects as the deployer applied them (status and server fields
# dropped); the one change is a host port on 127.0.0.1 so the test can
# reach the pod without the cluster's network. podman 4.3 reads a
# secretRef from its own secret store, as the Secret's `data` map.
envname=$(jq -r "$c.envFrom[0].configMapRef.name" <<<"$d")
hostport=
ad_pick_port hostport
play=$work/play.yaml
strip='del(.status, .metadata.managedFields, .metadata.uid, .metadata.resourceVersion, .metadata.creationTimestamp, .metadata.generation, .metadata.annotations, .metadata.namespace)'
kapi "/api/v1/namespaces/$ns/secrets/$envname" | jq -c '.data // {}' >"$work/secret.json"
podman secret rm "$envname" >/dev/null 2>&1 || true
podman secret create "$envname" "$work/secret.json" >/dev/null
psecret=$envname
{
  kapi "/api/v1/namespaces/$ns/configmaps/$envname" | jq "$strip"
  echo '---'
  jq "$strip | .metadata.name = \"kplay-$suffix\" | .spec.template.spec.containers[0].ports[0] += {hostPort: $hostport, hostIP: \"127.0.0.1\"}" <<<"$d"
} >"$play"
if podman kube play "$play" >"$work/play.log" 2>&1; then
  body=
  for ((i = 0; i < 100; i++)); do
    body=$(curl -fsS --max-time 2 "http://127.0.0.1:$hostport/" 2>/dev/null) && break
    sleep 0.3
  done
  [[ $body == *"Hello from python-stdlib"* ]] && ok "podman kube play: the app answers on 127.0.0.1:$hostport" ||
    fail "podman kube play: no answer on 127.0.0.1:$hostport: $(podman pod ps 2>&1 | tail -3)"
  ctr=$(podman ps --format '{{.Names}}' | grep "kplay-$suffix" | grep -v infra | head -n1)
  insp=$(podman inspect "$ctr" 2>/dev/null || echo '[{}]')
  [[ $(jq -r '.[0] | .HostConfig.ReadonlyRootfs and (.Config.User | startswith("10001")) and ((.HostConfig.CapAdd // []) | length == 0) and ((.HostConfig.CapDrop // []) | index(["CAP_NET_RAW"]) != null)' <<<"$insp") == true ]] &&
    ok "podman kube play: read-only root, user $(jq -r '.[0].Config.User' <<<"$insp"), capabilities dropped" ||
    fail "podman kube play: $(jq -c '.[0] | {ro: .HostConfig.ReadonlyRootfs, user: .Config.User, drop: .HostConfig.CapDrop, add: .HostConfig.CapAdd}' <<<"$insp")"
  podman kube down "$play" >/dev/null 2>&1 || true
else
  fail "podman kube play: $(tail -n 5 "$work/play.log")"
fi
podman secret rm "$psecret" >/dev/null 2>&1 || true

echo "== a Procfile worker: a Deployment of its own; scaled to 0, no pod"
s=$(wait_final "$wid")
wns=ad-$wrk
if [[ $s == EXPOSED ]]; then
  ok "$wrk (web and worker) EXPOSED"
else
  fail "$wrk ended $s: $(ctl --json status "$wid" | jq -r '.error // empty')"
fi
wd=$(kapi "/apis/apps/v1/namespaces/$wns/deployments/$wrk-worker" || echo '{}')
wc='.spec.template.spec.containers[0]'
[[ $(jq -r "(.status.readyReplicas // 0) >= 1 and .status.availableReplicas == .spec.replicas and .spec.template.metadata.labels[\"app-deployer.process\"] == \"worker\" and .spec.template.metadata.labels[\"app-deployer.app\"] == null and ($wc.command | join(\" \")) == \"/bin/sh -c python3 worker.py\" and ($wc.ports == null) and ($wc.readinessProbe == null)" <<<"$wd") == true ]] &&
  ok "Deployment $wrk-worker: ready pods, its command, no port or probe" ||
  fail "Deployment $wrk-worker: $(jq -c "{status, labels: .spec.template.metadata.labels, c: $wc}" <<<"$wd")"
webimg=$(kapi "/apis/apps/v1/namespaces/$wns/deployments/$wrk" | jq -r "$wc.image")
[[ $(jq -r "$wc.image" <<<"$wd") == "$webimg" && $webimg == *@sha256:* ]] &&
  ok "the worker runs the web's image by digest" || fail "worker image $(jq -r "$wc.image" <<<"$wd"), web $webimg"
wpods=$(kapi "/api/v1/namespaces/$wns/pods?labelSelector=app-deployer.process%3Dworker")
[[ $(jq -r '(.items | length) >= 1 and all(.items[]; .status.phase == "Running" and (.spec.securityContext.runAsUser > 0) and .spec.containers[0].securityContext.runAsNonRoot and .spec.containers[0].securityContext.allowPrivilegeEscalation == false and .spec.containers[0].securityContext.capabilities.drop == ["ALL"])' <<<"$wpods") == true ]] &&
  ok "worker pods Running, non-root, capabilities dropped, no privilege escalation" ||
  fail "worker pods: $(jq -c '[.items[] | {p: .status.phase, sc: .spec.securityContext, csc: .spec.containers[0].securityContext}]' <<<"$wpods")"
[[ $(kcode "/api/v1/namespaces/$wns/services/$wrk-worker") == 404 &&
  $(kapi "/api/v1/namespaces/$wns/services/$wrk" | jq -r '.spec.selector | has("app-deployer.process") or .["app-deployer.app"] != null') == true ]] &&
  ok "no Service for the worker; the web Service does not select it" || fail "services of $wrk"
rprocs=$(psql "$AD_DATABASE_URL" -XAtq -c "SELECT processes FROM releases WHERE deployment_id = '$wid'")
[[ $(jq -r '.worker' <<<"$rprocs" 2>/dev/null) == 1 ]] &&
  ok "deploy.exposed reports the worker (release processes $rprocs)" || fail "release processes: $rprocs"
if ctl scale "$wrk" worker=0 --wait >/dev/null 2>&1; then
  n=
  for ((i = 0; i < 100; i++)); do
    n=$(kapi "/api/v1/namespaces/$wns/pods?labelSelector=app-deployer.process%3Dworker" | jq '.items | length')
    ((n == 0)) && break
    sleep 0.2
  done
  r=$(kapi "/apis/apps/v1/namespaces/$wns/deployments/$wrk-worker" | jq -r .spec.replicas)
  [[ $n == 0 && $r == 0 ]] && ok "worker=0: its Deployment at 0, no worker pod" ||
    fail "after worker=0: $n worker pods, Deployment replicas $r"
  [[ $(kapi "/apis/apps/v1/namespaces/$wns/deployments/$wrk" | jq -r '.status.availableReplicas') == 1 ]] &&
    ok "the web keeps serving" || fail "web after worker=0"
else
  fail "adctl scale $wrk worker=0 did not reach EXPOSED"
fi

echo "== a one-off run: a Pod of the release; its output and exit code; no pod left"
# kwok runs no container, so the test is the node's kubelet for the run
# pod: it runs the Pod as the cluster stored it with podman kube play (its
# ConfigMap and Secret as above), writes what it printed where kwok serves
# pod logs from (scripts/k8s.sh), and sets the pod's status to the exit
# code. The deployer waits for that, reads the log through the API server
# and deletes the pod.
kpatch() { # PATH JSON: merge patch (the pod's status, as a kubelet does)
  curl -sS --fail-with-body --cacert "$AD_K8S_CA" -H "Authorization: Bearer $(cat "$AD_K8S_TOKEN_FILE")" \
    -X PATCH -H 'Content-Type: application/merge-patch+json' --data-binary "$2" "$AD_K8S_SERVER$1"
}
runpods() { kapi "/api/v1/namespaces/$wns/pods?labelSelector=app-deployer.run%3D$wrk"; }
rm -f "$AD_K8S_DIR/node-logs/current.log"
(ctl --json run "$wrk" --timeout 60 -- 'echo hi; exit 3' >"$work/run.json" 2>&1 || true) &
rpid=$!
rp='{}'
for ((i = 0; i < 100; i++)); do
  rp=$(runpods | jq -c '.items[0] // {}')
  [[ $(jq -r '.status.podIP // empty' <<<"$rp") != "" ]] && break
  sleep 0.2
done
rname=$(jq -r '.metadata.name // empty' <<<"$rp")
[[ $(jq -r ".spec.restartPolicy == \"Never\" and .spec.activeDeadlineSeconds == 60 and .spec.containers[0].image == \"$webimg\" and (.spec.containers[0].command | join(\" \")) == \"/bin/sh -c echo hi; exit 3\" and .spec.containers[0].securityContext.capabilities.drop == [\"ALL\"] and .spec.containers[0].securityContext.runAsNonRoot and .spec.securityContext.runAsUser > 0 and .metadata.labels[\"app-deployer.app\"] == null" <<<"$rp") == true ]] &&
  ok "run pod $rname: restartPolicy Never, activeDeadlineSeconds 60, the release's image, non-root, no capability" ||
  fail "run pod: $(jq -c '{spec: .spec, labels: .metadata.labels}' <<<"$rp")"
if [[ -n $rname ]]; then
  renv=$(jq -r '.spec.containers[0].envFrom[0].configMapRef.name' <<<"$rp")
  kapi "/api/v1/namespaces/$wns/secrets/$renv" | jq -c '.data // {}' >"$work/rsecret.json"
  podman secret rm "$renv" >/dev/null 2>&1 || true
  podman secret create "$renv" "$work/rsecret.json" >/dev/null
  psecret=$renv
  play=$work/run-play.yaml
  {
    kapi "/api/v1/namespaces/$wns/configmaps/$renv" | jq "$strip"
    echo '---'
    # A list's items carry no apiVersion or kind.
    jq "$strip | .apiVersion = \"v1\" | .kind = \"Pod\" | .metadata.name = \"krun-$suffix\" | del(.spec.nodeName)" <<<"$rp"
  } >"$play"
  rc=
  if podman kube play "$play" >"$work/run-play.log" 2>&1; then
    rctr=$(podman ps -a --format '{{.Names}}' | grep "^krun-$suffix-" | grep -v infra | head -n1)
    rc=$(podman wait "$rctr" 2>/dev/null | tail -n1)
    podman logs "$rctr" 2>&1 | while IFS= read -r line; do
      printf '%s stdout F %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" "$line"
    done >"$AD_K8S_DIR/node-logs/current.log"
  else
    fail "podman kube play of the run pod: $(tail -n 5 "$work/run-play.log")"
  fi
  podman kube down "$play" >/dev/null 2>&1 || true
  podman secret rm "$psecret" >/dev/null 2>&1 || true
  kpatch "/api/v1/namespaces/$wns/pods/$rname/status" \
    "{\"status\":{\"phase\":\"Failed\",\"containerStatuses\":[{\"name\":\"run\",\"image\":\"$webimg\",\"imageID\":\"\",\"ready\":false,\"restartCount\":0,\"state\":{\"terminated\":{\"exitCode\":${rc:-255},\"reason\":\"Error\"}}}]}}" >/dev/null ||
    fail "could not set the run pod's status"
fi
wait "$rpid" || true
[[ $(jq -r '.exit_code == 3 and .output == "hi\n" and .timed_out == false' "$work/run.json" 2>/dev/null) == true ]] &&
  ok "run 'echo hi; exit 3' on the cluster: output hi, exit code 3" || fail "run reply: $(cat "$work/run.json")"
n=$(runpods | jq '[.items[] | select(.metadata.deletionTimestamp == null)] | length')
[[ $n == 0 ]] && ok "no run pod left" || fail "$n run pods left"
rm -f "$AD_K8S_DIR/node-logs/current.log"

echo "== the release phase: a Job before the Deployments, its output in the log; a failing one keeps the old release"
# The test plays the kubelet of the release Job's pod as it does for run
# (scripts/k8s.sh leaves kwok's pod-complete stage out: a Job's pod ends
# when the test says so, with the exit code its command had in podman).
rel=k8s-rel-$suffix
rns=ad-$rel
git_repo_from "$repos/rel" "$root/examples/python-stdlib"
printf 'web: python3 app.py\nrelease: echo migrating %s; echo migrated\n' "$suffix" >"$repos/rel/Procfile"
git -C "$repos/rel" add -A && git -C "$repos/rel" -c user.name=t -c user.email=t@l commit -qm release
relpods() { kapi "/api/v1/namespaces/$rns/pods?labelSelector=app-deployer.release%3D$rel"; }
reljobs() { kapi "/apis/batch/v1/namespaces/$rns/jobs?labelSelector=app-deployer.release%3D$rel"; }
q() { psql "$AD_DATABASE_URL" -XAtq -c "$1"; }
play_release() { # DEPLOYMENT-ID: run its release pod, write its log, end it; sets prc, ppod, pjob
  local p='{}' i renv ctr phase s
  prc='' ppod='' pjob='{}'
  for ((i = 0; i < 1500; i++)); do
    p=$(relpods 2>/dev/null | jq -c '[.items[] | select(.status.podIP != null and .metadata.deletionTimestamp == null)][0] // {}' || echo '{}')
    [[ $(jq -r '.metadata.name // empty' <<<"$p") != "" ]] && break
    s=$(status_of "$1")
    case $s in EXPOSED | ROLLED_BACK | DESTROYED | FAILED) return 1 ;; esac
    sleep 0.2
  done
  ppod=$(jq -r '.metadata.name // empty' <<<"$p")
  [[ -n $ppod ]] || return 1
  echo "$p" >"$work/relpod.json"
  pjob=$(reljobs | jq -c '.items[0] // {}')
  renv=$(jq -r '.spec.containers[0].envFrom[0].configMapRef.name' <<<"$p")
  kapi "/api/v1/namespaces/$rns/secrets/$renv" | jq -c '.data // {}' >"$work/relsecret.json"
  podman secret rm "$renv" >/dev/null 2>&1 || true
  podman secret create "$renv" "$work/relsecret.json" >/dev/null
  psecret=$renv
  play=$work/rel-play.yaml
  {
    kapi "/api/v1/namespaces/$rns/configmaps/$renv" | jq "$strip"
    echo '---'
    jq "$strip | del(.metadata.ownerReferences) | .apiVersion = \"v1\" | .kind = \"Pod\" | .metadata.name = \"krel-$suffix\" | del(.spec.nodeName)" <<<"$p"
  } >"$play"
  if podman kube play "$play" >"$work/rel-play.log" 2>&1; then
    ctr=$(podman ps -a --format '{{.Names}}' | grep "^krel-$suffix-" | grep -v infra | head -n1)
    prc=$(podman wait "$ctr" 2>/dev/null | tail -n1)
    podman logs "$ctr" 2>&1 | while IFS= read -r line; do
      printf '%s stdout F %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" "$line"
    done >"$AD_K8S_DIR/node-logs/current.log"
  else
    fail "podman kube play of the release pod: $(tail -n 5 "$work/rel-play.log")"
  fi
  podman kube down "$play" >/dev/null 2>&1 || true
  podman secret rm "$psecret" >/dev/null 2>&1 || true
  phase=Failed
  [[ ${prc:-255} == 0 ]] && phase=Succeeded
  kpatch "/api/v1/namespaces/$rns/pods/$ppod/status" \
    "{\"status\":{\"phase\":\"$phase\",\"containerStatuses\":[{\"name\":\"release\",\"image\":$(jq '.spec.containers[0].image' <<<"$p"),\"imageID\":\"\",\"ready\":false,\"restartCount\":0,\"state\":{\"terminated\":{\"exitCode\":${prc:-255},\"reason\":\"Error\"}}}]}}" >/dev/null ||
    fail "could not set the release pod's status"
}
rm -f "$AD_K8S_DIR/node-logs/current.log"
lid=$(ctl --json deploy "git://127.0.0.1:$git_port/rel" --name "$rel" | jq -r .id)
play_release "$lid" || fail "no release pod of $rel appeared"
rc1=$prc
jname=$rel-release-$(tr -d - <<<"$lid" | cut -c1-12)
rc='.spec.template.spec.containers[0]'
[[ $(jq -r ".metadata.name == \"$jname\" and .spec.backoffLimit == 0 and .spec.activeDeadlineSeconds == 300 and .spec.template.spec.restartPolicy == \"Never\" and ($rc.command | join(\" \")) == \"/bin/sh -c echo migrating $suffix; echo migrated\" and ($rc.image | test(\"@sha256:\")) and $rc.securityContext.runAsNonRoot and $rc.securityContext.allowPrivilegeEscalation == false and $rc.securityContext.readOnlyRootFilesystem and $rc.securityContext.capabilities.drop == [\"ALL\"] and .spec.template.spec.securityContext.runAsUser > 0 and .spec.template.metadata.labels[\"app-deployer.app\"] == null" <<<"$pjob") == true ]] &&
  ok "Job $jname: backoffLimit 0, activeDeadlineSeconds 300, the image by digest, non-root, read-only root, no capability, no app label" ||
  fail "release Job: $(jq -c '{name: .metadata.name, spec: .spec}' <<<"$pjob")"
[[ $(kapi "/apis/networking.k8s.io/v1/namespaces/$rns/networkpolicies/$rel-release" | jq -r '.spec.podSelector.matchLabels["app-deployer.release"] == "'"$rel"'" and (.spec.ingress | length) == 0 and (.spec.egress | length) == 2') == true ]] &&
  ok "NetworkPolicy $rel-release: nothing in, out as the web's" || fail "no release NetworkPolicy"
s=$(wait_final "$lid")
[[ $s == EXPOSED && $rc1 == 0 ]] && ok "$rel EXPOSED after its release command (exit 0)" ||
  fail "$rel ended $s (release exit $rc1): $(ctl --json status "$lid" | jq -r '.error // empty')"
[[ $(q "SELECT count(*) FROM deployment_logs WHERE deployment_id = '$lid' AND source = 'release' AND line = 'migrating $suffix'") == 1 &&
  $(q "SELECT line FROM deployment_logs WHERE deployment_id = '$lid' AND source = 'release' ORDER BY seq DESC LIMIT 1") == "==> release command exited 0" ]] &&
  ok "its output is in the deployment's log once, ending ==> release command exited 0" ||
  fail "release log: $(q "SELECT line FROM deployment_logs WHERE deployment_id = '$lid' AND source = 'release' ORDER BY seq")"
npods=
for ((i = 0; i < 100; i++)); do
  npods=$(relpods | jq '.items | length')
  ((npods == 0)) && break
  sleep 0.2
done
njobs=$(reljobs | jq '.items | length')
[[ $njobs == 0 && $npods == 0 ]] && ok "no release Job or pod left" || fail "$njobs release Jobs, $npods pods left"
relimg=$(kapi "/apis/apps/v1/namespaces/$rns/deployments/$rel" | jq -r "$c.image")
printf 'web: python3 app.py\nrelease: echo failing %s; exit 3\n' "$suffix" >"$repos/rel/Procfile"
git -C "$repos/rel" -c user.name=t -c user.email=t@l commit -qam failing
lid2=$(ctl --json deploy "git://127.0.0.1:$git_port/rel" --name "$rel" | jq -r .id)
play_release "$lid2" || fail "no release pod of the second $rel deployment appeared"
s=$(wait_final "$lid2")
msg=$(ctl --json status "$lid2" | jq -r '.error // ""')
[[ $prc == 3 && ($s == ROLLED_BACK || $s == FAILED) && $msg == *"release command failed (exit 3): failing $suffix"* ]] &&
  ok "a release command exiting 3 fails the deployment ($s): ${msg%%$'\n'*}" ||
  fail "the failing release ended $s (exit $prc): $msg"
[[ $(q "SELECT line FROM deployment_logs WHERE deployment_id = '$lid2' AND source = 'release' ORDER BY seq DESC LIMIT 1") == "==> release command exited 3" ]] &&
  ok "its log ends ==> release command exited 3" || fail "failed release log: $(q "SELECT line FROM deployment_logs WHERE deployment_id = '$lid2' AND source = 'release' ORDER BY seq")"
d=$(kapi "/apis/apps/v1/namespaces/$rns/deployments/$rel" || echo '{}')
[[ $(jq -r "$c.image == \"$relimg\" and .spec.template.metadata.labels[\"app-deployer.deployment\"] == \"$lid\" and .status.availableReplicas == 1" <<<"$d") == true ]] &&
  ok "the previous release's Deployment still serves, its image unchanged" ||
  fail "after the failed release: $(jq -c "{l: .spec.template.metadata.labels, s: .status, i: $c.image}" <<<"$d"), want $relimg"
for ((i = 0; i < 100; i++)); do
  npods=$(relpods | jq '.items | length')
  ((npods == 0)) && break
  sleep 0.2
done
njobs=$(reljobs | jq '.items | length')
[[ $njobs == 0 && $npods == 0 ]] && ok "no release Job or pod left after the failure" || fail "$njobs release Jobs, $npods pods left after the failure"
rm -f "$AD_K8S_DIR/node-logs/current.log"

echo "== more than the namespace quota: fails with the quota's message, compensated"
s=$(wait_final "$bid")
json=$(ctl --json status "$bid")
msg=$(jq -r '.error // ""' <<<"$json")
if [[ $s == ROLLED_BACK && $msg == *"exceeded quota"* ]]; then
  ok "$big ended ROLLED_BACK: ${msg:0:160}"
else
  fail "$big ended $s: $msg"
fi
code=$(kcode "/api/v1/namespaces/ad-$big")
[[ $code == 404 ]] && ok "its namespace is gone" || fail "namespace ad-$big: $code"

echo "== autoscaling in deployer.yaml: an HPA owns the replica count"
s=$(wait_final "$hid")
if [[ $s == EXPOSED ]]; then
  h=$(kapi "/apis/autoscaling/v2/namespaces/ad-$hpa/horizontalpodautoscalers/$hpa" || echo '{}')
  [[ $(jq -r '"\(.spec.minReplicas) \(.spec.maxReplicas) \(.spec.metrics[0].resource.target.averageUtilization)"' <<<"$h") == "2 4 60" ]] &&
    ok "HPA min 2 max 4 cpu 60%" || fail "HPA: $(jq -c .spec <<<"$h")"
else
  fail "$hpa ended $s: $(ctl --json status "$hid" | jq -r '.error // empty')"
fi

echo "== the deployer killed mid-rollout: one Deployment, nothing orphaned"
# Restarted with a fault point that _exit()s right after the objects are
# applied (a build with -DAD_FAULT_POINTS=ON, as scripts/test.sh makes);
# the redelivery (after the ack wait) applies them again and waits.
crash=k8s-crash-$suffix
run=$AD_STATE_DIR/run/services logs=$AD_STATE_DIR/logs/services
start_deployer() { # ENV...
  env "$@" AD_HTTP_PORT=0 nohup "$bin/addeployer" >>"$logs/deployer.log" 2>&1 &
  echo $! >"$run/deployer.pid"
}
ad_stop_pid deployer "$(cat "$run/deployer.pid")" 20
start_deployer AD_FAULT="k8s.after_apply@$crash:crash"
dpid=$(cat "$run/deployer.pid")
cid=$(ctl --json deploy "git://127.0.0.1:$git_port/py" --name "$crash" | jq -r .id)
for ((i = 0; i < 600; i++)); do ad_alive "$dpid" || break; sleep 0.5; done
if ad_alive "$dpid"; then
  fail "the deployer did not reach k8s.after_apply"
  ad_stop_pid deployer "$dpid" 20
else
  ok "the deployer died after applying $crash's objects"
fi
start_deployer
s=$(wait_final "$cid")
[[ $s == EXPOSED ]] && ok "$crash EXPOSED after the restart" || fail "$crash ended $s: $(ctl --json status "$cid" | jq -r '.error // empty')"
nd=$(kapi "/apis/apps/v1/namespaces/ad-$crash/deployments" | jq '.items | length')
nrs=$(kapi "/apis/apps/v1/namespaces/ad-$crash/replicasets" | jq '.items | length')
np=$(kapi "/api/v1/namespaces/ad-$crash/pods" | jq '[.items[] | select(.metadata.deletionTimestamp == null)] | length')
[[ "$nd $nrs $np" == "1 1 1" ]] && ok "one Deployment, one ReplicaSet, one pod" ||
  fail "after the crash: $nd Deployments, $nrs ReplicaSets, $np pods"
ctl --json rm "$cid" >/dev/null

echo "== a redeploy over the quota fails; the serving release keeps serving"
git -C "$repos/py" checkout -qb big
printf 'resources: { cpu: 500m, memory: 4Gi }\n' >"$repos/py/deployer.yaml"
git -C "$repos/py" add -A && git -C "$repos/py" -c user.name=t -c user.email=t@l commit -qm big
fid=$(ctl --json deploy "git://127.0.0.1:$git_port/py" --ref big --name "$app" | jq -r .id)
git -C "$repos/py" checkout -q main
s=$(wait_final "$fid")
msg=$(ctl --json status "$fid" | jq -r '.error // ""')
[[ $s == ROLLED_BACK && $msg == *"exceeded quota"* ]] && ok "the redeploy ended ROLLED_BACK (exceeded quota)" ||
  fail "the failed redeploy ended $s: $msg"
d=$(kapi "/apis/apps/v1/namespaces/$ns/deployments/$app" || echo '{}')
[[ $(jq -r ".spec.template.metadata.labels[\"app-deployer.deployment\"] == \"$id\" and .status.availableReplicas == 1 and $c.resources.limits.memory != \"4096Mi\"" <<<"$d") == true ]] &&
  ok "the Deployment is back on the first release, available" ||
  fail "after the failed redeploy: $(jq -c "{d: .spec.template.metadata.labels, s: .status, r: $c.resources}" <<<"$d")"

echo "== a one-line change rolls out as a new ReplicaSet with no unavailable replica; rollback"
dpath=/apis/apps/v1/namespaces/$ns/deployments/$app
image1=$(kapi "$dpath" | jq -r '.spec.template.spec.containers[0].image')
[[ $image1 =~ /$app@sha256:[0-9a-f]{64}$ ]] && ok "the Deployment runs the image by its registry digest ($image1)" ||
  fail "the Deployment's image is not pinned by digest: $image1"
rounds=1
[[ ${AD_K8S_MEASURE:-} == 1 ]] && rounds=5 && echo "(rollout_ms of $rounds redeploys, for docs/kubernetes.md)"
for ((r = 1; r <= rounds; r++)); do
  sed -i "s/Hello from python-stdlib[^\\\\]*/Hello from python-stdlib r$r/" "$repos/py/app.py"
  git -C "$repos/py" -c user.name=t -c user.email=t@l commit -qam "r$r"
  rid=$(ctl --json deploy "git://127.0.0.1:$git_port/py" --name "$app" | jq -r .id)
  # Watch the Deployment through the rollout: never fewer available
  # replicas than asked for (maxUnavailable 0). Bounded: 900 polls.
  dropped=0
  for ((i = 0; i < 900; i++)); do
    st=$(kapi "$dpath" | jq -c '{a: (.status.availableReplicas // 0), w: .spec.replicas, d: .spec.template.metadata.labels["app-deployer.deployment"], u: (.status.updatedReplicas // 0), t: (.status.replicas // 0), g: (.metadata.generation == .status.observedGeneration)}')
    (($(jq .a <<<"$st") < $(jq .w <<<"$st"))) && dropped=$((dropped + 1))
    [[ $(jq -r '.d == "'"$rid"'" and .g and .u == .w and .t == .w and .a == .w' <<<"$st") == true ]] && break
    case $(status_of "$rid") in ROLLED_BACK | FAILED) break ;; esac
    sleep 0.1
  done
  s=$(wait_final "$rid")
  [[ $s == EXPOSED ]] || fail "redeploy $r ended $s: $(ctl --json status "$rid" | jq -r '.error // empty')"
  ((dropped == 0)) || fail "redeploy $r: $dropped polls saw fewer available replicas than asked for"
  grep "\"$rid\"" "$AD_STATE_DIR/logs/services/deployer.log" | grep -o '"rollout_ms":[0-9]*' | tail -n1 || true
done
rs=$(kapi "/apis/apps/v1/namespaces/$ns/replicasets")
[[ $(jq --arg d "$rid" '[.items[] | select(.spec.template.metadata.labels["app-deployer.deployment"] == $d and .status.availableReplicas == 1)] | length' <<<"$rs") == 1 &&
  $(jq --arg d "$id" '[.items[] | select(.spec.template.metadata.labels["app-deployer.deployment"] == $d and .spec.replicas == 0)] | length' <<<"$rs") == 1 ]] &&
  ok "redeploy: a new ReplicaSet serves, the first one is scaled to 0, no poll saw an unavailable replica" ||
  fail "ReplicaSets: $(jq -c '[.items[] | {d: .spec.template.metadata.labels["app-deployer.deployment"], want: .spec.replicas, avail: .status.availableReplicas}]' <<<"$rs")"
image2=$(kapi "$dpath" | jq -r '.spec.template.spec.containers[0].image')
[[ $image2 != "$image1" ]] && ok "the redeploy runs a new image ($image2)" || fail "redeploy kept image $image1"
bid2=$(ctl --json rollback "$rid" | jq -r .id)
s=$(wait_final "$bid2")
image3=$(kapi "$dpath" | jq -r '.spec.template.spec.containers[0].image')
if [[ $s == EXPOSED && $(kapi "$dpath" | jq -r '.spec.template.metadata.labels["app-deployer.deployment"]') == "$bid2" ]]; then
  ok "rollback EXPOSED, the Deployment runs $image3"
else
  fail "rollback ended $s: $(ctl --json status "$bid2" | jq -r '.error // empty')"
fi
[[ $rounds == 1 ]] && { [[ $image3 == "$image1" ]] && ok "rollback runs the first release's image again" || fail "rollback runs $image3, want $image1"; }

echo "== an app chooses the engine in its deployer.yaml; it cannot move to the cluster later"
eng=k8s-eng-$suffix
engine() { curl -fsS --unix-socket "$AD_ENGINE_SOCKET" "http://d/v1.41$1"; }
eng_containers() {
  engine "/containers/json?all=1&filters=$(printf '{"label":["app-deployer.app=%s"]}' "$eng" | jq -sRr @uri)" | jq length
}
git_repo_from "$repos/eng" "$root/examples/python-stdlib"
printf 'backend: engine\n' >"$repos/eng/deployer.yaml"
git -C "$repos/eng" add -A && git -C "$repos/eng" -c user.name=t -c user.email=t@l commit -qm engine
eid=$(ctl --json deploy "git://127.0.0.1:$git_port/eng" --name "$eng" | jq -r .id)
s=$(wait_final "$eid")
if [[ $s == EXPOSED ]]; then
  url=$(ctl --json status "$eid" | jq -r .url)
  body=$(curl -fsS --max-time 10 "$url" || true)
  [[ $body == *"Hello from python-stdlib"* ]] && ok "backend: engine is served by the engine at $url" ||
    fail "$eng at $url answered '$body'"
else
  fail "$eng (backend: engine) ended $s: $(ctl --json status "$eid" | jq -r '.error // empty')"
fi
n=$(eng_containers)
[[ $n == 1 ]] && ok "$eng runs one engine container" || fail "$eng has $n engine containers, want 1"
code=$(kcode "/api/v1/namespaces/ad-$eng")
[[ $code == 404 ]] && ok "$eng has no namespace in the cluster" || fail "namespace ad-$eng: $code"
printf 'backend: kubernetes\n' >"$repos/eng/deployer.yaml"
git -C "$repos/eng" add -A && git -C "$repos/eng" -c user.name=t -c user.email=t@l commit -qm move
mid=$(ctl --json deploy "git://127.0.0.1:$git_port/eng" --name "$eng" | jq -r .id)
s=$(wait_final "$mid")
why=$(ctl --json status "$mid" | jq -r '.error // empty')
[[ $s == ROLLED_BACK && $why == *"does not move between backends"* ]] &&
  ok "moving a served app to the cluster is refused: $why" || fail "the move ended $s: $why"
body=$(curl -fsS --max-time 10 "$url" || true)
[[ $body == *"Hello from python-stdlib"* ]] && ok "the engine release keeps serving" ||
  fail "after the refused move $url answered '$body'"
code=$(kcode "/api/v1/namespaces/ad-$eng")
[[ $code == 404 ]] || fail "the refused move left namespace ad-$eng ($code)"
ctl --json rm "$eid" >/dev/null
s=$(wait_final "$eid")
n=$(eng_containers)
[[ $s == DESTROYED && $n == 0 ]] && ok "DELETE of the engine app leaves no container" ||
  fail "the engine app ended $s with $n containers"

echo "== DELETE leaves no object behind"
ctl --json rm "$wrk" >/dev/null # the app: every release, its Deployments
ctl --json rm "$rel" >/dev/null
for x in "$bid2" "$hid"; do ctl --json rm "$x" >/dev/null; done
for x in "$bid2" "$hid"; do
  s=$(wait_final "$x")
  [[ $s == DESTROYED ]] || fail "$x ended $s after DELETE"
done
s=$(wait_final "$cid")
[[ $s == DESTROYED ]] || fail "$cid ended $s after DELETE"
for ((i = 0; i < 300; i++)); do
  [[ $(kcode "/api/v1/namespaces/ad-$wrk") == 404 ]] && break
  sleep 0.5
done
for ((i = 0; i < 300; i++)); do
  [[ $(kcode "/api/v1/namespaces/$rns") == 404 ]] && break
  sleep 0.5
done
for a in "$app" "$hpa" "$crash" "$wrk" "$rel"; do
  code=$(kcode "/api/v1/namespaces/ad-$a")
  [[ $code == 404 ]] && ok "namespace ad-$a gone" || fail "namespace ad-$a: $code"
done
left=0
for list in /api/v1/pods /api/v1/services /api/v1/configmaps /api/v1/secrets \
  /apis/apps/v1/deployments /apis/apps/v1/replicasets /apis/networking.k8s.io/v1/ingresses \
  /apis/networking.k8s.io/v1/networkpolicies /apis/autoscaling/v2/horizontalpodautoscalers \
  /apis/batch/v1/jobs; do
  n=$(kapi "$list?labelSelector=app.kubernetes.io/name%20in%20($app,$hpa,$big,$crash,$wrk,$rel)" | jq '.items | length')
  n=$((n + $(kapi "$list?labelSelector=app-deployer.app%20in%20($app,$hpa,$big,$crash,$wrk)" | jq '.items | length')))
  left=$((left + n))
  ((n == 0)) || fail "$list: $n objects of the test's apps left"
done
((left == 0)) && ok "no object of the test's apps left anywhere in the cluster"

echo "$checks passed, $failures failed"
((failures == 0))
