#!/usr/bin/env bash
# The HTTP server under load and abuse (issue 12), one fresh plaintext agent
# on loopback per part (its Docker socket does not exist: nothing touches the
# shared engine; /topology/state answers from the cache with observed.error):
#  - idle: VmRSS, RssAnon, RssFile (KiB), PSS (smaps_rollup) and threads,
#    2 s after the first 200; plaintext, then as deployed: mTLS with a pinned
#    --master-identity and the heartbeat on (to a master that is not there);
#  - reads: wrk -t2 -d$DUR on /health and /topology/state at -c32 and -c256,
#    each as a ratio to bench_bare_httplib's /health (the cpp-httplib ceiling)
#    and to the yardstick py_agent's same route (when python3-fastapi and
#    uvicorn are installed), measured in the same run;
#  - slow clients: 1,000 connections from 127.0.0.2..127.0.0.21 (50 each),
#    half idle TCP, half a stalled partial TLS ClientHello... on a plaintext
#    port that is a stalled request line (slowloris); then 200 sequential
#    /health probes from 127.0.0.1 on fresh connections: p50 / p99 / max ms;
#  - memory, for two 14-15 MB bodies with their right hash (tiny deckies;
#    a master-shaped topology that validates and is planned): peak RSS per
#    apply step (bench_apply_memory), the agent's VmHWM after one body, after
#    four concurrent ones, and VmRSS 2 s after the burst; the four run under
#    `prlimit --as=1GiB` (an address-space ceiling, stricter than MemoryMax=)
#    and the agent must still answer /health afterwards.
#
#   bench/server.sh <build_dir> [duration_s]   (default 10)
# Needs wrk (apt-get install -y wrk; a bench tool, not a build dependency).
# Prints "KEY value" lines.
set -euo pipefail

build_dir="$(cd "${1:?usage: server.sh <build_dir> [duration_s]}" && pwd)"
dur="${2:-${DURATION:-10}}"
agent="$build_dir/edge-agent"
bare="$build_dir/bench_bare_httplib"
for b in "$agent" "$bare" "$build_dir/bench_apply_memory"; do [[ -x "$b" ]] || { echo "server: $b is not built" >&2; exit 1; }; done
command -v wrk >/dev/null || { echo "server: need wrk (apt-get install -y wrk)" >&2; exit 1; }

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
echo '{}' >"$work/catalog.json"
catalog="$work/catalog.json"  # start_agent's; the memory part knows the bodies' services

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_200() {  # wait_200 <url> <pid> <log>
  for _ in $(seq 300); do
    curl -fsS "$1" >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || { cat "$3" >&2; return 1; }
    sleep 0.1
  done
  echo "server: $1 never answered 200" >&2; return 1
}
start_agent() {  # start_agent NAME [prefix command...]; sets $port $pid
  local name=$1; shift
  port=$(free_port)
  "$@" "$agent" run --listen "127.0.0.1:$port" --state-dir "$work/$name" \
    --docker-socket "$work/no-docker.sock" --service-catalog "$catalog" \
    --log-level warn 2>"$work/$name.log" &
  pid=$!
  pids+=("$pid")
  wait_200 "http://127.0.0.1:$port/health" "$pid" "$work/$name.log"
}
stop_pid() { kill "$1" 2>/dev/null && wait "$1" 2>/dev/null || true; }
status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
rps() {  # rps URL CONNECTIONS
  wrk -t2 -c"$2" -d"${dur}s" --timeout 5s "$1" 2>/dev/null | awk '/Requests\/sec/ {print $2}'
}
ratio() { python3 -c "print(f'{float($1) / float($2):.2f}')"; }

# ---- idle footprint ----
start_agent idle
sleep 2
echo "idle_vmrss_kib $(status_kib "$pid" VmRSS)"
echo "idle_rss_anon_kib $(status_kib "$pid" RssAnon)"
echo "idle_rss_file_kib $(status_kib "$pid" RssFile)"
echo "idle_pss_kib $(awk '$1 == "Pss:" {print $2}' "/proc/$pid/smaps_rollup")"
echo "idle_threads $(ls "/proc/$pid/task" | wc -l)"

