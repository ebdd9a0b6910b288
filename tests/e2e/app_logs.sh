#!/usr/bin/env bash
# Runtime logs (issue 15), end to end against the real stack with all six
# services: an app prints a numbered line every 100 ms (each process with
# its own run id); `adctl logs APP --tail` follows it while the app is
# redeployed (new containers) and while the deployer is killed with
# SIGKILL and started again.  Within each container's sequence no number
# may be missing or repeated, in what adctl printed and in what is stored;
# lines printed while the deployer was down arrive after its restart.  A
# second deployer replica runs from the redeploy on: the two share the
# containers (one follower each, PostgreSQL advisory locks), the survivor
# takes over the killed one's containers, and after both are killed a
# deployer started again resumes from the stored cursor.  A
# WebSocket client (python3's standard library, a hand-made RFC 6455
# handshake) receives lines too, and gets its ping answered.
# Usage: app_logs.sh BIN_DIR
set -euo pipefail
bin=${1:?usage: app_logs.sh BIN_DIR}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${AD_STATE_DIR:?start the stack first (scripts/stack.sh up; . .stack/env)}"
. "$root/scripts/lib.sh"
. "$root/tests/support/git_repos.sh"
# shellcheck disable=SC1091
. "$AD_STATE_DIR/env"

work=$(mktemp -d)
suffix=$(od -An -tx1 -N3 /dev/urandom | tr -d ' \n')
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
cleanup() {
  [[ -n ${follower:-} ]] && kill "$follower" 2>/dev/null || true
  [[ -n ${deployer2:-} ]] && kill "$deployer2" 2>/dev/null || true
  [[ -n ${gitd:-} ]] && kill "$gitd" 2>/dev/null || true
  if [[ -n ${app:-} ]]; then
    q "SELECT id, container, logged_at, line FROM app_logs WHERE app_name = '$app' ORDER BY id" \
      >"$AD_STATE_DIR/logs/e2e_app_logs.stored" 2>/dev/null || true
    "$bin/adctl" rm "$app" >/dev/null 2>&1 || true
  fi
  "$root/scripts/services.sh" down >/dev/null 2>&1 || true
  # What adctl printed, kept for a failure's reader.
  cp "$work/follow.out" "$AD_STATE_DIR/logs/e2e_app_logs.follow.out" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ctl() { "$bin/adctl" "$@"; }
q() { psql "$AD_DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

# The app: a numbered line every 100 ms, "tick <run id> <n>", and an HTTP
# answer for the health check.
app_src=$work/src
mkdir -p "$app_src"
cat >"$app_src/app.py" <<'PY'
import os, signal, sys, threading, time, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RUN = uuid.uuid4().hex[:8]

class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ticking\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass

def tick():
    n = 0
    while True:
        n += 1
        print("tick %s %d" % (RUN, n), flush=True)
        time.sleep(0.1)

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
threading.Thread(target=tick, daemon=True).start()
ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", 8000))), H).serve_forever()
PY
repos=$work/git
git_repo_from "$repos/ticker" "$app_src"
git_daemon_start "$repos" "$work/git-daemon.log"
"$bin/../tests/ad_test_bus_reset"
"$root/scripts/services.sh" up "$bin"
. "$AD_STATE_DIR/run/services/env"
api=$ADCTL_API
# shellcheck disable=SC2154 # git_port is set by git_daemon_start
git_url=git://127.0.0.1:$git_port/ticker
app=ticker-$suffix

echo "== deploy $app"
json=$(ctl --json deploy "$git_url" --name "$app" --wait --timeout 900 | tail -n 1)
[[ $(jq -r .status <<<"$json") == EXPOSED ]] || { fail "deploy: $json"; exit 1; }

# RUN -> the highest number adctl printed for that run so far
printed_max() { grep -o "^web\.[0-9]* | tick $1 [0-9]*$" "$work/follow.out" | awk '{print $NF}' | sort -n | tail -n 1; }
runs() { grep -o '^web\.[0-9]* | tick [0-9a-f]* ' "$work/follow.out" | awk '{print $4}' | sort -u; }
wait_lines() { # RUN N: until adctl printed line N of RUN (60 s at most)
  local i
  for ((i = 0; i < 300; i++)); do
    (($(printed_max "$1" || echo 0) >= $2)) && return 0
    sleep 0.2
  done
  return 1
}

echo "== adctl logs --tail follows"
ctl logs "$app" --tail -n 1000 >"$work/follow.out" 2>"$work/follow.err" &
follower=$!
for ((i = 0; i < 150; i++)); do
  [[ -n $(runs) ]] && break
  sleep 0.2
done
run1=$(runs | head -n 1)
[[ -n $run1 ]] || { fail "no line followed: $(cat "$work/follow.err")"; exit 1; }
wait_lines "$run1" "$(($(printed_max "$run1") + 20))" || fail "the follower does not get new lines"
echo "ok: following run $run1"

echo "== a WebSocket client gets lines"
ws=$(python3 - "$api" "$app" <<'PY'
import base64, json, os, socket, struct, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
s = socket.create_connection((u.hostname, u.port), timeout=20)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(("GET %s/apps/%s/logs?tail=5 HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
           % (u.path.rstrip("/"), sys.argv[2], u.netloc, key)).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(4096)
head, buf = buf.split(b"\r\n\r\n", 1)
import hashlib
want = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
assert head.startswith(b"HTTP/1.1 101"), head
assert ("sec-websocket-accept: " + want).encode() in head.lower().replace(want.lower().encode(), want.encode()), head
def frame():
    global buf
    while True:
        if len(buf) >= 2:
            n, h = buf[1] & 0x7f, 2
            if n == 126 and len(buf) >= 4: n, h = struct.unpack(">H", buf[2:4])[0], 4
            if n < 126 or h == 4:
                if len(buf) >= h + n:
                    op, data, buf = buf[0] & 0x0f, buf[h:h + n], buf[h + n:]
                    return op, data
        buf += s.recv(4096)
def send(op, data):
    mask = os.urandom(4)
    s.sendall(bytes([0x80 | op, 0x80 | len(data)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
lines = []
send(0x9, b"hi")
pong = False
while len(lines) < 15 or not pong:
    op, data = frame()
    if op == 0x1:
        lines.append(json.loads(data))
    elif op == 0xA:
        pong = data == b"hi"
send(0x8, struct.pack(">H", 1000))
while frame()[0] != 0x8:
    pass
print(json.dumps({"n": len(lines), "first": lines[0], "pong": pong}))
PY
) || fail "the WebSocket client failed"
[[ $(jq -r '.first.line' <<<"$ws") == "tick "* && $(jq -r '.first.process' <<<"$ws") == web &&
  $(jq -r '.first.replica' <<<"$ws") == 1 && $(jq -r .pong <<<"$ws") == true ]] ||
  fail "WebSocket: $ws"
echo "ok: WebSocket: $(jq -c '{n, pong, line: .first.line}' <<<"$ws")"

echo "== a second deployer replica"
AD_NATS_URL=${AD_NATS_URL_DEPLOYER:-$AD_NATS_URL} AD_HTTP_PORT=0 \
  "$bin/addeployer" >>"$AD_STATE_DIR/logs/services/deployer-2.log" 2>&1 &
deployer2=$!

echo "== redeploy: the follower goes on with the new container"
json=$(ctl --json redeploy "$app" --wait | tail -n 1)
[[ $(jq -r .status <<<"$json") == EXPOSED ]] || fail "redeploy: $json"
for ((i = 0; i < 150; i++)); do
  run2=$(runs | grep -vx "$run1" | head -n 1 || true)
  [[ -n $run2 ]] && break
  sleep 0.2
done
[[ -n ${run2:-} ]] || { fail "no line of the new container: $(tail -n 3 "$work/follow.out")"; exit 1; }
wait_lines "$run2" 20 || fail "the new container's lines do not come"
echo "ok: run $run2 after the redeploy"

echo "== the deployer killed (SIGKILL): the second replica takes over"
kill -9 "$(cat "$AD_STATE_DIR/run/services/deployer.pid")"
before=$(printed_max "$run2")
t0=$(date +%s.%N)
wait_lines "$run2" "$((before + 2))" || true
echo "the next line came $(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN {printf "%.1f", a - b}') s after the kill"
wait_lines "$run2" "$((before + 30))" || fail "no line after the first deployer's death (last $(printed_max "$run2"), before $before)"
echo "ok: lines $before..$(printed_max "$run2") of run $run2 with the second replica"

echo "== the second replica killed too, nobody collecting, then a deployer started again"
kill -9 "$deployer2"
wait "$deployer2" 2>/dev/null || true
deployer2=
before=$(printed_max "$run2")
sleep 3 # the app goes on printing; nobody collects
t0=$(date +%s.%N)
"$root/scripts/services.sh" up "$bin" >/dev/null
wait_lines "$run2" "$((before + 2))" || true
echo "the next line came $(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN {printf "%.1f", a - b}') s after the restart began"
wait_lines "$run2" "$((before + 60))" || fail "no line after the deployer's restart (last $(printed_max "$run2"), before $before)"
echo "ok: lines $before..$(printed_max "$run2") of run $run2 across the restart"
kill "$follower"
wait "$follower" 2>/dev/null || true
follower=

echo "== count: no number missing or twice in any container's sequence"
for run in $(runs); do
  nums=$(grep -o "^web\.[0-9]* | tick $run [0-9]*$" "$work/follow.out" | awk '{print $NF}')
  total=$(wc -l <<<"$nums")
  uniq=$(sort -un <<<"$nums" | wc -l)
  lo=$(sort -n <<<"$nums" | head -n 1)
  hi=$(sort -n <<<"$nums" | tail -n 1)
  [[ $total == "$uniq" ]] || fail "run $run: $((total - uniq)) duplicated lines printed"
  [[ $uniq == $((hi - lo + 1)) ]] || fail "run $run: $((hi - lo + 1 - uniq)) lines lost between $lo and $hi"
  stored=$(q "SELECT count(*) || ' ' || count(DISTINCT line) FROM app_logs WHERE app_name = '$app' AND line LIKE 'tick $run %'")
  [[ ${stored% *} == "${stored#* }" ]] || fail "run $run: stored $stored (count, distinct)"
  echo "ok: run $run: $total lines, $lo..$hi, none twice (stored: ${stored% *})"
done
[[ $(runs | wc -l) -ge 2 ]] || fail "fewer than two containers followed"

echo "== a missing app, another team's app: 404"
code=$(curl -s -o /dev/null -w '%{http_code}' "$api/apps/no-such-app-$suffix/logs?follow=1")
[[ $code == 404 ]] || fail "follow of a missing app: $code"
team=logs-$suffix
"$bin/adapi" admin create-team "$team" 2>/dev/null || fail "create-team $team"
key=$("$bin/adapi" admin create-token --team "$team" --role viewer --name logs 2>/dev/null) ||
  fail "create-token"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" "$api/apps/$app/logs?follow=1")
[[ $code == 404 ]] || fail "another team follows $app: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" -H 'Upgrade: websocket' \
  -H 'Connection: Upgrade' -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
  "$api/apps/$app/logs")
[[ $code == 404 ]] || fail "another team's WebSocket on $app: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Upgrade: websocket' -H 'Connection: Upgrade' \
  -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: short' "$api/apps/$app/logs")
[[ $code == 400 ]] || fail "a WebSocket with a bad key: $code"
psql "$AD_DATABASE_URL" -qAt -c "DELETE FROM api_keys WHERE team_id IN (SELECT id FROM teams WHERE name = '$team'); DELETE FROM teams WHERE name = '$team'" >/dev/null 2>&1 || true

hits=$(grep -l 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$AD_STATE_DIR"/logs/services/*.log 2>/dev/null || true)
[[ -z $hits ]] || fail "sanitizer reports in $hits"
((failures == 0)) || { echo "$failures failure(s)" >&2; exit 1; }
echo "PASS"
