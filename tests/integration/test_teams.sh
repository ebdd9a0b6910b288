#!/usr/bin/env bash
# Teams, roles, API keys and isolation (issue 13) against a real adapi
# (subprocess on a free port) and the stack's PostgreSQL:
#  - adapi admin create-team / create-user / create-token / assign-app;
#  - 401 without a key, with an unknown, malformed, revoked or expired key;
#  - two teams (red, blue), three roles each: every route and verb answers
#    another team's deployment or app with 404, a viewer's change with
#    403, and the owner's own requests as the route does;
#  - a deployment under another team's app name: 409 "another team";
#  - lists show the caller's team's things only; an operator sees all;
#  - Idempotency-Keys are per team;
#  - /tokens for team admins (create, list, revoke at once), adctl tokens
#    and adctl login (config file mode 0600, ADCTL_TOKEN wins);
#  - the audit log (GET /audit): per team, refusals and operators' changes;
#  - api.require_auth, and limits.max_deployments_per_user (live apps);
#  - no key ever appears in the API's log or the audit log.
# The coordinator is not running: the rows it would write are written here.
# Usage: test_teams.sh BIN_DIR
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../support/adapi.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/adapi.sh"
apitest_init teams "${1:-}"
red=red-$run blue=blue-$run
rapp=rapp-$run bapp=bapp-$run
apitest_cleanup_sql="
DELETE FROM deployment_logs WHERE deployment_id IN (SELECT id FROM deployments WHERE app_name LIKE '%-$run');
DELETE FROM releases WHERE app_name LIKE '%-$run';
DELETE FROM deployments WHERE app_name LIKE '%-$run';
DELETE FROM deployment_requests WHERE app_name LIKE '%-$run';
DELETE FROM apps WHERE name LIKE '%-$run';"

# ---- bootstrap from the command line ----
admin() { "$bin/adapi" admin "$@"; }
admin create-team "$red" 2>/dev/null || fail "create-team $red"
admin create-team "$blue" 2>/dev/null || fail "create-team $blue"
rc=0
admin create-team "$red" 2>"$work/err" || rc=$?
[[ $rc == 1 && $(cat "$work/err") == *"exists already"* ]] || fail "create-team twice: rc $rc $(cat "$work/err")"
rc=0
admin create-team "Bad_Name" 2>/dev/null || rc=$?
[[ $rc == 2 ]] || fail "create-team with a bad name: rc $rc, want 2"
rc=0
admin create-token --team "$red" --role superuser --name x 2>"$work/err" >/dev/null || rc=$?
[[ $rc == 2 && $(cat "$work/err") == *"unknown role"* ]] || fail "a bad role: rc $rc $(cat "$work/err")"
rc=0
admin create-token --team "nope-$run" --role viewer --name x 2>"$work/err" >/dev/null || rc=$?
[[ $rc == 1 && $(cat "$work/err") == *"no team"* ]] || fail "an unknown team: rc $rc $(cat "$work/err")"
declare -A key
for t in red blue; do
  team=${!t}
  for role in admin deployer viewer; do
    key[$t-$role]=$(admin create-token --team "$team" --role "$role" --name "$role-key" 2>/dev/null) ||
      fail "create-token $team $role"
    [[ ${key[$t-$role]} =~ ^adk_[0-9a-f]{64}$ ]] || fail "key format: ${key[$t-$role]}"
  done
done
# Only the hash is stored.
n=$(sql "SELECT count(*) FROM api_keys WHERE hash = '$(printf '%s' "${key[red-admin]}" | sha256sum | cut -d' ' -f1)'")
[[ $n == 1 ]] || fail "the key's SHA-256 is not stored"
n=$(sql "SELECT count(*) FROM api_keys WHERE hash = '${key[red-admin]}' OR prefix = '${key[red-admin]}'")
[[ $n == 0 ]] || fail "the key itself is stored"
# A user's key is capped by the user's role in the team.
admin create-user "carol-$run" --team "$red" --role viewer 2>/dev/null || fail "create-user"
rc=0
admin create-token --team "$red" --role deployer --name carol --user "carol-$run" 2>"$work/err" >/dev/null || rc=$?
[[ $rc == 1 && $(cat "$work/err") == *"viewer"* ]] || fail "a user's key above their role: rc $rc $(cat "$work/err")"
key[red-carol]=$(admin create-token --team "$red" --role viewer --name carol --user "carol-$run" --expires 1d 2>/dev/null) ||
  fail "create-token --user"
