#!/usr/bin/env bash
# The platform's own chart (deploy/helm/app-deployer) on the test cluster
# (scripts/k8s.sh), with Helm built from helm.sh/helm/v3 through the Go
# module proxy: `helm lint` passes, `helm install --wait` makes every
# service's Deployment available (on kwok nodes: the pods are scheduled and
# reported ready, the images are not run), `helm uninstall` removes them.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${AD_STATE_DIR:?start the stack first (scripts/stack.sh up; . .stack/env)}"
. "$root/scripts/lib.sh"
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
ns=ad-platform-$(od -An -tx1 -N3 /dev/urandom | tr -d ' \n')
cleanup() {
  [[ -n ${helm:-} ]] && "$helm" uninstall ad -n "$ns" --kubeconfig "$AD_K8S_KUBECONFIG" --wait >/dev/null 2>&1 || true
  [[ -n ${AD_K8S_SERVER:-} ]] && kapi -X DELETE "/api/v1/namespaces/$ns" >/dev/null 2>&1 || true
  [[ ${AD_K8S_KEEP:-} == 1 ]] || "$root/scripts/k8s.sh" down >/dev/null 2>&1 || true
}
trap cleanup EXIT

helm=$("$root/scripts/k8s.sh" helm)
"$root/scripts/k8s.sh" up
eval "$("$root/scripts/k8s.sh" env)"
kapi() { # [CURL ARGS...] PATH
  local path=${*: -1}
  curl -sS --fail-with-body --cacert "$AD_K8S_CA" \
    -H "Authorization: Bearer $(cat "$AD_K8S_TOKEN_FILE")" "${@:1:$#-1}" "$AD_K8S_SERVER$path"
}
chart=$root/deploy/helm/app-deployer

if "$helm" lint "$chart" >"$AD_STATE_DIR/k8s/helm-lint.log" 2>&1; then
  ok "helm lint: $(tail -n 1 "$AD_STATE_DIR/k8s/helm-lint.log")"
else
  fail "helm lint: $(cat "$AD_STATE_DIR/k8s/helm-lint.log")"
fi

# The Secret the chart expects (values.yaml existingSecret).
kapi -X POST -H 'Content-Type: application/json' \
  --data "{\"metadata\":{\"name\":\"$ns\"}}" /api/v1/namespaces >/dev/null
kapi -X POST -H 'Content-Type: application/json' --data '{"metadata":{"name":"app-deployer"},
  "stringData":{"database-url":"postgresql://ad@postgres/ad","secrets-key":"test","api-tokens":""}}' \
  "/api/v1/namespaces/$ns/secrets" >/dev/null
t0=$SECONDS
if "$helm" install ad "$chart" -n "$ns" --kubeconfig "$AD_K8S_KUBECONFIG" --wait --timeout 5m \
  >"$AD_STATE_DIR/k8s/helm-install.log" 2>&1; then
  ok "helm install --wait in $((SECONDS - t0)) s"
else
  fail "helm install: $(tail -n 20 "$AD_STATE_DIR/k8s/helm-install.log")"
fi
deps=$(kapi "/apis/apps/v1/namespaces/$ns/deployments")
n=$(jq '.items | length' <<<"$deps")
avail=$(jq '[.items[] | select(.status.availableReplicas == .spec.replicas and .status.updatedReplicas == .spec.replicas)] | length' <<<"$deps")
if ((n >= 6 && avail == n)); then
  ok "$avail of $n Deployments available: $(jq -r '[.items[] | "\(.metadata.name) \(.status.availableReplicas)/\(.spec.replicas)"] | join(", ")' <<<"$deps")"
else
  fail "Deployments: $(jq -c '[.items[] | {n: .metadata.name, want: .spec.replicas, avail: .status.availableReplicas}]' <<<"$deps")"
fi
if "$helm" uninstall ad -n "$ns" --kubeconfig "$AD_K8S_KUBECONFIG" --wait >/dev/null 2>&1; then
  left=$(kapi "/apis/apps/v1/namespaces/$ns/deployments" | jq '.items | length')
  ((left == 0)) && ok "helm uninstall: no Deployment left" || fail "helm uninstall left $left Deployments"
else
  fail "helm uninstall failed"
fi
helm=
echo "$checks passed, $failures failed"
((failures == 0))
