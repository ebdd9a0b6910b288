#!/usr/bin/env bash
# JWTs (POST /auth/token, issue 13) against real adapi processes (free
# ports) and the stack's PostgreSQL:
#  - an API key is exchanged for a JWT (HS256, `kid` header, issuer,
#    audience, 15 minutes); the JWT carries the key's team and role;
#  - 401 with the reason: bad signature, malformed, unknown key id (a
#    retired signing key), wrong audience, expired (api.jwt_ttl_s: 2);
#  - rotation: a token of the previous key, still listed, is accepted
#    and new tokens are signed with the first key; once that key leaves
#    the list its tokens are refused;
#  - revoking the API key ends its JWTs on the next request;
#  - a JWT cannot mint JWTs, an operator token cannot either;
#  - adctl with a key from adctl login sends JWTs (cached, mode 0600),
#    renews an expired one and one the API no longer accepts.
# Usage: test_jwt.sh BIN_DIR
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../support/adapi.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/adapi.sh"
apitest_init jwt "${1:-}"
secret() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# start_api LOG [VAR=VALUE...]: with the operator token; sets api (its
# URL) and api_pid.
start_api() {
  local log=$1
  shift
  apitest_api_up "$log" AD_API_TOKENS="ops:$(printf '%s' "$optoken" | sha256sum | cut -d' ' -f1)" "$@"
}

