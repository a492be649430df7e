#!/usr/bin/env bash
# The operator's view of a running agent on the real engine: /debug/state
# after an apply, and SIGTERM in the middle of an apply leaving a clean exit
# and an intact store. Removes every Docker object it labels.
set -uo pipefail
BUILD=${1:?build dir}
SRC=${2:?source dir}
AGENT="$BUILD/edge-agent"
TMP=$(mktemp -d)
TID1="$(printf '%08x' $((RANDOM * RANDOM)))-3333-4333-8333-000000000001"
TID2="${TID1%1}2"
PID=""
cleanup() {
  [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
  for t in "$TID1" "$TID2"; do
    ids=$(docker ps -aq --filter "label=decnet.topology.id=$t" 2>/dev/null)
    [ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1
    nets=$(docker network ls -q --filter "label=decnet.topology.id=$t" 2>/dev/null)
    [ -n "$nets" ] && docker network rm $nets >/dev/null 2>&1
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
pass=0; fail=0
check() { if eval "$2"; then echo "PASS: $1"; pass=$((pass + 1)); else echo "FAIL: $1"; fail=$((fail + 1)); fi; }

if ! docker version >/dev/null 2>&1; then
  if [ "${CI:-}" = true ]; then echo "FAIL: Docker engine required in CI"; echo "0 passed, 1 failed"; exit 1; fi
  echo "SKIP: no Docker engine on this machine"; echo "0 passed, 0 failed, 1 skipped"; exit 0
fi
bash "$SRC/tests/support/make_test_image.sh" >/dev/null || { echo "FAIL: test image"; exit 1; }

# topology.json: DMZ + lan1 joined by a bridge decky, N plain deckies.
make_topology() {  # id deckies subnet_octet out
  python3 - "$@" <<'PY'
import json, sys
tid, n, octet, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
net = lambda i: f"10.{octet}.{i}"
lans = [{"id": "l0", "name": "DMZ", "subnet": net(0) + ".0/24", "is_dmz": True, "x": 1},
        {"id": "l1", "name": "lan1", "subnet": net(1) + ".0/24", "is_dmz": False, "y": 2}]
deckies = [{"uuid": "b", "name": "bridge", "services": ["http"],
            "decky_config": {"ips_by_lan": {"DMZ": net(0) + ".2", "lan1": net(1) + ".2"}, "forwards_l3": True}}]
edges = [{"decky_uuid": "b", "lan_id": "l0", "is_bridge": True}, {"decky_uuid": "b", "lan_id": "l1", "is_bridge": True}]
for i in range(n):
    lan = i % 2
    deckies.append({"uuid": f"d{i}", "name": f"decky-{i}", "services": ["http"],
                    "decky_config": {"ips_by_lan": {lans[lan]["name"]: f"{net(lan)}.{10 + i}"}}})
    edges.append({"decky_uuid": f"d{i}", "lan_id": f"l{lan}", "is_bridge": False})
json.dump({"topology": {"id": tid, "status": "deploying"}, "lans": lans, "deckies": deckies, "edges": edges},
          open(out, "w"))
PY
}
apply_body() {  # topology.json -> body
  printf '{"hydrated":%s,"version_hash":"%s"}' "$(cat "$1")" "$("$AGENT" hash "$1")"
}
O1=$((150 + RANDOM % 40))
make_topology "$TID1" 3 "$O1" "$TMP/t1.json"
make_topology "$TID2" 24 "$((O1 + 50))" "$TMP/t2.json"
echo '{"http": {"image": "edge-agent-test/busybox:latest", "command": ["httpd", "-f", "-p", "8080"]}}' >"$TMP/services.json"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

"$AGENT" run --listen "127.0.0.1:$PORT" --state-dir "$TMP/state" --base-image edge-agent-test/busybox:latest \
  --service-catalog "$TMP/services.json" 2>"$TMP/agent.log" &
PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.05; done

code=$(apply_body "$TMP/t1.json" | curl -s -o "$TMP/apply1.out" -w '%{http_code}' --data-binary @- \
  -H 'Content-Type: application/json' "http://127.0.0.1:$PORT/topology/apply")
check "apply answers 200" '[ "$code" = 200 ]'
sleep 1
curl -s "http://127.0.0.1:$PORT/debug/state" >"$TMP/debug.json"
dq() { python3 -c "import json,sys; d=json.load(open('$TMP/debug.json')); print($1)"; }
check "debug: the row with blob size and hash" \
  '[ "$(dq "d[\"row\"][\"topology_id\"]")" = "$TID1" ] && [ "$(dq "d[\"row\"][\"blob_bytes\"] > 0 and len(d[\"row\"][\"blob_sha256\"]) == 64")" = True ]'
check "debug: docker reachable, API version, events stream connected" \
  '[ "$(dq "d[\"docker\"][\"reachable\"] and d[\"docker\"][\"api_version\"] != \"\" and d[\"docker\"][\"events_connected\"]")" = True ]'
check "debug: observed and drift in sync" '[ "$(dq "d[\"drift\"][\"in_sync\"] and len(d[\"observed\"][\"containers\"]) == 8")" = True ]'
check "debug: heartbeat status, uptime, version, build, config" \
  '[ "$(dq "all(k in d for k in (\"heartbeat\",\"uptime_s\",\"version\",\"build\",\"config\")) and \"next_due_unix\" in d[\"heartbeat\"]")" = True ]'
check "debug: the config carries no key path" '! grep -q tls_key "$TMP/debug.json"'
curl -s "http://127.0.0.1:$PORT/metrics" >"$TMP/metrics.txt"
check "metrics: the apply was counted" 'grep -q "edge_agent_operations_total{op=\"apply\",outcome=\"ok\"} 1" "$TMP/metrics.txt"'

# Drift appearing and clearing: one log line each, naming what is wrong.
C="decnet_t_${TID1:0:8}_decky-0"
docker stop -t 1 "$C" >/dev/null
for _ in $(seq 1 100); do grep -q "warning drift: .*stopped \[.*$C" "$TMP/agent.log" && break; sleep 0.1; done
check "a stopped container is one drift warning naming it" \
  '[ "$(grep -c "warning drift: .*stopped \[.*$C" "$TMP/agent.log")" = 1 ]'
docker start "$C" >/dev/null
for _ in $(seq 1 100); do grep -q "info drift cleared: " "$TMP/agent.log" && break; sleep 0.1; done
check "its restart is one drift-cleared info line" '[ "$(grep -c "info drift cleared: .*$C" "$TMP/agent.log")" = 1 ]'

# A larger superseding apply, interrupted by SIGTERM half-way.
apply_body "$TMP/t2.json" >"$TMP/body2.json"
curl -s -o /dev/null --data-binary @"$TMP/body2.json" -H 'Content-Type: application/json' \
  "http://127.0.0.1:$PORT/topology/apply" &
CURL=$!
sleep 1.5
start=$(date +%s%N)
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=""
ms=$(( ($(date +%s%N) - start) / 1000000 ))
wait "$CURL" 2>/dev/null
check "SIGTERM during an apply exits 0 (rc=$rc) inside TimeoutStopSec (${ms} ms)" '[ $rc -eq 0 ] && [ $ms -lt 25000 ]'
check "the log says it drained" 'grep -q "stopped cleanly" "$TMP/agent.log"'
"$AGENT" state --state-dir "$TMP/state" >"$TMP/state.json"; src=$?
sq() { python3 -c "import json,sys; d=json.load(open('$TMP/state.json')); print($1)"; }
check "the store is intact: one whole row whose blob hashes to its hash" \
  '[ $src -eq 0 ] && [ "$(sq "d[\"topology_id\"] in (\"$TID1\", \"$TID2\") and (d.get(\"blob_hash_matches\") or d[\"applied_version_hash\"] == \"\")")" = True ]'
check "sqlite integrity_check is ok" '[ "$(python3 -c "import sqlite3; print(sqlite3.connect(\"$TMP/state/topology.db\").execute(\"pragma integrity_check\").fetchone()[0])")" = ok ]'

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
