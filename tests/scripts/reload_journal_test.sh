#!/usr/bin/env bash
# reload_journal_test.sh <build_dir> <source_dir>
#
# The daemon as systemd runs it, without Docker (its socket does not exist)
# and with a master that refuses connections:
# - STATUS= names what is wrong (Docker unreachable, heartbeat failing);
# - SIGHUP reloads and never stops it: a changed catalog takes effect (an
#   apply no longer fails on UNKNOWN_SERVICE), a changed log level takes
#   effect (debug lines appear), an invalid catalog is refused with a log
#   line and the old one kept, a changed --listen is logged as needing a
#   restart; RELOADING=1 then READY=1 go to systemd;
# - under journald ($JOURNAL_STREAM = stderr's dev:ino) every line starts
#   with its <N> priority and carries no timestamp of ours;
# - SIGTERM still exits 0.
set -uo pipefail
BUILD=$(realpath "${1:?build dir}")
SRC=$(realpath "${2:?source dir}")
BIN="$BUILD/edge-agent"
PY=python3
# shellcheck source=tests/scripts/lib.sh
. "$SRC/tests/scripts/lib.sh"
TMP=$(mktemp -d)
AGENT_PID=""
LISTENER_PID=""
cleanup() {
	if [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; then kill -KILL "$AGENT_PID"; fi
	if [ -n "$LISTENER_PID" ] && kill -0 "$LISTENER_PID" 2>/dev/null; then kill "$LISTENER_PID"; fi
	rm -rf "$TMP"
}
trap cleanup EXIT
finish() {
	summary
	exit $?
}
# Polls (bounded) until the command succeeds.
eventually() {
	for _ in $(seq 100); do
		eval "$1" && return 0
		sleep 0.1
	done
	return 1
}
[ -x "$BIN" ] || {
	fail "the daemon is not built: $BIN is missing"
	finish
}

cat >"$TMP/listener.py" <<'PYEOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode().replace("\n", "\\n") + "\n")
PYEOF
"$PY" "$TMP/listener.py" "$TMP/notify.sock" "$TMP/notify.log" &
LISTENER_PID=$!
eventually '[ -S "$TMP/notify.sock" ]'
touch "$TMP/notify.log"

# The public 30-decky vector: its services, and an apply body for it.
"$PY" - "$SRC/tests/vectors/canonical_hash_public.jsonl" "$TMP" <<'PYEOF'
import json, sys
for line in open(sys.argv[1]):
    v = json.loads(line)
    if v["name"] == "v1-30":
        doc = json.loads(v["input"])
        services = sorted({s for d in doc["deckies"] for s in d.get("services", [])})
        json.dump({s: {"image": "busybox:latest"} for s in services}, open(sys.argv[2] + "/full.json", "w"))
        open(sys.argv[2] + "/apply.json", "w").write(
            '{"hydrated":' + v["input"] + ',"version_hash":"' + v["sha256"] + '"}')
PYEOF
echo '{}' >"$TMP/catalog.json"
MASTER_PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$TMP/config.json" <<JSON
{"log_level": "info", "service_catalog": "$TMP/catalog.json", "listen": "127.0.0.1:0"}
JSON

for v in $(compgen -e | grep '^EDGE_AGENT_'); do unset "$v"; done
# stderr is a file; JOURNAL_STREAM names it as systemd names the journal stream.
: >"$TMP/agent.log"
JS=$(stat -c '%d:%i' "$TMP/agent.log")
NOTIFY_SOCKET="$TMP/notify.sock" JOURNAL_STREAM="$JS" \
	"$BIN" run --config "$TMP/config.json" --state-dir "$TMP/state" \
	--docker-socket "$TMP/no-docker.sock" --master-url "http://127.0.0.1:$MASTER_PORT" \
	--host-uuid host-1 --heartbeat-interval 1 2>>"$TMP/agent.log" &
AGENT_PID=$!

PORT=""
for _ in $(seq 200); do
	PORT=$(grep -o 'READY=1\\nSTATUS=serving on 127.0.0.1:[0-9]*' "$TMP/notify.log" | grep -o '[0-9]*$' | head -1)
	[ -n "$PORT" ] && break
	kill -0 "$AGENT_PID" 2>/dev/null || break
	sleep 0.1
done
if [ -z "$PORT" ]; then
	fail "no READY=1 with a port" "$(cat "$TMP/notify.log" "$TMP/agent.log")"
	finish
fi
URL="http://127.0.0.1:$PORT"
pass "READY=1 arrives with the bound port ($PORT)"

# ------------------------------------------------------------- STATUS=
if eventually 'grep -q "^STATUS=degraded: Docker unreachable (.*no-docker.sock.*); heartbeat failing (" "$TMP/notify.log"'; then
	pass "STATUS= names Docker unreachable and the failing heartbeat with its reason"
else
	fail "STATUS= never named what is wrong" "$(cat "$TMP/notify.log")"
fi

# ------------------------------------------------------------- SIGHUP: catalog + log level
apply() { curl -s -o "$TMP/apply.out" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @"$TMP/apply.json" "$URL/topology/apply"; }
code=$(apply)
if [ "$code" = 400 ] && grep -q UNKNOWN_SERVICE "$TMP/apply.out"; then
	pass "before the reload, the empty catalog refuses the vector's services (UNKNOWN_SERVICE)"
else
	fail "before the reload: $code $(head -c 300 "$TMP/apply.out")"
fi
if grep -q "heartbeat still failing" "$TMP/agent.log"; then
	fail "a debug line was logged at level info"
fi

cp "$TMP/full.json" "$TMP/catalog.json"
sed -i 's/"info"/"debug"/' "$TMP/config.json"
kill -HUP "$AGENT_PID"
if eventually 'grep -q "reload: service catalog .* in use, [1-9][0-9]* service(s)" "$TMP/agent.log"'; then
	pass "SIGHUP reloads the changed catalog"
else
	fail "no catalog reload line after SIGHUP" "$(cat "$TMP/agent.log")"
fi
if kill -0 "$AGENT_PID" 2>/dev/null && curl -fsS "$URL/health" >/dev/null; then
	pass "SIGHUP does not stop the agent: /health still answers"
else
	fail "the agent stopped or stopped answering after SIGHUP"
fi
code=$(apply)
# The vector also has a LAN without a bridge path (DMZ_ORPHAN): validation
# still runs and lists every code, but the services are now known.
if grep -q DMZ_ORPHAN "$TMP/apply.out" && ! grep -q UNKNOWN_SERVICE "$TMP/apply.out"; then
	pass "the reloaded catalog takes effect (validation no longer lists UNKNOWN_SERVICE)"
else
	fail "the reloaded catalog did not take effect: $code $(head -c 300 "$TMP/apply.out")"
fi
if eventually 'grep -q "log level is now .debug." "$TMP/agent.log" && grep -q "heartbeat still failing" "$TMP/agent.log"'; then
	pass "the reloaded log level takes effect (debug lines appear)"
else
	fail "no debug line after raising the log level" "$(tail -20 "$TMP/agent.log")"
fi
if grep -q 'RELOADING=1' "$TMP/notify.log" && [ "$(grep -c 'READY=1' "$TMP/notify.log")" -ge 2 ]; then
	pass "a reload tells systemd RELOADING=1 and READY=1 when done"
else
	fail "RELOADING=1/READY=1 missing" "$(cat "$TMP/notify.log")"
fi

# ------------------------------------------------------------- SIGHUP: a bad catalog, a new listen
echo '{"ssh": {"image": 5}}' >"$TMP/catalog.json"
sed -i "s/127.0.0.1:0/127.0.0.1:1/" "$TMP/config.json"
kill -HUP "$AGENT_PID"
if eventually 'grep -q "reload: service catalog refused, keeping the one in use: --service-catalog" "$TMP/agent.log"'; then
	pass "an invalid catalog on reload is refused with a log line"
else
	fail "no refusal line for an invalid catalog" "$(tail -20 "$TMP/agent.log")"
fi
code=$(apply)
if grep -q DMZ_ORPHAN "$TMP/apply.out" && ! grep -q UNKNOWN_SERVICE "$TMP/apply.out"; then
	pass "after a refused reload the old catalog stays in use"
else
	fail "the refused catalog replaced the old one: $code $(head -c 300 "$TMP/apply.out")"
fi
if grep -q "reload: --listen changed from '127.0.0.1:0' to '127.0.0.1:1'; that needs a restart" "$TMP/agent.log" &&
	curl -fsS "$URL/health" >/dev/null; then
	pass "a changed --listen is logged as needing a restart and the old address keeps serving"
else
	fail "no restart-needed line for --listen" "$(tail -20 "$TMP/agent.log")"
fi

# ------------------------------------------------------------- journald format
if grep -q '^<4>docker: observation failed' "$TMP/agent.log" &&
	grep -q '^<3>reload: service catalog refused' "$TMP/agent.log" &&
	grep -q '^<6>edge-agent .* serving http://' "$TMP/agent.log" &&
	grep -q '^<7>heartbeat still failing' "$TMP/agent.log"; then
	pass "under journald, warnings are <4>, errors <3>, info <6>, debug <7>"
else
	fail "journald priority prefixes missing" "$(head -20 "$TMP/agent.log")"
fi
untagged=$(grep -cv '^<[0-7]>' "$TMP/agent.log")
stamped=$(grep -cE '^<[0-7]>[0-9]{4}-[0-9]{2}-[0-9]{2}' "$TMP/agent.log")
if [ "$untagged" = 0 ] && [ "$stamped" = 0 ]; then
	pass "under journald every line has a priority and no timestamp of ours"
else
	fail "$untagged line(s) without a priority, $stamped with a timestamp" "$(head -5 "$TMP/agent.log")"
fi

# ------------------------------------------------------------- SIGTERM
kill -TERM "$AGENT_PID"
rc=""
for _ in $(seq 100); do
	if ! kill -0 "$AGENT_PID" 2>/dev/null; then
		wait "$AGENT_PID"
		rc=$?
		break
	fi
	sleep 0.1
done
AGENT_PID=""
[ "$rc" = 0 ] && pass "SIGTERM after reloads exits 0" || fail "SIGTERM: exit code '${rc:-still running}'"

# ------------------------------------------------------------- outside journald
: >"$TMP/plain.log"
JOURNAL_STREAM="1:1" "$BIN" run --listen 0.0.0.0:1 --state-dir "$TMP/s2" 2>"$TMP/plain.log"
if grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z critical refusing to serve plaintext' "$TMP/plain.log"; then
	pass "when JOURNAL_STREAM is not stderr, lines keep the timestamped format"
else
	fail "the plain format changed" "$(cat "$TMP/plain.log")"
fi
finish