echo "ok: adapi admin create-team, create-user, create-token"

# ---- the API, with an operator token (api.tokens) ----
optoken=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
apitest_api_up "$work/api.log" AD_API_TOKENS="ops:$(printf '%s' "$optoken" | sha256sum | cut -d' ' -f1)" \
  AD_API_ALLOW_LOCAL_SOURCES=true AD_SECRETS_KEY="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# call WHO METHOD PATH [BODY]: sets code (and the reply in $work/r.json).
call() {
  local who=$1 method=$2 path=$3 body=${4:-} auth=()
  case $who in
    none) ;;
    ops) auth=(-H "Authorization: Bearer $optoken") ;;
    raw:*) auth=(-H "Authorization: Bearer ${who#raw:}") ;;
    *) auth=(-H "Authorization: Bearer ${key[$who]}") ;;
  esac
  if [[ -n $body ]]; then
    code=$(curl -s -o "$work/r.json" -w '%{http_code}' -X "$method" "${auth[@]}" \
      -H 'Content-Type: application/json' --data "$body" "$api$path")
  else
    code=$(curl -s -o "$work/r.json" -w '%{http_code}' -X "$method" "${auth[@]}" --max-time 5 "$api$path" || true)
  fi
}
msg() { jq -r '.error.message // empty' "$work/r.json" 2>/dev/null || true; }
expect() { # WANT WHAT
  [[ $code == "$1" ]] || fail "$2: HTTP $code, want $1: $(head -c 300 "$work/r.json")"
}

# 401s, each with a reason.
call none GET /deployments
expect 401 "no key"
call raw:adk_0000000000000000000000000000000000000000000000000000000000000000 GET /deployments
expect 401 "an unknown key"
[[ $(msg) == *"unknown API key"* ]] || fail "unknown key message: $(msg)"
call raw:adk_short GET /deployments
expect 401 "a malformed key"
[[ $(msg) == *"malformed"* ]] || fail "malformed key message: $(msg)"
call red-viewer GET /whoami
expect 200 "whoami"
[[ $(jq -r '.team + " " + .role + " " + .principal' "$work/r.json") == "$red viewer $red/viewer-key" ]] ||
  fail "whoami: $(cat "$work/r.json")"
call red-carol GET /whoami
[[ $code == 200 && $(jq -r .role "$work/r.json") == viewer ]] || fail "a user's key: $code $(cat "$work/r.json")"
[[ -n $(sql "SELECT last_used_at FROM api_keys WHERE name = 'viewer-key' AND team_id = (SELECT id FROM teams WHERE name = '$red')") ]] ||
  fail "last_used_at is not set after a request"
echo "ok: 401 without, with an unknown or a malformed key; whoami; last_used_at"

# ---- deploying: ownership of names ----
call red-viewer POST /deployments "{\"repo_url\":\"https://example.com/acme/r.git\",\"name\":\"$rapp\"}"
expect 403 "a viewer deploys"
[[ $(msg) == *"deployer role"* ]] || fail "403 message: $(msg)"
call red-deployer POST /deployments "{\"repo_url\":\"https://example.com/acme/r.git\",\"name\":\"$rapp\"}"
expect 202 "red deploys $rapp"
rid=$(jq -r .id "$work/r.json")
call blue-deployer POST /deployments "{\"repo_url\":\"https://example.com/acme/b.git\",\"name\":\"$bapp\"}"
expect 202 "blue deploys $bapp"
bid=$(jq -r .id "$work/r.json")
call blue-admin POST /deployments "{\"repo_url\":\"https://example.com/acme/evil.git\",\"name\":\"$rapp\"}"
expect 409 "blue deploys under red's name"
[[ $(jq -r .error.code "$work/r.json") == app_name_taken && $(msg) == *"another team"* && $(msg) != *"$red"* ]] ||
  fail "takeover refusal: $(cat "$work/r.json")"