# call CREDENTIAL METHOD PATH: sets code, the reply in $work/r.json.
call() {
  code=$(curl -s -o "$work/r.json" -w '%{http_code}' -X "$2" -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' ${4:+--data "$4"} "$api$3")
}
msg() { jq -r '.error.message // empty' "$work/r.json" 2>/dev/null || true; }
expect() { # WANT WHAT
  [[ $code == "$1" ]] || fail "$2: HTTP $code, want $1: $(head -c 300 "$work/r.json")"
}
mint() { # KEY: prints the JWT
  call "$1" POST /auth/token '{}'
  [[ $code == 200 ]] || { fail "POST /auth/token: HTTP $code $(cat "$work/r.json")"; return 0; }
  jq -r .token "$work/r.json"
}
b64url_json() { # PART: the JSON of a base64url part
  local s=$1
  s=${s//-/+}
  s=${s//_//}
  while (($(printf %s "$s" | wc -c) % 4)); do s=$s=; done
  printf %s "$s" | base64 -d
}

optoken=$(secret)
"$bin/adapi" admin create-team "$team" 2>/dev/null || fail "create-team"
dkey=$("$bin/adapi" admin create-token --team "$team" --role deployer --name d 2>/dev/null)
vkey=$("$bin/adapi" admin create-token --team "$team" --role viewer --name v 2>/dev/null)
akey=$("$bin/adapi" admin create-token --team "$team" --role admin --name a 2>/dev/null)
s1=$(secret) s2=$(secret) s3=$(secret)

# ---- API 1: one key, k1 ----
start_api "$work/api1.log" AD_API_JWT_KEYS="k1:$s1"
api1=$api
call "$dkey" POST /auth/token '{}'
expect 200 "POST /auth/token with a deployer key"
jq -e --arg t "$team" '.token_type == "Bearer" and .expires_in == 900 and .kid == "k1" and .team == $t and .role == "deployer" and (.expires_at | test("Z$"))' \
  "$work/r.json" >/dev/null || fail "the token reply: $(cat "$work/r.json")"
j1=$(jq -r .token "$work/r.json")
IFS=. read -r h p s <<<"$j1"
[[ -n $s ]] || fail "a JWT has three parts: $j1"
b64url_json "$h" | jq -e '.alg == "HS256" and .kid == "k1"' >/dev/null || fail "JWT header: $(b64url_json "$h")"
b64url_json "$p" | jq -e --arg t "$team" '.iss == "app-deployer" and .aud == "app-deployer-api" and .team == $t and .role == "deployer" and .sub == ($t + "/d") and (.exp - .iat) == 900 and (.key_id | length) == 36' \
  >/dev/null || fail "JWT claims: $(b64url_json "$p")"
call "$j1" GET /whoami
expect 200 "whoami with a JWT"
[[ $(jq -r '.team + " " + .role + " " + .principal' "$work/r.json") == "$team deployer $team/d" ]] ||
  fail "whoami with a JWT: $(cat "$work/r.json")"
grep -q '"route":"whoami".*"auth":"jwt"' "$work/api1.log" || fail "the request log does not say a JWT was used"
# The role comes from the claims: a viewer's JWT cannot change.
jv=$(mint "$vkey")
call "$jv" POST /deployments '{"repo_url":"https://example.com/a/b.git","name":"x-'"$run"'"}'
expect 403 "a viewer's JWT deploys"
call "$jv" GET /apps
expect 200 "a viewer's JWT reads"
# Refusals, each with its reason.
call "$j1" POST /auth/token '{}'
expect 403 "a JWT mints a JWT"
call "$optoken" POST /auth/token '{}'
expect 403 "an operator token mints a JWT"
# The first character of the signature changed (its last one carries only 4
# bits, and 1 in 16 signatures already ends in the replacement).
alt=A
[[ ${s:0:1} != A ]] || alt=B
call "${h}.${p}.${alt}${s:1}" GET /whoami
[[ $code == 401 && $(msg) == *"bad token signature"* ]] || fail "an altered signature: $code $(msg)"
forged=$(b64url_json "$p" | jq -c '.role = "admin"' | base64 -w0 | tr '+/' '-_' | tr -d =)
call "${h}.${forged}.${s}" GET /whoami
[[ $code == 401 && $(msg) == *"bad token signature"* ]] || fail "a forged role: $code $(msg)"
call "eyJhbGciOiJIUzI1NiJ9.e30" GET /whoami
[[ $code == 401 ]] || fail "a token of two parts: $code"
call "eyJ%%%.e30.xx" GET /whoami
[[ $code == 401 && $(msg) == *"malformed token"* ]] || fail "a malformed token: $code $(msg)"
none=$(printf '{"alg":"none","kid":"k1"}' | base64 -w0 | tr '+/' '-_' | tr -d =)
call "${none}.${p}." GET /whoami
[[ $code == 401 && $(msg) == *"HS256 only"* ]] || fail "alg none: $code $(msg)"
grep -q "$j1" "$work/api1.log" && fail "a JWT appears in the API's log"
echo "ok: POST /auth/token, claims, team and role from the JWT, bad signature, malformed, alg none"

# Revocation: the key's JWTs stop on the next request.
jr=$(mint "$vkey")
call "$jr" GET /whoami
expect 200 "a JWT before its key is revoked"
vid=$(sql "SELECT id FROM api_keys WHERE name = 'v' AND team_id = (SELECT id FROM teams WHERE name = '$team')")
call "$akey" DELETE /tokens/"$vid"
expect 200 "revoke the viewer key"
call "$jr" GET /whoami
[[ $code == 401 && $(msg) == *"was revoked"* ]] || fail "a revoked key's JWT: $code $(msg)"
echo "ok: revoking a key ends its JWTs at once"

# ---- rotation: k2 signs, k1 still verifies; then k1 retired ----
apitest_stop
start_api "$work/api2.log" AD_API_JWT_KEYS="k2:$s2,k1:$s1"
call "$j1" GET /whoami
expect 200 "a token of the previous key (k1), still listed"
j2=$(mint "$dkey")
[[ $(b64url_json "${j2%%.*}" | jq -r .kid) == k2 ]] || fail "new tokens are not signed with k2"
apitest_stop
start_api "$work/api3.log" AD_API_JWT_KEYS="k2:$s2"
call "$j2" GET /whoami
expect 200 "a token of k2 after k1 left the list"
call "$j1" GET /whoami
[[ $code == 401 && $(msg) == *"unknown signing key id \`k1\`"* ]] || fail "a token of the retired key: $code $(msg)"
apitest_stop
# Another audience (another platform's API): refused, and says so.
start_api "$work/api4.log" AD_API_JWT_KEYS="k2:$s2" AD_API_JWT_AUDIENCE=other-api
call "$j2" GET /whoami
[[ $code == 401 && $(msg) == *"wrong token audience"* ]] || fail "another audience: $code $(msg)"
apitest_stop
# JWTs off: POST /auth/token says so; keys work as before.
start_api "$work/api5.log"
call "$dkey" POST /auth/token '{}'
[[ $code == 404 && $(jq -r .error.code "$work/r.json") == jwt_disabled ]] || fail "JWTs off: $code $(cat "$work/r.json")"
call "$j2" GET /whoami
expect 401 "a JWT when JWTs are off"
apitest_stop
# A bad api.jwt_keys stops the API with the reason.
rc=0
AD_HTTP_PORT=0 AD_API_JWT_KEYS="k1:short" timeout 20 "$bin/adapi" 2>"$work/bad.log" || rc=$?
want="api.jwt_keys: key \`k1\`: a secret is 32"
if [[ $rc == 0 ]] || ! grep -qF "$want" "$work/bad.log"; then
  fail "a short secret: rc $rc $(tail -n 2 "$work/bad.log")"
fi
grep -q short "$work/bad.log" && fail "the log shows a secret"
echo "ok: rotation (previous key accepted, retired key refused), audience, JWTs off, bad keys"

# ---- expiry ----
start_api "$work/api6.log" AD_API_JWT_KEYS="k2:$s2" AD_API_JWT_TTL_S=2
api6=$api
je=$(mint "$dkey")
call "$je" GET /whoami
expect 200 "a 2-second token at once"
sleep 3
call "$je" GET /whoami
[[ $code == 401 && $(msg) == *"token expired at"* ]] || fail "an expired token: $code $(msg)"
echo "ok: expiry"

# ---- adctl ----
adctl=$bin/adctl
export HOME=$work/home XDG_CONFIG_HOME=
unset ADCTL_TOKEN
mkdir -p "$HOME"
# The API of the login restarts later on the same port with other keys.
api=$api1
start_api "$work/api7.log" AD_API_JWT_KEYS="k1:$s1"
port7=${api##*:}
export ADCTL_API=$api
printf '%s\n' "$dkey" | "$adctl" login >/dev/null || fail "adctl login"
"$adctl" apps >/dev/null || fail "adctl apps with the saved key"
"$adctl" apps >/dev/null || fail "adctl apps again"
cache=$HOME/.config/adctl/jwt
[[ -f $cache && $(stat -c %a "$cache") == 600 ]] || fail "the JWT cache: $(stat -c %a "$cache" 2>&1)"
[[ $(grep -c '"route":"auth_token".*"status":200' "$work/api7.log") == 1 ]] ||
  fail "adctl minted $(grep -c '"route":"auth_token"' "$work/api7.log") tokens for two commands, want 1"
[[ $(grep -c '"route":"apps_list".*"auth":"jwt"' "$work/api7.log") == 2 ]] ||
  fail "adctl apps did not send the JWT: $(grep apps_list "$work/api7.log")"
grep -q "$dkey" "$cache" && fail "the JWT cache holds the key"
apitest_stop
start_api "$work/api8.log" AD_HTTP_PORT="$port7" AD_API_JWT_KEYS="k3:$s3"
out=$("$adctl" apps 2>&1) || fail "adctl after the signing keys changed: $out"
grep -q '"route":"auth_token".*"status":200' "$work/api8.log" || fail "adctl did not renew a refused JWT"
apitest_stop
# An expired token is renewed.
out=$(ADCTL_API=$api6 "$adctl" apps 2>&1) || fail "adctl on the 2-second API: $out"
sleep 3
out=$(ADCTL_API=$api6 "$adctl" apps 2>&1) || fail "adctl after its JWT expired: $out"
[[ $(grep -c '"route":"auth_token".*"status":200' "$work/api6.log") == 3 ]] ||
  fail "adctl did not renew the expired token ($(grep -c auth_token "$work/api6.log") mints)"
# ADCTL_TOKEN is sent as it is.
out=$(ADCTL_API=$api6 ADCTL_TOKEN=$akey "$adctl" tokens ls 2>&1) || fail "ADCTL_TOKEN: $out"
# The saved key revoked: the cached JWT stops, adctl says why.
did=$(sql "SELECT id FROM api_keys WHERE name = 'd' AND team_id = (SELECT id FROM teams WHERE name = '$team')")
api=$api6
call "$akey" DELETE /tokens/"$did"
expect 200 "revoke the deployer key"
rc=0
out=$(ADCTL_API=$api6 "$adctl" apps 2>&1) || rc=$?
[[ $rc == 1 && $out == *revoked* ]] || fail "adctl with a revoked saved key: rc $rc $out"
echo "ok: adctl sends JWTs, caches them (0600), renews refused and expired ones"

apitest_finish
