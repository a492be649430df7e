#!/usr/bin/env bash
# Read throughput: GET /topology/state of edge-agent (a 30-decky topology
# applied for real on the local engine through POST /topology/apply) vs the
# yardstick py_agent (the same topology applied; it only stores it, and asks
# the engine on every read) vs GET /health of bench_bare_httplib (a bare
# cpp-httplib server, same 64-thread pool): the ceiling on this machine.
# Also checks, with edge-agent's /metrics, that the read load made no
# Docker Engine calls (edge_agent_docker_calls_total unchanged).
#
#   bench/reads.sh <build_dir> [duration_s]      (default 10; wrk -c32 -t2 --latency)
#
# wrk --timeout 10s so the yardstick's slow answers count in its latency instead
# of as timeouts. Prints "KEY value" lines (run_all.sh collects them). Uses the offline test
# image, subnets 10.236.0.0/24 + 10.236.1.0/24 (must be free) and topology id
# 7e57bead-0000-4000-8000-000000000030; every container and network it made
# is removed (by label) and every process stopped on exit.
set -euo pipefail

build_dir="$(cd "${1:?usage: reads.sh <build_dir> [duration_s]}" && pwd)"
dur="${2:-${DURATION:-10}}"
src_dir="$(cd "$(dirname "$0")/.." && pwd)"
agent="$build_dir/edge-agent"
bare="$build_dir/bench_bare_httplib"
baseline="${EDGE_BASELINE_DIR:-/work/shared/baseline}"
pyb="${EDGE_BASELINE_PYTHON:-/usr/bin/python3}"
for b in "$agent" "$bare"; do [[ -x "$b" ]] || { echo "reads: $b is not built" >&2; exit 1; }; done
command -v wrk >/dev/null || { echo "reads: need wrk (apt-get install -y wrk)" >&2; exit 1; }
image="$(bash "$src_dir/tests/support/make_test_image.sh")"

tid="7e57bead-0000-4000-8000-000000000030"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  docker ps -aq --filter "label=decnet.topology.id=$tid" | xargs -r docker rm -f >/dev/null
  docker network ls -q --filter "label=decnet.topology.id=$tid" | xargs -r docker network rm >/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_200() {  # wait_200 <url> <pid> <log>
  for _ in $(seq 300); do
    curl -fsS "$1" >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || { cat "$3" >&2; return 1; }
    sleep 0.1
  done
  echo "reads: $1 never answered 200" >&2; return 1
}

# 30 deckies: bridge-1 on DMZ+lan1, 29 plain ones alternating, each running
# the catalog service "http" (a second container in the base's namespace).
python3 - "$tid" >"$work/hydrated.json" <<'PY'
import json, sys
tid = sys.argv[1]
lans = [{"id": "l0", "name": "dmz", "subnet": "10.236.0.0/24", "is_dmz": True, "x": 1, "y": 2,
         "created_at": "2026-04-21T00:00:00+00:00"},
        {"id": "l1", "name": "lan1", "subnet": "10.236.1.0/24", "is_dmz": False, "x": 3, "y": 4}]
deckies = [{"uuid": "b1", "name": "bridge-1", "services": [],
            "decky_config": {"ips_by_lan": {"dmz": "10.236.0.200", "lan1": "10.236.1.200"}, "forwards_l3": True}}]
edges = [{"id": "e0", "decky_uuid": "b1", "lan_id": "l0", "is_bridge": True, "forwards_l3": True},
         {"id": "e1", "decky_uuid": "b1", "lan_id": "l1", "is_bridge": True, "forwards_l3": True}]
for i in range(29):
    lan = lans[i % 2]
    deckies.append({"uuid": f"d{i}", "name": f"decky-{i}", "services": ["http"], "status": "running",
                    "decky_config": {"ips_by_lan": {lan["name"]: "10.236.%d.%d" % (i % 2, 10 + i)},
                                     "forwards_l3": False, "service_config": {"http": {"port": 80}}}})
    edges.append({"id": f"e{i + 2}", "decky_uuid": f"d{i}", "lan_id": lan["id"], "is_bridge": False, "forwards_l3": False})
print(json.dumps({"topology": {"id": tid, "name": "reads-bench", "mode": "agent", "version": 3},
                  "lans": lans, "deckies": deckies, "edges": edges}))
