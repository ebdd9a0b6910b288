#!/usr/bin/env bash
# Members through the API and adctl (issue 13) against a real adapi
# (subprocess on a free port, JWTs on) and the stack's PostgreSQL:
#  - GET/POST /teams/{team}/members, PATCH/DELETE .../{user}: a team
#    admin manages its own team; another team answers 404; a deployer or
#    viewer gets 403; an operator manages any team;
#  - bad bodies: 400 with the reason; a member twice: 409;
#  - the last admin cannot be removed or demoted (409), also when two
#    admins remove each other at the same moment (one stays);
#  - a member's lowered role applies at once to their key and to a JWT
#    made from it; removing a member refuses their key and JWT at once
#    and revokes their keys (adding them back does not revive them);
#  - adctl members ls|add|role|rm, with --team and with the key's team;
#  - every change is in the team's audit log, with the member's name.
# Usage: test_members.sh BIN_DIR
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../support/adapi.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/adapi.sh"
apitest_init members "${1:-}"
red=mred-$run blue=mblue-$run
secret() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
admin() { "$bin/adapi" admin "$@" 2>/dev/null; }

alice=alice-$run bob=bob-$run carol=carol-$run
admin create-team "$red" || fail "create-team"
admin create-team "$blue" || fail "create-team"
admin create-user "$alice" --team "$red" --role admin || fail "create-user alice"
admin create-user "$bob" --team "$red" --role deployer || fail "create-user bob"
declare -A key
key[alice]=$(admin create-token --team "$red" --role admin --name alice --user "$alice")
key[bob]=$(admin create-token --team "$red" --role deployer --name bob --user "$bob")
key[red-viewer]=$(admin create-token --team "$red" --role viewer --name v)
key[blue-admin]=$(admin create-token --team "$blue" --role admin --name a)

optoken=$(secret)
apitest_api_up "$work/api.log" AD_API_TOKENS="ops:$(printf '%s' "$optoken" | sha256sum | cut -d' ' -f1)" \
  AD_API_JWT_KEYS="k1:$(secret)"

# call WHO METHOD PATH [BODY]: sets code (and the reply in $work/r.json).
call() {
  local who=$1 method=$2 path=$3 body=${4:-} auth=()
  case $who in
    ops) auth=(-H "Authorization: Bearer $optoken") ;;
    raw:*) auth=(-H "Authorization: Bearer ${who#raw:}") ;;
    *) auth=(-H "Authorization: Bearer ${key[$who]}") ;;
  esac
  if [[ -n $body ]]; then
    code=$(curl -s -o "$work/r.json" -w '%{http_code}' -X "$method" "${auth[@]}" \
      -H 'Content-Type: application/json' --data "$body" "$api$path")
  else
    code=$(curl -s -o "$work/r.json" -w '%{http_code}' -X "$method" "${auth[@]}" "$api$path")
  fi
}
msg() { jq -r '.error.message // empty' "$work/r.json" 2>/dev/null || true; }
expect() { # WANT WHAT
  [[ $code == "$1" ]] || fail "$2: HTTP $code, want $1: $(head -c 300 "$work/r.json")"
}

# ---- the routes, by role and team ----
call alice GET "/teams/$red/members"
expect 200 "a team admin lists its members"
[[ $(jq -r '[.members[] | .user + ":" + .role + ":" + (.keys | tostring)] | join(",")' "$work/r.json") == "$alice:admin:1,$bob:deployer:1" ]] ||
  fail "the members: $(cat "$work/r.json")"
call blue-admin GET "/teams/$red/members"
expect 404 "another team's members"
[[ $(msg) == "no team $red" ]] || fail "another team's 404 says: $(msg)"
call alice GET "/teams/nope-$run/members"
expect 404 "a team that does not exist"
call bob GET "/teams/$red/members"
expect 403 "a deployer lists members"
call red-viewer POST "/teams/$red/members" "{\"user\":\"$carol\",\"role\":\"viewer\"}"
expect 403 "a viewer adds a member"
call alice GET "/teams/Bad_Team/members"
expect 404 "a bad team name"
call alice PUT "/teams/$red/members"
expect 405 "PUT on members"
echo "ok: members list; 404 for another team, 403 below admin"

# ---- add, bad bodies, twice ----
call alice POST "/teams/$red/members" "{\"user\":\"$carol\",\"role\":\"viewer\"}"
expect 201 "add a member"
jq -e --arg u "$carol" --arg t "$red" '.user == $u and .team == $t and .role == "viewer"' "$work/r.json" >/dev/null ||
  fail "add reply: $(cat "$work/r.json")"
[[ $(sql "SELECT m.role FROM memberships m JOIN users u ON u.id = m.user_id JOIN teams t ON t.id = m.team_id WHERE u.name = '$carol' AND t.name = '$red'") == viewer ]] ||
  fail "the membership row"
