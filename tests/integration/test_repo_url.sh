#!/usr/bin/env bash
# Credentials in repository URLs at the API (issue 13) against a real adapi
# (subprocess on a free port) and the stack's PostgreSQL:
#  - POST /deployments with https://user:token@host/... is accepted; the
#    reply, GET /deployments/{id} and the list show the password as ***;
#  - the deployment_requests row and the outbox event hold it sealed, never
#    in clear, and so does everything the API logs;
#  - an Idempotency-Key replays the same credential (200) and refuses
#    another (409);
#  - without secrets.key such a URL is refused (500, the reason), and a
#    password in the sealed form is refused (400).
# Usage: test_repo_url.sh BIN_DIR
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../support/adapi.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/adapi.sh"
apitest_init repo-url "${1:-}"
app=priv-$run
apitest_cleanup_sql="DELETE FROM deployment_requests WHERE app_name LIKE '%-$run';"
token=ghp_Tok3n$run$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
# post BODY [IDEMPOTENCY_KEY]: sets code, the reply in $work/r.json.
post() {
  local h=()
  [[ -n ${2:-} ]] && h=(-H "Idempotency-Key: $2")
  code=$(curl -s -o "$work/r.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    "${h[@]}" --data "$1" "$api/deployments")
}

url="https://alice:$token@example.com/acme/private.git"
apitest_api_up "$work/api.log" AD_SECRETS_KEY="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
post "{\"repo_url\":\"$url\",\"name\":\"$app\"}" "key-$run"
[[ $code == 202 ]] || fail "a URL with a credential: HTTP $code $(cat "$work/r.json")"
id=$(jq -r .id "$work/r.json")
[[ $(jq -r .repo_url "$work/r.json") == "https://alice:***@example.com/acme/private.git" ]] ||
  fail "the reply shows: $(jq -r .repo_url "$work/r.json")"
row=$(sql "SELECT repo_url FROM deployment_requests WHERE id = '$id'")
[[ $row == https://alice:sealed%3Av2%3A*@example.com/acme/private.git ]] || fail "the request row holds: $row"
[[ $row != *"$token"* ]] || fail "the request row holds the token in clear"
n=$(sql "SELECT count(*) FROM outbox WHERE position(convert_to('$token', 'UTF8') in payload) > 0")
[[ $n == 0 ]] || fail "$n outbox event(s) hold the token in clear"
n=$(sql "SELECT count(*) FROM outbox WHERE position(convert_to('$app', 'UTF8') in payload) > 0 AND position(convert_to('alice:sealed%3Av2%3A', 'UTF8') in payload) > 0")
[[ $n == 1 ]] || fail "the event does not carry the sealed URL ($n)"
curl -s "$api/deployments/$id" >"$work/get.json"
[[ $(jq -r .repo_url "$work/get.json") == "https://alice:***@example.com/acme/private.git" ]] ||
  fail "GET /deployments/{id} shows: $(jq -r .repo_url "$work/get.json")"
curl -s "$api/deployments?limit=100" >"$work/list.json"
grep -qF "$token" "$work/list.json" && fail "the list shows the token"
grep -qF "sealed%3A" "$work/list.json" "$work/get.json" && fail "a reply shows the sealed form"
echo "ok: accepted, shown as ***, stored and published sealed"

# The same request again: the same deployment; another credential: 409.
post "{\"repo_url\":\"$url\",\"name\":\"$app\"}" "key-$run"
[[ $code == 200 && $(jq -r .id "$work/r.json") == "$id" ]] || fail "a replay: HTTP $code $(cat "$work/r.json")"
[[ $(jq -r .repo_url "$work/r.json") == *"alice:***@"* ]] || fail "a replay shows: $(jq -r .repo_url "$work/r.json")"
post "{\"repo_url\":\"https://alice:other$token@example.com/acme/private.git\",\"name\":\"$app\"}" "key-$run"
[[ $code == 409 ]] || fail "another credential under the same Idempotency-Key: HTTP $code"
# A password in the sealed form is not taken from a client.
post "{\"repo_url\":\"https://alice:sealed%3Av2%3Aabcd@example.com/acme/private.git\",\"name\":\"$app\"}"
[[ $code == 400 ]] || fail "a sealed password from a client: HTTP $code $(cat "$work/r.json")"
apitest_stop
if grep -qF "$token" "$work/api.log"; then fail "the API's log holds the token"; fi
echo "ok: Idempotency-Key replays compare the credential; a sealed password refused; nothing logged"

apitest_api_up "$work/api2.log" AD_SECRETS_KEY=
post "{\"repo_url\":\"$url\",\"name\":\"$app\"}"
[[ $code == 500 && $(jq -r .error.message "$work/r.json") == *"credentials in a repository URL"* ]] ||
  fail "no secrets.key: HTTP $code $(cat "$work/r.json")"
apitest_stop
echo "ok: without secrets.key a credential is refused"
apitest_finish
