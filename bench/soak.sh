#!/usr/bin/env bash
# Soak: N (default 100000) mixed requests against one edge-agent, from 4
# keep-alive client threads that also reconnect every 50th request:
#   /health 40%, /topology/state 25%, /metrics 10%, /debug/state 10%,
#   invalid applies 14% (bad JSON -> 422, wrong shape -> 422, hash mismatch -> 400,
#   invalid topology with the right hash -> 400), teardown of an unknown id 1% (200).
# Every response's status is checked against the expected one. Reports VmRSS,
# thread count (/proc/PID/task) and fd count (/proc/PID/fd): idle, after a
# 6,400-request warm-up on 64 connections, after half the soak and after all of it (connections
# closed, 1 s later). The agent inherits the environment, so
# `MALLOC_ARENA_MAX=2 bench/soak.sh ...` shows how much growth is glibc arenas.
# Then a memcheck run (valgrind --leak-check=full) of a fresh agent under a
# small mixed load (VALGRIND_REQUESTS, default 300) ending with SIGTERM.
#
#   bench/soak.sh <build_dir> [requests]     (SKIP_VALGRIND=1 skips memcheck)
# Prints "KEY value" lines (run_all.sh collects them). Uses the real Docker
# socket (teardowns of unknown ids list by label; nothing is created).
set -euo pipefail

build_dir="$(cd "${1:?usage: soak.sh <build_dir> [requests]}" && pwd)"
total="${2:-${REQUESTS:-100000}}"
vg_requests="${VALGRIND_REQUESTS:-300}"
agent="$build_dir/edge-agent"
[[ -x "$agent" ]] || { echo "soak: $agent is not built" >&2; exit 1; }

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
echo '{"http": {"image": "edge-agent-test/busybox:latest"}}' >"$work/catalog.json"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_200() {  # wait_200 <url> <pid> <log> [tries of 0.1 s]
  for _ in $(seq "${4:-300}"); do
    curl -fsS "$1" >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || { cat "$3" >&2; return 1; }
    sleep 0.1
  done
  echo "soak: $1 never answered 200" >&2; return 1
}
snapshot() {  # snapshot <pid> <tag>: rss KiB, threads, fds
  echo "soak_${2}_rss_kib $(awk '/^VmRSS:/ {print $2}' "/proc/$1/status")"
  echo "soak_${2}_threads $(ls "/proc/$1/task" | wc -l)"
  echo "soak_${2}_fds $(ls "/proc/$1/fd" | wc -l)"
}

# The load generator: load.py PORT N PREFIX AGENT [THREADS=4]. Prints "<PREFIX>_requests N",
# "<PREFIX>_unexpected K" (responses whose status was not the expected one)
# and the elapsed seconds. Exits 1 on any connection failure.
cat >"$work/load.py" <<'PY'
import http.client, json, random, sys, threading, time
port, n, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
good_topology = {"topology": {"id": "50a6-0000", "name": "soak"}, "lans": [], "deckies": [], "edges": []}
# A valid-shaped body whose hydrated document fails validation (no DMZ), with
# its real hash, so the request gets through the hash check to validation.
import subprocess
hashed = subprocess.run([sys.argv[4], "hash", "-"], input=json.dumps(good_topology).encode(),
                        capture_output=True, check=True).stdout.decode().strip()
KINDS = ([("GET", "/health", None, 200)] * 40 + [("GET", "/topology/state", None, 200)] * 25 +
         [("GET", "/metrics", None, 200)] * 10 + [("GET", "/debug/state", None, 200)] * 10 +
         [("POST", "/topology/apply", b"{not json", 422)] * 4 +
         [("POST", "/topology/apply", b'{"hydrated": 3}', 422)] * 3 +
         [("POST", "/topology/apply", json.dumps({"hydrated": good_topology, "version_hash": "0" * 64}).encode(), 400)] * 4 +
         [("POST", "/topology/apply", json.dumps({"hydrated": good_topology, "version_hash": hashed}).encode(), 400)] * 3 +
         [("POST", "/topology/teardown", b'{"topology_id": "0000dead-unknown"}', 200)] * 1)
unexpected, done, failures = [0], [0], []
lock = threading.Lock()