# The same, as deployed: mTLS, a pinned master, the heartbeat client on.
bash "$(dirname "$0")/../tests/support/make_pki.sh" "$work/pki" >/dev/null
tls_port=$(free_port)
"$agent" run --listen "127.0.0.1:$tls_port" --state-dir "$work/tls" \
  --docker-socket "$work/no-docker.sock" --service-catalog "$work/catalog.json" \
  --tls-cert "$work/pki/agent.crt" --tls-key "$work/pki/agent.key" --tls-ca "$work/pki/ca.crt" \
  --master-identity decnet-master --master-url "https://127.0.0.1:$(free_port)" \
  --host-uuid 11111111-1111-4111-8111-111111111111 --log-level error 2>"$work/tls.log" &
tls_pid=$!
pids+=("$tls_pid")
for _ in $(seq 300); do
  curl -fsS --cacert "$work/pki/ca.crt" --cert "$work/pki/master.crt" --key "$work/pki/master.key" \
    "https://127.0.0.1:$tls_port/health" >/dev/null 2>&1 && break
  sleep 0.1
done
sleep 2
echo "tls_idle_vmrss_kib $(status_kib "$tls_pid" VmRSS)"
echo "tls_idle_rss_anon_kib $(status_kib "$tls_pid" RssAnon)"
echo "tls_idle_rss_file_kib $(status_kib "$tls_pid" RssFile)"
echo "tls_idle_pss_kib $(awk '$1 == "Pss:" {print $2}' "/proc/$tls_pid/smaps_rollup")"
echo "tls_idle_threads $(ls "/proc/$tls_pid/task" | wc -l)"
stop_pid "$tls_pid"

# ---- reads vs the bare cpp-httplib server, same run ----
bare_port=$(free_port)
"$bare" "$bare_port" >/dev/null 2>&1 &
bare_pid=$!
pids+=("$bare_pid")
wait_200 "http://127.0.0.1:$bare_port/health" "$bare_pid" /dev/null
# The yardstick (py_agent: FastAPI + uvicorn), when its packages are there.
baseline="${EDGE_BASELINE_DIR:-/work/shared/baseline}"
py_port=""
if [[ -f "$baseline/py_agent.py" ]] && /usr/bin/python3 -c 'import fastapi, uvicorn' 2>/dev/null; then
  py_port=$(free_port)
  PY_AGENT_DB="$work/py_agent.db" /usr/bin/python3 -m uvicorn py_agent:app --app-dir "$baseline" \
    --host 127.0.0.1 --port "$py_port" --log-level warning >"$work/py.log" 2>&1 &
  py_pid=$!
  pids+=("$py_pid")
  wait_200 "http://127.0.0.1:$py_port/health" "$py_pid" "$work/py.log"
fi
for c in 32 256; do
  b=$(rps "http://127.0.0.1:$bare_port/health" "$c")
  h=$(rps "http://127.0.0.1:$port/health" "$c")
  s=$(rps "http://127.0.0.1:$port/topology/state" "$c")
  echo "bare_health_rps_c$c $b"
  echo "edge_health_rps_c$c $h"
  echo "edge_state_rps_c$c $s"
  echo "edge_health_ratio_c$c $(ratio "$h" "$b")"
  echo "edge_state_ratio_c$c $(ratio "$s" "$b")"
  if [[ -n "$py_port" ]]; then
    ph=$(rps "http://127.0.0.1:$py_port/health" "$c")
    ps=$(rps "http://127.0.0.1:$py_port/topology/state" "$c")
    echo "py_health_rps_c$c ${ph:-0}"
    echo "py_state_rps_c$c ${ps:-0}"
    echo "edge_health_vs_py_c$c $(ratio "$h" "${ph:-0.001}")"
    echo "edge_state_vs_py_c$c $(ratio "$s" "${ps:-0.001}")"
  fi
done
echo "threads_after_wrk $(ls "/proc/$pid/task" | wc -l)"
stop_pid "$bare_pid"
[[ -n "$py_port" ]] && stop_pid "$py_pid"