call alice POST "/teams/$red/members" "{\"user\":\"$carol\",\"role\":\"deployer\"}"
expect 409 "add a member twice"
[[ $(msg) == *"PATCH"* ]] || fail "twice says: $(msg)"
call alice POST "/teams/$red/members" '{"user":"x y","role":"viewer"}'
expect 400 "a bad user name"
call alice POST "/teams/$red/members" '{"user":"dave","role":"owner"}'
expect 400 "an unknown role"
[[ $(msg) == *"unknown role"* ]] || fail "unknown role says: $(msg)"
call alice POST "/teams/$red/members" '{"user":"dave","role":"viewer","extra":1}'
expect 400 "an unknown field"
call alice PATCH "/teams/$red/members/$carol" "{\"user\":\"$carol\",\"role\":\"viewer\"}"
expect 400 "a user in a PATCH body"
call alice PATCH "/teams/$red/members/nobody-$run" '{"role":"viewer"}'
expect 404 "PATCH a user who is not a member"
code=$(curl -s -o "$work/r.json" -w '%{http_code}' -X POST -H "Authorization: Bearer ${key[alice]}" \
  --data '{}' "$api/teams/$red/members")
expect 415 "a body that is not JSON"
# An operator manages any team.
call ops POST "/teams/$blue/members" "{\"user\":\"$carol\",\"role\":\"admin\"}"
expect 201 "an operator adds a member to a team"
echo "ok: add a member (new user created), 400s, 409 twice, operators"

# ---- the last admin ----
call alice DELETE "/teams/$red/members/$alice"
expect 409 "remove the last admin"
[[ $(msg) == *"last admin"* ]] || fail "last admin says: $(msg)"
call alice PATCH "/teams/$red/members/$alice" '{"role":"deployer"}'
expect 409 "demote the last admin"
call ops DELETE "/teams/$blue/members/$carol"
expect 409 "an operator removes a team's last admin member"
call alice PATCH "/teams/$red/members/$bob" '{"role":"admin"}'
expect 200 "promote a member"
jq -e '.was == "deployer" and .role == "admin"' "$work/r.json" >/dev/null || fail "promote reply: $(cat "$work/r.json")"
call alice PATCH "/teams/$red/members/$alice" '{"role":"admin"}'
expect 200 "an admin stays admin"
echo "ok: the last admin cannot be removed or demoted"

# ---- a lowered role and a removal apply at once, to keys and JWTs ----
call bob POST /auth/token '{}'
expect 200 "bob's JWT"
key[bob-jwt]=$(jq -r .token "$work/r.json")
[[ $(jq -r .role "$work/r.json") == deployer ]] || fail "bob's JWT role: $(cat "$work/r.json")"
call alice PATCH "/teams/$red/members/$bob" '{"role":"viewer"}'
expect 200 "demote bob"
call bob GET /whoami
[[ $code == 200 && $(jq -r .role "$work/r.json") == viewer ]] || fail "bob's key after the demotion: $code $(cat "$work/r.json")"
call bob-jwt GET /whoami
[[ $code == 200 && $(jq -r .role "$work/r.json") == viewer ]] || fail "bob's JWT after the demotion: $code $(cat "$work/r.json")"
call bob-jwt POST /deployments '{"repo_url":"https://example.com/x.git","name":"x"}'
expect 403 "bob's JWT deploys after the demotion"
call alice DELETE "/teams/$red/members/$bob"
expect 200 "remove bob"
jq -e --arg u "$bob" '.user == $u and .was == "viewer" and .keys_revoked == 1' "$work/r.json" >/dev/null ||
  fail "remove reply: $(cat "$work/r.json")"
call bob GET /whoami
expect 401 "bob's key after the removal"
call bob-jwt GET /whoami
expect 401 "bob's JWT after the removal"
[[ $(msg) == *"was revoked"* || $(msg) == *"left the team"* ]] || fail "bob's JWT says: $(msg)"
call alice DELETE "/teams/$red/members/$bob"
expect 404 "remove bob twice"
call alice POST "/teams/$red/members" "{\"user\":\"$bob\",\"role\":\"deployer\"}"
expect 201 "add bob back"
call bob GET /whoami
expect 401 "bob's old key after he is added back"
echo "ok: a demotion and a removal apply at once to keys and JWTs; keys revoked"

