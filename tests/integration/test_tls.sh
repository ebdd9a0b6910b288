#!/usr/bin/env bash
# HTTPS (issue 13) against a real adapi and the stack's PostgreSQL, with a
# certificate made here with openssl (EC P-256, for 127.0.0.1):
#  - curl --cacert gets the API over TLS 1.2 and 1.3; TLS 1.1 and plain
#    HTTP to the TLS port are refused; curl without the CA refuses the
#    certificate;
#  - adctl over https:// with ADCTL_CA_FILE, and refusing the API without
#    it;
#  - a bind reachable from the network without TLS does not start (exit
#    2, the reason named) unless api.behind_tls_proxy is true; one file of
#    the two, or a file that is no PEM, is refused.
# Usage: test_tls.sh BIN_DIR
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../support/adapi.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/adapi.sh"
apitest_init tls "${1:-}"
# start_api LOG [VAR=VALUE...]: API keys only; sets port ("" when it did
# not start).
start_api() {
  local log=$1
  shift
  apitest_api "$log" AD_API_TOKENS= AD_API_REQUIRE_AUTH=true "$@"
  port=$api_port
}

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null || { echo "FAIL: openssl req" >&2; exit 1; }
"$bin/adapi" admin create-team "$team" 2>/dev/null || fail "create-team"
key=$("$bin/adapi" admin create-token --team "$team" --role viewer --name v 2>/dev/null)

start_api "$work/api.log" AD_API_TLS_CERT_FILE="$work/cert.pem" AD_API_TLS_KEY_FILE="$work/key.pem"
[[ -n $port ]] || { tail -n 5 "$work/api.log" >&2; echo "FAIL: adapi with TLS did not start" >&2; exit 1; }
url=https://127.0.0.1:$port
auth=(-H "Authorization: Bearer $key")
out=$(curl -s --cacert "$work/cert.pem" "${auth[@]}" "$url/whoami") || fail "curl over TLS: exit $?"
[[ $(jq -r .team <<<"$out" 2>/dev/null) == "$team" ]] || fail "whoami over TLS: $out"
for v in 1.2 1.3; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/cert.pem" --tlsv"$v" --tls-max "$v" \
    "${auth[@]}" "$url/whoami" || true)
  [[ $code == 200 ]] || fail "TLS $v: HTTP $code"
done
# TLS 1.1 offered by a client that allows it (SECLEVEL=0): the server
# closes the handshake; the same client gets TLS 1.2.
rc=0
out=$(openssl s_client -connect "127.0.0.1:$port" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' </dev/null 2>&1) || rc=$?
[[ $rc != 0 && $out == *"no peer certificate available"* ]] || fail "TLS 1.1 was accepted: $out"
out=$(openssl s_client -connect "127.0.0.1:$port" -tls1_2 -cipher 'DEFAULT:@SECLEVEL=0' </dev/null 2>&1) || true
[[ $out == *"Protocol  : TLSv1.2"* ]] || fail "openssl s_client TLS 1.2: $out"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/healthz" || true)
[[ $code != 200 ]] || fail "plain HTTP to the TLS port answered 200"
rc=0
curl -s -o /dev/null "$url/healthz" 2>/dev/null || rc=$?
[[ $rc == 60 ]] || fail "curl without the CA: exit $rc, want 60 (certificate refused)"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/cert.pem" "$url/healthz")
[[ $code == 200 ]] || fail "/healthz over TLS: $code"
echo "ok: curl over TLS 1.2 and 1.3 with --cacert; TLS 1.1, plain HTTP and an unknown CA refused"

out=$(ADCTL_API=$url ADCTL_CA_FILE=$work/cert.pem ADCTL_TOKEN=$key "$bin/adctl" apps 2>&1) ||
  fail "adctl over TLS: $out"
rc=0
out=$(env -u ADCTL_CA_FILE ADCTL_API="$url" ADCTL_TOKEN="$key" HOME="$work" "$bin/adctl" apps 2>&1) || rc=$?
[[ $rc == 1 && $out == *"cannot reach the API"* ]] || fail "adctl without the CA: rc $rc $out"
echo "ok: adctl over https:// with ADCTL_CA_FILE, refused without it"

# A public bind: TLS, a TLS-terminating proxy, or no start.
rc=0
out=$(AD_HTTP_BIND=0.0.0.0 AD_HTTP_PORT=0 AD_API_TOKENS='' AD_API_REQUIRE_AUTH=true timeout 30 "$bin/adapi" 2>&1) || rc=$?
[[ $rc == 2 && $out == *"http.bind is 0.0.0.0 but the API serves plain HTTP"*"api.behind_tls_proxy"* ]] ||
  fail "plain HTTP on 0.0.0.0: rc $rc: $(tail -n 2 <<<"$out")"
start_api "$work/proxy.log" AD_HTTP_BIND=0.0.0.0 AD_API_BEHIND_TLS_PROXY=true
[[ -n $port ]] || fail "api.behind_tls_proxy on 0.0.0.0 did not start: $(tail -n 2 "$work/proxy.log")"
start_api "$work/public.log" AD_HTTP_BIND=0.0.0.0 AD_API_TLS_CERT_FILE="$work/cert.pem" AD_API_TLS_KEY_FILE="$work/key.pem"
[[ -n $port ]] || fail "TLS on 0.0.0.0 did not start: $(tail -n 2 "$work/public.log")"
rc=0
out=$(AD_HTTP_PORT=0 AD_API_TLS_CERT_FILE="$work/cert.pem" timeout 30 "$bin/adapi" 2>&1) || rc=$?
[[ $rc == 2 && $out == *"go together"* ]] || fail "a certificate without a key: rc $rc: $(tail -n 2 <<<"$out")"
rc=0
out=$(AD_HTTP_PORT=0 AD_API_TLS_CERT_FILE="$work/api.log" AD_API_TLS_KEY_FILE="$work/key.pem" timeout 30 "$bin/adapi" 2>&1) || rc=$?
[[ $rc != 0 && $out == *"not a PEM file"* ]] || fail "a certificate that is no PEM: rc $rc: $(tail -n 2 <<<"$out")"
grep -q "PRIVATE KEY" "$work/api.log" "$work/public.log" && fail "the log shows the key"
echo "ok: plain HTTP on a public bind refused, api.behind_tls_proxy, TLS on a public bind, bad files"

apitest_finish