[[ $(sql "SELECT count(*) FROM deployment_requests WHERE app_name = '$rapp'") == 1 ]] ||
  fail "the refused request left a row"
[[ $(sql "SELECT t.name FROM app_owners o JOIN teams t ON t.id = o.team_id WHERE o.app_name = '$rapp'") == "$red" ]] ||
  fail "$rapp is not red's"
# A name used before teams (or by an operator) is the platform's.
call ops POST /deployments "{\"repo_url\":\"https://example.com/acme/o.git\",\"name\":\"oapp-$run\"}"
expect 202 "an operator deploys oapp-$run"
oid=$(jq -r .id "$work/r.json")
call red-deployer POST /deployments "{\"repo_url\":\"https://example.com/acme/o.git\",\"name\":\"oapp-$run\"}"
expect 409 "a team deploys under an operator's app name"
# Idempotency-Keys are per team: blue's same key is a new deployment.
idem=(-H "Idempotency-Key: same-$run" -H 'Content-Type: application/json')
r1=$(curl -s "${idem[@]}" -H "Authorization: Bearer ${key[red-deployer]}" \
  --data "{\"repo_url\":\"https://example.com/acme/r.git\",\"name\":\"$rapp\"}" "$api/deployments" | jq -r .id)
r2=$(curl -s "${idem[@]}" -H "Authorization: Bearer ${key[blue-deployer]}" \
  --data "{\"repo_url\":\"https://example.com/acme/r.git\",\"name\":\"$bapp\"}" "$api/deployments" | jq -r .id)
r3=$(curl -s "${idem[@]}" -H "Authorization: Bearer ${key[red-deployer]}" \
  --data "{\"repo_url\":\"https://example.com/acme/r.git\",\"name\":\"$rapp\"}" "$api/deployments" | jq -r .id)
[[ $r1 =~ ^[0-9a-f-]{36}$ && $r2 =~ ^[0-9a-f-]{36}$ && $r1 != "$r2" && $r3 == "$r1" ]] ||
  fail "Idempotency-Key per team: red $r1, blue $r2, red again $r3"
echo "ok: ownership: viewer 403, takeover 409 \"another team\", operator names, per-team Idempotency-Keys"

# ---- play the coordinator: red's app runs with a release, blue's too ----
for pair in "$rid $rapp" "$bid $bapp"; do
  read -r id app <<<"$pair"
  sql "INSERT INTO deployments (id, app_name, repo_url, status) VALUES ('$id', '$app', 'https://example.com/acme/x.git', 'EXPOSED')"
  sql "INSERT INTO apps (name, repo_url) VALUES ('$app', 'https://example.com/acme/x.git')"
  sql "INSERT INTO releases (deployment_id, app_name, image, container_ids, version) VALUES ('$id', '$app', 'localhost/x:1', '{}', 1)"
  sql "INSERT INTO deployment_logs (deployment_id, source, line) VALUES ('$id', 'build', 'secret-of-$app')"
done

