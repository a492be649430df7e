#!/usr/bin/env bash
# Fleet scale on one machine: N (default 200) edge-agents on loopback, each
# with its own port and state dir, heartbeating every INTERVAL s (default 5)
# over mTLS to build/edge_test_master (which records every heartbeat). After
# a warm-up, over a WINDOW-second window (default 30) it measures the agents'
# total CPU (utime+stime from /proc/PID/stat), total RSS and PSS
# (/proc/PID/smaps_rollup: shared pages split between the agents), the
# master's CPU and RSS, and the master's received heartbeat rate; from those,
# how many agents fit on this machine. Also the heartbeat envelope size
# (a recorded body minus its "topology" member) for the paper estimate.
#
#   bench/fleet.sh <build_dir> [agents] [interval_s] [window_s]
# The agents share a Docker socket path that does not exist (DOCKER_SOCKET
# overrides it): each reports observed.error, as the contract wants, and the
# engine is not loaded with N event streams. Loopback only; bounded in time;
# every process it starts is stopped on exit. Prints "KEY value" lines.
set -euo pipefail

build_dir="$(cd "${1:?usage: fleet.sh <build_dir> [agents] [interval_s] [window_s]}" && pwd)"
n="${2:-${AGENTS:-200}}"
interval="${3:-${INTERVAL:-5}}"
window="${4:-${WINDOW:-30}}"
src_dir="$(cd "$(dirname "$0")/.." && pwd)"
agent="$build_dir/edge-agent"
master="$build_dir/edge_test_master"
for b in "$agent" "$master"; do [[ -x "$b" ]] || { echo "fleet: $b is not built" >&2; exit 1; }; done