# ---- two admins removing each other at once: one admin stays ----
race=mrace-$run
admin create-team "$race" || fail "create-team $race"
for i in 1 2 3; do
  e1=e1-$i-$run e2=e2-$i-$run
  admin create-user "$e1" --team "$race" --role admin || fail "create-user $e1"
  admin create-user "$e2" --team "$race" --role admin || fail "create-user $e2"
  sql "DELETE FROM memberships WHERE team_id = (SELECT id FROM teams WHERE name = '$race') AND role = 'admin' AND user_id NOT IN (SELECT id FROM users WHERE name IN ('$e1', '$e2'))"
  k1=$(admin create-token --team "$race" --role admin --name "$e1" --user "$e1")
  k2=$(admin create-token --team "$race" --role admin --name "$e2" --user "$e2")
  curl -s -o /dev/null -w '%{http_code}\n' -X DELETE -H "Authorization: Bearer $k1" "$api/teams/$race/members/$e2" >"$work/c1" &
  p1=$!
  curl -s -o /dev/null -w '%{http_code}\n' -X DELETE -H "Authorization: Bearer $k2" "$api/teams/$race/members/$e1" >"$work/c2" &
  p2=$!
  wait "$p1" "$p2"
  admins=$(sql "SELECT count(*) FROM memberships WHERE team_id = (SELECT id FROM teams WHERE name = '$race') AND role = 'admin'")
  ok=$(cat "$work/c1" "$work/c2" | grep -c '^200$' || true)
  [[ $admins == 1 && $ok == 1 ]] || fail "two admins removing each other: $admins admins left, answers $(cat "$work/c1" "$work/c2" | tr '\n' ' ')"
done
echo "ok: two admins removing each other at once leave one admin (3 rounds)"

# ---- adctl members ----
export ADCTL_TOKEN=${key[alice]} ADCTL_API=$api XDG_CONFIG_HOME=$work/cfg
out=$("$bin/adctl" members ls 2>&1) || fail "adctl members ls: $out"
[[ $out == *USER*ROLE* && $out == *"$alice"*admin* && $out == *"$bob"*deployer* && $out == *"$carol"*viewer* ]] ||
  fail "adctl members ls: $out"
out=$("$bin/adctl" members add "dave-$run" --role viewer 2>&1) || fail "adctl members add: $out"
[[ $out == *"dave-$run is now a viewer of team $red"* ]] || fail "adctl members add: $out"
out=$("$bin/adctl" members role "dave-$run" --role deployer 2>&1) || fail "adctl members role: $out"
[[ $out == *"viewer -> deployer"* ]] || fail "adctl members role: $out"
out=$("$bin/adctl" members rm "dave-$run" 2>&1) || fail "adctl members rm: $out"
[[ $out == *"left team $red"* ]] || fail "adctl members rm: $out"
rc=0
out=$("$bin/adctl" members rm "$alice" 2>&1) || rc=$?
[[ $rc == 1 && $out == *"last admin"* ]] || fail "adctl members rm the last admin: rc $rc $out"
rc=0
"$bin/adctl" members add "dave-$run" >/dev/null 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "adctl members add without --role: rc $rc, want 2"
out=$(ADCTL_TOKEN=$optoken "$bin/adctl" --json members ls --team "$blue" 2>&1) || fail "adctl members ls --team: $out"
jq -e --arg u "$carol" '.members[0].user == $u' <<<"$out" >/dev/null || fail "adctl --json members ls --team: $out"
rc=0
out=$(ADCTL_TOKEN=$optoken "$bin/adctl" members ls 2>&1) || rc=$?
[[ $rc == 1 && $out == *"--team"* ]] || fail "an operator without --team: rc $rc $out"
unset ADCTL_TOKEN
echo "ok: adctl members ls, add, role, rm"

# ---- the audit log ----
audit=$(sql "SELECT string_agg(action || ' ' || path || ' ' || status, E'\n' ORDER BY id) FROM audit_log WHERE team_id = (SELECT id FROM teams WHERE name = '$red')")
for want in "members_add /teams/$red/members/$carol role=viewer 201" \
  "members_update /teams/$red/members/$bob role=viewer 200" \
  "members_remove /teams/$red/members/$bob 200" \
  "members_remove /teams/$red/members/$alice 409" \
  "members_add /teams/$red/members/dave-$run role=viewer 201"; do
  grep -qxF "$want" <<<"$audit" || fail "the audit log has no '$want': $audit"
done
n=$(sql "SELECT count(*) FROM audit_log WHERE action = 'members_add' AND principal = 'ops' AND team_id = (SELECT id FROM teams WHERE name = '$blue')")
[[ $n == 1 ]] || fail "an operator's change is not in the team's audit log ($n)"
call alice GET /audit
jq -e '[.entries[] | select(.action == "members_remove")] | length >= 2' "$work/r.json" >/dev/null ||
  fail "GET /audit shows no member changes: $(head -c 300 "$work/r.json")"
echo "ok: member changes in the team's audit log"

if grep -qF "${key[alice]}" "$work/api.log"; then fail "a key is in the API's log"; fi
apitest_finish