# ---- slow clients: p99 of /health while 1,000 are held ----
python3 - "$port" <<'PY'
import socket, statistics, sys, time
port = int(sys.argv[1])
held = []
for s in range(20):
    src = f"127.0.0.{2 + s}"
    for i in range(50):
        c = socket.socket()
        c.bind((src, 0))
        c.connect(("127.0.0.1", port))
        if i % 2:
            c.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # stalled "handshake"
        else:
            pass  # idle TCP
        held.append(c)
time.sleep(0.5)
lat = []
for _ in range(200):
    t0 = time.monotonic()
    p = socket.create_connection(("127.0.0.1", port), timeout=5)
    p.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while chunk := p.recv(4096):
        data += chunk
    p.close()
    if data.startswith(b"HTTP/1.1 200"):
        lat.append((time.monotonic() - t0) * 1000)
lat.sort()
print(f"slow_clients_held {len(held)}")
print(f"slow_probe_ok {len(lat)}/200")
print(f"slow_probe_p50_ms {statistics.median(lat):.2f}")
print(f"slow_probe_p99_ms {lat[int(len(lat) * 0.99) - 1]:.2f}")
print(f"slow_probe_max_ms {lat[-1]:.2f}")
for c in held:
    c.close()
PY
stop_pid "$pid"

# ---- memory: 16 MiB bodies ----
# Two shapes, each with the hash the master would send, so the whole path
# runs: 14.8 MB of tiny deckies (the costliest shape per byte; refused at
# validation, 400: no LAN) and a 14 MB master-shaped topology that validates
# (gen_topology.py --valid), is planned, and fails at Docker (500: this
# agent's socket does not exist).
gen="$(dirname "$0")/gen_topology.py"
python3 "$gen" --tiny 15000000 --body --out "$work/tiny-body.json"
python3 "$gen" --valid --deckies 15000 --body --out "$work/master-body.json"
python3 -c 'import json, sys; json.dump({s: {"image": "decnet/" + s + ":1.0", "command": ["/entrypoint.sh", "--serve"], "env": {"NODE_NAME": "{decky}"}} for s in sys.argv[2:]}, open(sys.argv[1], "w"))' \
  "$work/catalog8.json" http ftp smb ssh rdp telnet mysql snmp
catalog="$work/catalog8.json"
echo "body_bytes $(stat -c %s "$work/tiny-body.json")"
echo "master_body_bytes $(stat -c %s "$work/master-body.json")"
# Per step, in one process (bench_apply_memory): peak RSS during each step
# over the level before the body was read, as a multiple of the body.
for shape in tiny master; do
  "$build_dir/bench_apply_memory" "$work/$shape-body.json" "$catalog" |
    awk -v s="$shape" '/_peak_x |^peak_x |^plan_bound_x / {print "steps_" s "_" $1, $2}'
done
post_body() { curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
  --data-binary "@$work/$1-body.json" "http://127.0.0.1:$port/topology/apply" || echo 000; }

for shape in tiny master; do
  start_agent "mem1-$shape"
  echo "one_${shape}_idle_kib $(status_kib "$pid" VmRSS)"
  echo "one_${shape}_status $(post_body "$shape")"
  echo "one_${shape}_peak_kib $(status_kib "$pid" VmHWM)"
  stop_pid "$pid"
done

for shape in tiny master; do
  start_agent "mem4-$shape" prlimit --as=$((1 << 30))
  codes=()
  cpids=()
  for i in 1 2 3 4; do
    post_body "$shape" >"$work/code.$i" &
    cpids+=($!)
  done
  wait "${cpids[@]}" || true
  for i in 1 2 3 4; do codes+=("$(cat "$work/code.$i")"); done
  echo "four_${shape}_statuses ${codes[*]}"
  echo "four_${shape}_peak_kib $(status_kib "$pid" VmHWM)"
  sleep 2
  echo "four_${shape}_after_rss_kib $(status_kib "$pid" VmRSS)"
  if curl -fsS "http://127.0.0.1:$port/health" >/dev/null && kill -0 "$pid"; then
    echo "four_${shape}_under_1gib_as_alive yes"
  else
    echo "four_${shape}_under_1gib_as_alive NO"; tail -5 "$work/mem4-$shape.log" >&2
  fi
  stop_pid "$pid"
done