PY
python3 - "$image" >"$work/catalog.json" <<'PY'
import json, sys
print(json.dumps({"http": {"image": sys.argv[1], "command":
                  ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"]}}))
PY
hash="$("$agent" hash "$work/hydrated.json")"
python3 -c 'import json,sys; print(json.dumps({"hydrated": json.load(open(sys.argv[1])), "version_hash": sys.argv[2]}))' \
  "$work/hydrated.json" "$hash" >"$work/apply.json"

post_apply() {  # post_apply <port>: fails loudly unless 200
  local code
  code="$(curl -sS -o "$work/resp" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary "@$work/apply.json" "http://127.0.0.1:$1/topology/apply")"
  [[ "$code" == 200 ]] || { echo "reads: apply on :$1 -> $code: $(cat "$work/resp")" >&2; exit 1; }
}
docker_calls() {  # total of edge_agent_docker_calls_total over every label set
  curl -fsS "http://127.0.0.1:$1/metrics" |
    awk '/^edge_agent_docker_calls_total/ {s += $NF} END {printf "%d\n", s}'
}
# run_wrk <name> <url>: prints "<name>_rps R", "<name>_p50_ms", "<name>_p99_ms", "<name>_errors"
run_wrk() {
  wrk -c32 -t2 -d"${dur}s" --timeout 10s --latency "$2" >"$work/wrk-$1.txt"
  python3 - "$1" "$work/wrk-$1.txt" <<'PY'
import re, sys
name, text = sys.argv[1], open(sys.argv[2]).read()
def ms(v):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", v)
    return float(m[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[m[2]]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text)[1])
p50 = ms(re.search(r"^\s+50%\s+(\S+)", text, re.M)[1])
p99 = ms(re.search(r"^\s+99%\s+(\S+)", text, re.M)[1])
errs = re.search(r"Socket errors: (.*)", text)
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(f"{name}_rps {rps:.1f}\n{name}_p50_ms {p50:.3f}\n{name}_p99_ms {p99:.3f}")
print(f"{name}_errors {(errs[1].replace(' ', '') if errs else 'none')},non2xx={non2xx[1] if non2xx else 0}")
PY
}

# --- edge-agent, topology applied on the real engine.
ep="$(free_port)"
"$agent" run --listen "127.0.0.1:$ep" --state-dir "$work/edge" --base-image "$image" \
  --service-catalog "$work/catalog.json" --log-level warn >"$work/edge.log" 2>&1 &
pids+=($!); edge_pid=$!
wait_200 "http://127.0.0.1:$ep/health" "$edge_pid" "$work/edge.log"
post_apply "$ep"
running="$(docker ps -q --filter "label=decnet.topology.id=$tid" | wc -l)"
[[ "$running" == 59 ]] || { echo "reads: the apply left $running running containers, want 59" >&2; exit 1; }
sleep 1  # let the observer's post-apply re-list settle before counting calls
curl -fsS "http://127.0.0.1:$ep/topology/state" >"$work/edge-state.json"
python3 - "$work/edge-state.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert len(s["observed"]["containers"]) == 59 and len(s["observed"]["bridges"]) == 2, s["observed"]
print(f"edge_state_bytes {len(open(sys.argv[1], 'rb').read())}")
PY
calls_before="$(docker_calls "$ep")"
run_wrk edge "http://127.0.0.1:$ep/topology/state"
calls_after="$(docker_calls "$ep")"
echo "edge_docker_calls_during_reads $((calls_after - calls_before))"

# --- py_agent, the same topology stored (it only stores; reads ask the engine).
pp="$(free_port)"
PY_AGENT_DB="$work/py_agent.db" "$pyb" -m uvicorn py_agent:app --app-dir "$baseline" \
  --host 127.0.0.1 --port "$pp" --log-level warning >"$work/py.log" 2>&1 &
pids+=($!); py_pid=$!
wait_200 "http://127.0.0.1:$pp/health" "$py_pid" "$work/py.log"
post_apply "$pp"
curl -fsS "http://127.0.0.1:$pp/topology/state" >"$work/py-state.json"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert len(s["observed"]["containers"]) >= 59, s["observed"]' "$work/py-state.json"
run_wrk py "http://127.0.0.1:$pp/topology/state"
kill "$py_pid"; wait "$py_pid" 2>/dev/null || true

# --- the bare cpp-httplib ceiling.
"$bare" 0 >"$work/bare.out" 2>&1 &
pids+=($!); bare_pid=$!
for _ in $(seq 100); do grep -q '^port ' "$work/bare.out" && break; sleep 0.05; done
bp="$(awk '/^port / {print $2}' "$work/bare.out")"
wait_200 "http://127.0.0.1:$bp/health" "$bare_pid" "$work/bare.out"
run_wrk bare "http://127.0.0.1:$bp/health"
kill "$bare_pid"; wait "$bare_pid" 2>/dev/null || true

# --- tear the topology down through the agent (cleanup() catches leftovers).
printf '{"topology_id": "%s"}' "$tid" >"$work/teardown.json"
code="$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
  --data-binary "@$work/teardown.json" "http://127.0.0.1:$ep/topology/teardown")"
echo "edge_teardown_status $code"
