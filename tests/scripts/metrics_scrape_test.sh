#!/usr/bin/env bash
# metrics_scrape_test.sh <build_dir> <source_dir>
#
# Runs the real daemon the way systemd does (Type=notify, WatchdogSec) with
# a notify socket of our own, and scrapes GET /metrics with the reference
# Prometheus parser (python3-prometheus-client):
#   READY=1 arrives with the bound port, WATCHDOG=1 arrives every
#   WATCHDOG_USEC/2, the exposition parses, counters hold exact values for
#   the requests we made, build_info matches --version, and SIGTERM sends
#   STOPPING=1 and exits 0.
# Hermetic: port 0, temp state dir, and a Docker socket path that does not
# exist (Docker trouble must not stop the agent from answering).
set -uo pipefail

BUILD=$(realpath "${1:?usage: metrics_scrape_test.sh <build_dir> <source_dir>}")
BIN="$BUILD/edge-agent"
PY=/usr/bin/python3 # Debian's python, where python3-prometheus-client lives

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/edge-metrics-test.XXXXXX")
LISTENER_PID=""
AGENT_PID=""
cleanup() {
	if [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; then kill -KILL "$AGENT_PID"; fi
	if [ -n "$LISTENER_PID" ] && kill -0 "$LISTENER_PID" 2>/dev/null; then kill "$LISTENER_PID"; fi
	rm -rf "$TMP"
}
trap cleanup EXIT
finish() {
	if [ "$FAILED" -ne 0 ] && [ -f "$TMP/agent.log" ]; then
		echo "--- agent log ---" >&2
		tail -n 40 "$TMP/agent.log" >&2
	fi
	summary
	exit $?
}

[ -x "$BIN" ] || {
	fail "the daemon is not built: $BIN is missing"
	finish
}
command -v curl >/dev/null || {
	fail "curl is missing"
	finish
}
"$PY" -c 'import prometheus_client' 2>/dev/null || {
	fail "python3-prometheus-client is missing (apt-get install python3-prometheus-client)"
	finish
}

# What systemd does for Type=notify: a datagram socket; one JSON line per message.
cat >"$TMP/listener.py" <<'EOF'
import json, os, socket, sys, time
path, log = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(log, "a", buffering=1) as out:
    while True:
        msg = s.recv(4096).decode()
        out.write(json.dumps({"t": time.monotonic(), "msg": msg}) + "\n")
EOF
"$PY" "$TMP/listener.py" "$TMP/notify.sock" "$TMP/notify.log" &
LISTENER_PID=$!
for _ in $(seq 100); do
	[ -S "$TMP/notify.sock" ] && break
	sleep 0.05
done
touch "$TMP/notify.log"

# Only what we pass: no EDGE_AGENT_* from the caller's environment.
for v in $(compgen -e | grep '^EDGE_AGENT_'); do unset "$v"; done
NOTIFY_SOCKET="$TMP/notify.sock" WATCHDOG_USEC=1000000 \
	"$BIN" run --listen 127.0.0.1:0 --state-dir "$TMP/state" \
	--docker-socket "$TMP/no-docker.sock" >"$TMP/agent.log" 2>&1 &
AGENT_PID=$!

# ------------------------------------------------------------- READY=1
PORT=""
for _ in $(seq 200); do
	PORT=$(grep -o 'READY=1\\nSTATUS=serving on 127.0.0.1:[0-9]*' "$TMP/notify.log" | grep -o '[0-9]*$' | head -1)
	[ -n "$PORT" ] && break
	kill -0 "$AGENT_PID" 2>/dev/null || break
	sleep 0.1
done
if [ -n "$PORT" ] && [ "$PORT" -gt 0 ]; then
	pass "READY=1 arrives on NOTIFY_SOCKET with the bound port ($PORT)"
else
	fail "no READY=1 with a port within 20 s" "$(cat "$TMP/notify.log")"
	finish
fi
URL="http://127.0.0.1:$PORT"

# ------------------------------------------------------------- traffic
curl -fsS "$URL/health" >/dev/null
curl -fsS "$URL/health" >/dev/null
curl -fsS "$URL/topology/state" >/dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/no/such/route")
[ "$code" = "404" ] || fail "GET /no/such/route answered $code, expected 404"

# ------------------------------------------------------------- WATCHDOG=1
sleep 1.6
pings=$("$PY" - "$TMP/notify.log" <<'EOF'
import json, sys
ts = [json.loads(l)["t"] for l in open(sys.argv[1]) if json.loads(l)["msg"] == "WATCHDOG=1"]
gaps = [b - a for a, b in zip(ts, ts[1:])]
print(len(ts), " ".join("%.2f" % g for g in gaps))
EOF
)
n=${pings%% *}
gaps=${pings#* }
if [ "$n" -ge 3 ] && "$PY" -c "import sys; g=[float(x) for x in sys.argv[1:]]; sys.exit(0 if g and all(0.3 <= x <= 0.9 for x in g) else 1)" $gaps; then
	pass "WATCHDOG=1 arrives every WATCHDOG_USEC/2 (0.5 s): $n pings, gaps $gaps s"
else
	fail "WATCHDOG=1 pings: got $n, gaps '$gaps' (want >= 3 about 0.5 s apart)" "$(cat "$TMP/notify.log")"
fi

# ------------------------------------------------------------- GET /metrics
ctype=$(curl -fsS -o "$TMP/metrics.txt" -w '%{content_type}' "$URL/metrics")
if [ "$ctype" = "text/plain; version=0.0.4; charset=utf-8" ]; then
	pass "GET /metrics answers Content-Type: $ctype"
else
	fail "GET /metrics Content-Type is '$ctype'"
fi

cat >"$TMP/parse.py" <<'EOF'
import sys
from prometheus_client.parser import text_string_to_metric_families
for f in text_string_to_metric_families(open(sys.argv[1], encoding="utf-8").read()):
    for s in f.samples:
        labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
        print("%s %s{%s} %r" % (f.type, s.name, labels, s.value))
EOF
# The request counter moves when the response has been written, so a scrape
# right after a request may race it by microseconds: settle, then be exact.
parsed=""
for _ in $(seq 20); do
	curl -fsS -o "$TMP/metrics.txt" "$URL/metrics" || break
	if ! parsed=$("$PY" "$TMP/parse.py" "$TMP/metrics.txt" 2>&1); then
		fail "the Prometheus parser rejects GET /metrics" "$parsed"
		finish
	fi
	grep -qxF 'counter edge_agent_http_requests_total{code=404,route=other} 1.0' <<<"$parsed" && break
	sleep 0.1
done
pass "the reference Prometheus parser accepts GET /metrics ($(printf '%s\n' "$parsed" | wc -l) samples)"

VERSION=$("$BIN" --version | awk '{print $2}')
REV=$("$BIN" --version | sed -n 's/.*(\([^,]*\),.*/\1/p')
problems=""
for want in \
	'counter edge_agent_http_requests_total{code=200,route=/health} 2.0' \
	'counter edge_agent_http_requests_total{code=200,route=/topology/state} 1.0' \
	'counter edge_agent_http_requests_total{code=404,route=other} 1.0' \
	"gauge edge_agent_build_info{git_rev=$REV,version=$VERSION} 1.0" \
	'counter edge_agent_heartbeats_total{outcome=ok} 0.0' \
	'counter edge_agent_operations_total{op=apply,outcome=ok} 0.0' \
	'histogram edge_agent_operation_duration_seconds_count{op=apply} 0.0' \
	'counter edge_agent_store_errors_total{} 0.0'; do
	grep -qxF -- "$want" <<<"$parsed" || problems+="missing: $want"$'\n'
done
for family in 'gauge edge_agent_uptime_seconds{}' 'gauge edge_agent_drift{}' \
	'counter edge_agent_http_requests_total{code=200,route=/metrics}'; do
	grep -qF -- "$family " <<<"$parsed" || problems+="missing: $family"$'\n'
done
uptime=$(printf '%s\n' "$parsed" | sed -n 's/^gauge edge_agent_uptime_seconds{} //p')
"$PY" -c "import sys; sys.exit(0 if 1.0 < float(sys.argv[1]) < 120 else 1)" "${uptime:-0}" ||
	problems+="uptime '$uptime' is not the seconds since start"$'\n'
if [ -z "$problems" ]; then
	pass "counters hold exactly the requests made; build_info is $VERSION/$REV; uptime ${uptime}s"
else
	fail "GET /metrics values" "$problems--- parsed ---"$'\n'"$parsed"
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
if [ "$rc" = "0" ] && grep -q '"STOPPING=1' "$TMP/notify.log"; then
	pass "SIGTERM sends STOPPING=1 and the agent exits 0"
else
	fail "SIGTERM: exit code '${rc:-still running after 10 s}', STOPPING=1 $(grep -c STOPPING=1 "$TMP/notify.log") times"
fi
AGENT_PID=""

finish