def worker(count, seed):
    r = random.Random(seed)
    conn, bad = None, 0
    try:
        for i in range(count):
            if conn is None or i % 50 == 0:
                if conn is not None:
                    conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            method, path, body, want = r.choice(KINDS)
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status != want:
                bad += 1
                if bad <= 3:
                    print(f"unexpected {resp.status} (want {want}) for {method} {path} {body[:40] if body else ''}",
                          file=sys.stderr)
            if resp.getheader("Connection", "").lower() == "close":
                conn.close(); conn = None
    except Exception as e:  # a connection failure is a soak failure
        failures.append(repr(e))
    finally:
        if conn is not None:
            conn.close()
        with lock:
            unexpected[0] += bad

threads_n = int(sys.argv[5]) if len(sys.argv) > 5 else 4
t0 = time.monotonic()
ts = [threading.Thread(target=worker, args=(n // threads_n + (1 if k < n % threads_n else 0), k))
      for k in range(threads_n)]
for t in ts: t.start()
for t in ts: t.join()
print(f"{prefix}_requests {n}\n{prefix}_unexpected {unexpected[0]}\n{prefix}_seconds {time.monotonic() - t0:.1f}")
if failures:
    print("connection failures:", failures[:3], file=sys.stderr)
    sys.exit(1)
PY

# --- the soak.
port="$(free_port)"
"$agent" run --listen "127.0.0.1:$port" --state-dir "$work/state" \
  --service-catalog "$work/catalog.json" --log-level warn >"$work/agent.log" 2>&1 &
pids+=($!); pid=$!
wait_200 "http://127.0.0.1:$port/health" "$pid" "$work/agent.log"
sleep 2
snapshot "$pid" idle
# Warm-up on 64 concurrent keep-alive connections: each holds one of the
# agent's 64 pool threads, so every thread has run the request paths once
# (its stack pages and malloc caches are touched) before "warm" is taken.
python3 "$work/load.py" "$port" 6400 soak_warmup "$agent" 64
sleep 1
snapshot "$pid" warm
# In two halves: growth in the second half tells a leak (keeps growing) from
# the allocator warming up its per-thread arenas (grows once, then flat).
python3 "$work/load.py" "$port" "$((total / 2))" soak_first_half "$agent" | tee -a "$work/out"
sleep 1
snapshot "$pid" mid
python3 "$work/load.py" "$port" "$((total - total / 2))" soak_second_half "$agent" | tee -a "$work/out"
sleep 1
snapshot "$pid" after
echo "soak_requests $total"
echo "soak_unexpected $(awk '/^soak_(first|second)_half_unexpected / {s += $2} END {print s + 0}' "$work/out")"
kill "$pid"; wait "$pid" 2>/dev/null || true

# --- memcheck under a small mixed load, clean SIGTERM exit.
if [[ "${SKIP_VALGRIND:-0}" != 1 ]]; then
  command -v valgrind >/dev/null || { echo "soak: need valgrind (apt-get install -y valgrind)" >&2; exit 1; }
  port="$(free_port)"
  valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect \
    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --log-file="$work/vg.log" \
    "$agent" run --listen "127.0.0.1:$port" --state-dir "$work/vg-state" \
    --service-catalog "$work/catalog.json" --log-level warn >"$work/vg-agent.log" 2>&1 &
  pids+=($!); vpid=$!
  wait_200 "http://127.0.0.1:$port/health" "$vpid" "$work/vg-agent.log" 1200
  python3 "$work/load.py" "$port" "$vg_requests" valgrind "$agent"
  kill -TERM "$vpid"
  set +e; wait "$vpid"; vrc=$?; set -e
  echo "valgrind_exit $vrc"
  echo "valgrind_errors $(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$work/vg.log" | tail -1)"
  # With nothing left on the heap valgrind prints no "lost:" lines, only
  # "no leaks are possible": that is 0. A figure it did not print is
  # "unknown", never taken for 0.
  for kind in definitely indirectly possibly; do
    lost="$(sed -n "s/.*${kind} lost: \([0-9,]*\) bytes.*/\1/p" "$work/vg.log" | tr -d , | tail -1)"
    if [[ -z "$lost" ]] && grep -q 'no leaks are possible' "$work/vg.log"; then lost=0; fi
    echo "valgrind_${kind}_lost_bytes ${lost:-unknown}"
  done
  if [[ "$vrc" != 0 ]]; then
    echo "soak: valgrind reported errors or the agent did not exit cleanly; log follows" >&2
    grep -v '^==[0-9]*== *$' "$work/vg.log" | head -80 >&2
  fi
fi