work="$(mktemp -d)"
sock="${DOCKER_SOCKET:-$work/no-such-docker.sock}"
pids=()
master_pid=""
cleanup() {
  ((${#pids[@]})) && kill "${pids[@]}" 2>/dev/null || true
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [[ -n "$master_pid" ]] && kill "$master_pid" 2>/dev/null && wait "$master_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

bash "$src_dir/tests/support/make_pki.sh" "$work/pki" >/dev/null
pki="$work/pki"
# N+1 distinct free ports, held open together so none repeats.
mapfile -t ports < <(python3 - "$((n + 1))" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
for s in socks: print(s.getsockname()[1])
PY
)
mport="${ports[$n]}"
"$master" --listen "127.0.0.1:$mport" --cert "$pki/master.crt" --key "$pki/master.key" \
  --ca "$pki/ca.crt" --record "$work/beats.jsonl" >"$work/master.log" 2>&1 &
master_pid=$!
for _ in $(seq 100); do
  curl -s -o /dev/null --cacert "$pki/ca.crt" --cert "$pki/agent.crt" --key "$pki/agent.key" \
    "https://127.0.0.1:$mport/" && break
  kill -0 "$master_pid" 2>/dev/null || { cat "$work/master.log" >&2; exit 1; }
  sleep 0.1
done

t_start=$(date +%s%N)
for i in $(seq 0 $((n - 1))); do
  "$agent" run --listen "127.0.0.1:${ports[$i]}" --state-dir "$work/a$i" --docker-socket "$sock" \
    --master-url "https://127.0.0.1:$mport" --host-uuid "$(printf 'f1ee7000-0000-4000-8000-%012d' "$i")" \
    --heartbeat-interval "$interval" --tls-cert "$pki/agent.crt" --tls-key "$pki/agent.key" \
    --tls-ca "$pki/ca.crt" --log-level warn >"$work/a$i.log" 2>&1 &
  pids+=($!)
done
# Up = answers GET /health over mTLS.
for i in $(seq 0 $((n - 1))); do
  for _ in $(seq 300); do
    curl -fsS -o /dev/null --cacert "$pki/ca.crt" --cert "$pki/master.crt" --key "$pki/master.key" \
      "https://127.0.0.1:${ports[$i]}/health" 2>/dev/null && break
    kill -0 "${pids[$i]}" 2>/dev/null || { echo "fleet: agent $i exited" >&2; cat "$work/a$i.log" >&2; exit 1; }
    sleep 0.1
  done
done
echo "fleet_agents $n"
echo "fleet_interval_s $interval"
echo "fleet_all_up_ms $(( ($(date +%s%N) - t_start) / 1000000 ))"
sleep "$interval"  # warm-up: every agent past its first heartbeat

clk=$(getconf CLK_TCK)
cpu_ticks() { for p in "$@"; do awk '{print $14 + $15}' "/proc/$p/stat"; done | awk '{s += $1} END {print s}'; }
beats() { wc -l <"$work/beats.jsonl"; }
a0=$(cpu_ticks "${pids[@]}"); m0=$(cpu_ticks "$master_pid"); b0=$(beats); t0=$(date +%s%N)
sleep "$window"
a1=$(cpu_ticks "${pids[@]}"); m1=$(cpu_ticks "$master_pid"); b1=$(beats); t1=$(date +%s%N)
for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || { echo "fleet: an agent died during the window" >&2; exit 1; }; done

FLEET_INTERVAL="$interval" python3 - "$work" "$clk" "$a0" "$a1" "$m0" "$m1" "$b0" "$b1" "$t0" "$t1" "$n" "$master_pid" "${pids[@]}" <<'PY'
import json, os, sys
work, clk = sys.argv[1], int(sys.argv[2])
a0, a1, m0, m1, b0, b1, t0, t1, n, mpid = map(int, sys.argv[3:13])
pids = sys.argv[13:]
secs = (t1 - t0) / 1e9
def kib(pid, key, f="status"):
    with open(f"/proc/{pid}/{f}") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith(key + ":"))
rss = sum(kib(p, "VmRSS") for p in pids)
pss = sum(kib(p, "Pss", "smaps_rollup") for p in pids)
agents_cpu = (a1 - a0) / clk / secs * 100.0  # % of one core, all agents
master_cpu = (m1 - m0) / clk / secs * 100.0
rate = (b1 - b0) / secs
with open(f"{work}/beats.jsonl", "rb") as fh:
    last = fh.readlines()[-1]
body = json.loads(last)
envelope = len(json.dumps(body, separators=(",", ":"))) - len(json.dumps(body["topology"], separators=(",", ":")))
hosts = set()
with open(f"{work}/beats.jsonl") as fh:
    for line in fh:
        hosts.add(json.loads(line).get("host_uuid"))
with open("/proc/meminfo") as fh:
    mi = {l.split(":")[0]: int(l.split()[1]) for l in fh}
cores = os.cpu_count()
per_pss = pss / n
per_cpu = agents_cpu / n
fit_mem = int((mi["MemTotal"] * 0.8) / per_pss)          # 80% of RAM for agents
fit_cpu = int((cores * 100.0 * 0.5) / per_cpu) if per_cpu > 0 else 10**9  # half the cores
print(f"fleet_window_s {secs:.1f}")
print(f"fleet_hosts_heard {len(hosts)}")
print(f"fleet_master_beats_per_s {rate:.2f}")
print(f"fleet_expected_beats_per_s {n / float(os.environ['FLEET_INTERVAL']):.2f}")
print(f"fleet_agents_rss_total_kib {rss}")
print(f"fleet_agents_pss_total_kib {pss}")
print(f"fleet_agent_pss_each_kib {per_pss:.0f}")
print(f"fleet_agents_cpu_pct_one_core {agents_cpu:.1f}")
print(f"fleet_agent_cpu_pct_each {per_cpu:.3f}")
print(f"fleet_master_cpu_pct_one_core {master_cpu:.1f}")
print(f"fleet_master_rss_kib {kib(mpid, 'VmRSS')}")
print(f"fleet_heartbeat_envelope_bytes {envelope}")
print(f"fleet_heartbeat_body_bytes_observed_error {len(last.strip())}")
print(f"fleet_mem_total_kib {mi['MemTotal']}")
print(f"fleet_cores {cores}")
print(f"fleet_fit_by_memory {fit_mem}")
print(f"fleet_fit_by_cpu {fit_cpu}")
print(f"fleet_fit {min(fit_mem, fit_cpu)}")
PY