# ---- isolation: every route and verb, two teams, three roles ----
# ROUTE METHOD PATH(with RID/APP) BODY: blue's three roles get 404 (a
# viewer's change 403: the role is checked first and says nothing about
# the app), red's viewer gets 403 on changes, red's roles not 404.
routes=(
  "GET /deployments/RID -"
  "GET /deployments/RID/logs -"
  "GET /deployments/RID/logs?follow=1 -"
  "POST /deployments/RID/rollback {}"
  "DELETE /deployments/RID -"
  "GET /apps/APP -"
  "GET /apps/APP/releases -"
  "GET /apps/APP/config -"
  "GET /apps/APP/config/GREETING -"
  "PATCH /apps/APP/config {\"GREETING\":\"hi\"}"
  "POST /apps/APP/scale {\"web\":2}"
  "POST /apps/APP/rollback {}"
  "GET /apps/APP/logs -"
  "POST /apps/APP/deployments {}"
  "DELETE /apps/APP -"
)
checked=0
for r in "${routes[@]}"; do
  read -r method path body <<<"$r"
  [[ $body == - ]] && body=
  p=${path//RID/$rid}
  p=${p//APP/$rapp}
  change=0
  [[ $method != GET || $path == */config/GREETING ]] && change=1
  for role in admin deployer viewer; do
    call "blue-$role" "$method" "$p" "$body"
    if [[ $role == viewer && $change == 1 ]]; then
      expect 403 "blue viewer $method $path"
    else
      expect 404 "blue $role $method $path"
      grep -q "$red" "$work/r.json" && fail "blue $role $method $path: the reply names red"
      grep -q "secret-of-$rapp" "$work/r.json" && fail "blue $role $method $path: red's logs"
    fi
    checked=$((checked + 1))
  done
  # red's own: not hidden; a viewer may not change.
  call red-viewer "$method" "$p" "$body"
  if [[ $change == 1 ]]; then
    expect 403 "red viewer $method $path"
  else
    [[ $code == 2* ]] || fail "red viewer $method $path: HTTP $code: $(head -c 300 "$work/r.json")"
  fi
  checked=$((checked + 1))
done
# red's deployer and admin changes go through (the destroys last).
call red-deployer GET /deployments/"$rid"/logs
[[ $code == 200 && $(cat "$work/r.json") == *"secret-of-$rapp"* ]] || fail "red reads its logs: $code"
call red-deployer POST /apps/"$rapp"/scale '{"web":2}'
expect 202 "red deployer scales"
call red-deployer PATCH /apps/"$rapp"/config '{"GREETING":"hi"}'
expect 202 "red deployer sets config"
call red-admin POST /apps/"$rapp"/deployments '{}'
expect 202 "red admin redeploys"
call red-deployer DELETE /deployments/"$rid"
expect 202 "red deployer deletes its deployment"
call red-deployer DELETE /apps/"$rapp"
expect 202 "red deployer deletes its app"
# blue still gets its own things.
call blue-viewer GET /apps/"$bapp"
expect 200 "blue reads its app"
echo "ok: isolation: $checked route/verb/role checks, and the owners' changes"

# ---- lists ----
call red-viewer GET "/deployments?limit=100"
jq -e --arg r "$rid" --arg b "$bid" --arg o "$oid" \
  '.deployments | map(.id) | (index($r) != null) and (index($b) == null) and (index($o) == null)' \
  "$work/r.json" >/dev/null || fail "red's deployment list: $(head -c 400 "$work/r.json")"
call blue-viewer GET /apps
jq -e --arg r "$rapp" --arg b "$bapp" '.apps | map(.name) | (index($b) != null) and (index($r) == null)' \
  "$work/r.json" >/dev/null || fail "blue's app list: $(head -c 400 "$work/r.json")"
call ops GET "/deployments?limit=100"
jq -e --arg r "$rid" --arg b "$bid" --arg o "$oid" \
  '.deployments | map(.id) | (index($r) != null) and (index($b) != null) and (index($o) != null)' \
  "$work/r.json" >/dev/null || fail "the operator's deployment list: $(head -c 400 "$work/r.json")"
call ops GET /apps/"$bapp"
expect 200 "an operator reads blue's app"
echo "ok: lists are per team; an operator sees every team's"

# ---- /tokens ----
call red-deployer GET /tokens
expect 403 "a deployer lists keys"
call red-admin GET /tokens
expect 200 "red admin lists keys"
[[ $(jq -r '[.tokens[].team] | unique | join(",")' "$work/r.json") == "$red" ]] ||
  fail "red's key list shows other teams: $(cat "$work/r.json")"
jq -e '[.tokens[] | has("hash") or has("key")] | any | not' "$work/r.json" >/dev/null || fail "a key list shows hashes or keys"
call red-admin POST /tokens '{"name":"ci","role":"deployer","expires_in":"7d"}'
expect 201 "red admin creates a key"
ci_key=$(jq -r .key "$work/r.json") ci_id=$(jq -r .id "$work/r.json")
[[ $ci_key =~ ^adk_ && $(jq -r .expires_at "$work/r.json") != null ]] || fail "created key: $(cat "$work/r.json")"
key[red-ci]=$ci_key
call red-ci GET /whoami
[[ $code == 200 && $(jq -r .role "$work/r.json") == deployer ]] || fail "the new key: $code"
call red-admin POST /tokens '{"name":"ci","role":"viewer"}'
expect 409 "a second key of the same name"
call red-admin POST /tokens "{\"name\":\"x\",\"role\":\"viewer\",\"team\":\"$blue\"}"
expect 403 "red admin makes a key of blue"
call red-admin POST /tokens '{"name":"x","role":"boss"}'
expect 400 "an unknown role"
call red-admin POST /tokens '{"name":"x","role":"viewer","expires_in":"soon"}'
expect 400 "a bad lifetime"
call blue-admin DELETE /tokens/"$ci_id"
expect 404 "blue admin revokes red's key"
call red-ci GET /whoami
expect 200 "the key after blue's attempt"
call red-admin DELETE /tokens/"$ci_id"
expect 200 "red admin revokes its key"
call red-ci GET /whoami
expect 401 "a revoked key, on the next request"
[[ $(msg) == *"revoked"* ]] || fail "revoked message: $(msg)"
# Expiry: the row says it is past.
sql "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE name = 'carol' AND team_id = (SELECT id FROM teams WHERE name = '$red')"
call red-carol GET /whoami
expect 401 "an expired key"
[[ $(msg) == *"expired"* ]] || fail "expired message: $(msg)"
# A user who leaves the team: their key stops.
key[red-dave]=$(admin create-user "dave-$run" --team "$red" --role deployer 2>/dev/null &&
  admin create-token --team "$red" --role deployer --name dave --user "dave-$run" 2>/dev/null)
call red-dave GET /whoami
expect 200 "dave's key"
sql "DELETE FROM memberships WHERE user_id = (SELECT id FROM users WHERE name = 'dave-$run')"
call red-dave GET /whoami
expect 401 "the key of a user who left the team"
call ops POST /tokens "{\"name\":\"from-ops\",\"role\":\"admin\",\"team\":\"$blue\"}"
expect 201 "an operator creates a key for blue"
call ops POST /tokens '{"name":"from-ops","role":"admin"}'
expect 400 "an operator without a team"
echo "ok: /tokens: admins only, own team only, revocation and expiry at once"

# ---- adctl ----
adctl=$bin/adctl
export ADCTL_API=$api
out=$(ADCTL_TOKEN=${key[red-admin]} "$adctl" tokens ls) || fail "adctl tokens ls: exit $?"
[[ $out == ID*NAME*TEAM*ROLE* && $out == *admin-key*"$red"* && $out != *"$blue"* ]] || fail "adctl tokens ls: $out"
new=$(ADCTL_TOKEN=${key[red-admin]} "$adctl" tokens create cli-made --role viewer --expires 2h 2>/dev/null) ||
  fail "adctl tokens create: exit $?"
[[ $new =~ ^adk_[0-9a-f]{64}$ ]] || fail "adctl tokens create printed: $new"
newid=$(sql "SELECT id FROM api_keys WHERE name = 'cli-made' AND revoked_at IS NULL")
rc=0
ADCTL_TOKEN=${key[red-viewer]} "$adctl" tokens create x --role viewer >/dev/null 2>"$work/err" || rc=$?
[[ $rc == 1 && $(cat "$work/err") == *"admin role"* ]] || fail "adctl tokens create as a viewer: rc $rc $(cat "$work/err")"
rc=0
"$adctl" tokens create x >/dev/null 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "adctl tokens create without --role: rc $rc"
# login keeps the key, mode 0600; later commands use it; ADCTL_TOKEN wins.
export HOME=$work/home XDG_CONFIG_HOME=
mkdir -p "$HOME"
out=$(printf '%s\n' "$new" | "$adctl" login) || fail "adctl login: exit $?: $out"
cfg=$HOME/.config/adctl/config
[[ -f $cfg && $(stat -c %a "$cfg") == 600 ]] || fail "the config file: $(stat -c %a "$cfg" 2>&1)"
[[ $out == *"$red/cli-made"*viewer* ]] || fail "login output: $out"
out=$(env -u ADCTL_API "$adctl" apps) || fail "adctl apps with the saved key (and api): exit $?"
rc=0
out=$(ADCTL_TOKEN=${key[blue-viewer]} "$adctl" info "$rapp" 2>&1) || rc=$?
[[ $rc == 1 && $out == *"no app"* ]] || fail "ADCTL_TOKEN (blue) wins over the saved key (red): rc $rc $out"
rc=0
printf 'adk_%064d\n' 0 | "$adctl" login >/dev/null 2>&1 || rc=$?
[[ $rc == 1 ]] || fail "login with an unknown key: rc $rc"
grep -q "$new" "$cfg" || fail "a failed login replaced the saved key"
out=$("$adctl" tokens rm "$newid" 2>&1) && fail "a viewer revokes a key: $out"
out=$(ADCTL_TOKEN=${key[red-admin]} "$adctl" tokens rm "$newid") || fail "adctl tokens rm: exit $?"
[[ $out == *"Revoked key cli-made"* ]] || fail "adctl tokens rm: $out"
rc=0
out=$("$adctl" apps 2>&1) || rc=$?
[[ $rc == 1 && $out == *"revoked"* ]] || fail "the saved key after rm: rc $rc $out"
echo "ok: adctl tokens ls|create|rm, login (0600), ADCTL_TOKEN wins"

# ---- the audit log ----
call red-viewer GET /audit
expect 403 "a viewer reads the audit log"
call ops DELETE /deployments/"$bid"
expect 202 "an operator deletes blue's deployment"
call red-admin GET "/audit?limit=500"
expect 200 "red admin reads the audit log"
cp "$work/r.json" "$work/audit-red.json"
jq -e --arg p "$red/deployer-key" --arg r "$rid" \
  '.entries | any(.principal == $p and .action == "deployments_create" and .deployment_id == $r and .status == 202)' \
  "$work/audit-red.json" >/dev/null || fail "red's audit lacks its deployment: $(head -c 600 "$work/audit-red.json")"
jq -e --arg p "$red/viewer-key" '.entries | any(.principal == $p and .status == 403)' \
  "$work/audit-red.json" >/dev/null || fail "red's audit lacks the viewer's refused change"
jq -e --arg p "$red/admin-key" --arg a "$rapp" \
  '.entries | any(.principal == $p and .action == "apps_deploy" and .app == $a and .remote == "127.0.0.1")' \
  "$work/audit-red.json" >/dev/null || fail "red's audit lacks the admin's redeploy with its address"
jq -e --arg r "$red" '.entries | any(.action == "admin_create_team" and .team == $r)' \
  "$work/audit-red.json" >/dev/null || fail "red's audit lacks adapi admin create-team"
jq -e --arg r "$red" '.entries | all(.team == $r)' "$work/audit-red.json" >/dev/null ||
  fail "red's audit shows other teams' entries"
call blue-admin GET "/audit?limit=500"
jq -e --arg a "$rapp" '.entries | any(.action == "deployments_create" and .status == 409 and .app == $a and .deployment_id == null)' "$work/r.json" >/dev/null ||
  fail "blue's audit lacks its refused takeover"
jq -e --arg b "$bid" '.entries | any(.principal == "ops" and .deployment_id == $b and .action == "deployments_delete")' \
  "$work/r.json" >/dev/null || fail "blue's audit lacks the operator's change of its deployment"
call red-admin GET "/audit?limit=1"
nb=$(jq -r .next_before "$work/r.json")
call red-admin GET "/audit?limit=1&before=$nb"
[[ $code == 200 && $(jq -r '.entries[0].id' "$work/r.json") -lt $nb ]] || fail "audit pagination: $(cat "$work/r.json")"
call red-admin GET "/audit?before=x"
expect 400 "a bad audit cursor"
out=$(ADCTL_TOKEN=${key[red-admin]} "$adctl" audit -n 500) || fail "adctl audit: exit $?"
[[ $out == AT*WHO*ACTION* && $out == *"$red/deployer-key"*deployments_create*202*"$rapp"* ]] ||
  fail "adctl audit: $out"
rc=0
ADCTL_TOKEN=${key[red-deployer]} "$adctl" audit >/dev/null 2>&1 || rc=$?
[[ $rc == 1 ]] || fail "adctl audit as a deployer: rc $rc"
echo "ok: the audit log: per team, refusals, operators' changes, adapi admin, pagination"

# ---- api.require_auth (keys only) and the quota of live apps ----
green=green-$run
admin create-team "$green" 2>/dev/null || fail "create-team $green"
key[green-deployer]=$(admin create-token --team "$green" --role deployer --name d 2>/dev/null)
# From a config file: the keys are known to adapi (an unknown one stops it).
printf 'api:\n  require_auth: true\nlimits:\n  max_deployments_per_user: 2\n' >"$work/api2.yaml"
apitest_api "$work/api2.log" AD_CONFIG="$work/api2.yaml" AD_API_TOKENS=
if [[ -z $api_port ]]; then
  fail "adapi with api.require_auth did not start: $(tail -n 3 "$work/api2.log")"
else
  c=$(curl -s -o /dev/null -w '%{http_code}' "$api/deployments")
  [[ $c == 401 ]] || fail "api.require_auth without a key: $c"
  c=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${key[blue-viewer]}" "$api/apps")
  [[ $c == 200 ]] || fail "api.require_auth with a key: $c"
  echo "ok: api.require_auth"
  for a in g1 g2; do
    call green-deployer POST /deployments "{\"repo_url\":\"https://example.com/acme/g.git\",\"name\":\"$a-$run\"}"
    expect 202 "green deploys $a (under the quota)"
  done
  g1=$(sql "SELECT id FROM deployment_requests WHERE app_name = 'g1-$run'")
  call green-deployer POST /deployments "{\"repo_url\":\"https://example.com/acme/g.git\",\"name\":\"g3-$run\"}"
  expect 403 "a third live app over limits.max_deployments_per_user=2"
  [[ $(jq -r .error.code "$work/r.json") == quota_exceeded && $(msg) == *"limits.max_deployments_per_user is 2"* ]] ||
    fail "quota refusal: $(cat "$work/r.json")"
  [[ $(sql "SELECT count(*) FROM deployment_requests WHERE app_name = 'g3-$run'") == 0 &&
    $(sql "SELECT count(*) FROM app_owners WHERE app_name = 'g3-$run'") == 0 ]] ||
    fail "the refused request left a request or an owner row"
  call green-deployer POST /deployments "{\"repo_url\":\"https://example.com/acme/g.git\",\"name\":\"g1-$run\"}"
  expect 202 "a new deployment of a live app (no new app)"
  # g1 destroyed, as the coordinator leaves it: no apps row, its
  # deployments DESTROYED.  Then a new app fits.
  for id in $(sql "SELECT id FROM deployment_requests WHERE app_name = 'g1-$run'"); do
    sql "INSERT INTO deployments (id, app_name, repo_url, status) VALUES ('$id', 'g1-$run', 'https://example.com/acme/g.git', 'DESTROYED')"
  done
  [[ -n $g1 ]] || fail "no request for g1"
  call green-deployer POST /deployments "{\"repo_url\":\"https://example.com/acme/g.git\",\"name\":\"g3-$run\"}"
  expect 202 "a new app once another was destroyed"
  echo "ok: the quota of live apps per team"
fi

# No key, ever, in the logs.
psql "$AD_DATABASE_URL" -qAt -c "SELECT audit_log::text FROM audit_log" >"$work/audit.txt"
for k in "${key[@]}" "$optoken" "$new"; do
  grep -q "$k" "$work/api.log" "$work/api2.log" && fail "a key appears in the API's log"
  grep -q "$k" "$work/audit.txt" && fail "a key appears in the audit log"
done

apitest_finish
