#!/usr/bin/env bash
# Footprint of edge-agent vs the yardstick (py_agent: FastAPI + uvicorn):
#  - startup: ms from fork/exec to the first 200 on GET /health, median of
#    RUNS (default 10); a Python poller retries connect() in a tight loop
#    (no sleep) so the figure is not quantised by a retry interval;
#  - idle RSS: VmRSS from /proc/PID/status 2 s after the first 200 (and PSS
#    from /proc/PID/smaps_rollup: shared library pages split among their users).
# Both processes get a fresh state dir, the real Docker socket, loopback only.
#
#   bench/footprint.sh <build_dir> [runs]
# Prints one line per metric as "KEY value" (machine-readable; run_all.sh
# collects them) and exits non-zero if either process fails to come up.
set -euo pipefail

build_dir="$(cd "${1:?usage: footprint.sh <build_dir> [runs]}" && pwd)"
runs="${2:-${RUNS:-10}}"
agent="$build_dir/edge-agent"
baseline="${EDGE_BASELINE_DIR:-/work/shared/baseline}"
pyb="${EDGE_BASELINE_PYTHON:-/usr/bin/python3}"  # Debian's, where python3-fastapi lives
[[ -x "$agent" ]] || { echo "footprint: $agent is not built" >&2; exit 1; }
"$pyb" -c 'import fastapi, uvicorn' 2>/dev/null ||
  { echo "footprint: need python3-fastapi and uvicorn (apt-get install -y python3-fastapi uvicorn python3-docker)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo '{}' >"$work/catalog.json"

# poll.py KIND RUNS: starts the process RUNS times, prints the startup ms of
# each and the VmRSS (KiB) of the last one after 2 s idle. Every process it
# starts is stopped (SIGTERM, then SIGKILL after 5 s) before it returns.
cat >"$work/poll.py" <<'PY'
import os, signal, socket, statistics, subprocess, sys, time

kind, runs, agent, baseline, work, pyb = sys.argv[1], int(sys.argv[2]), *sys.argv[3:7]
REQ = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def cmd(i, port):
    if kind == "edge":
        return [agent, "run", "--listen", f"127.0.0.1:{port}", "--state-dir", f"{work}/edge-{i}",
                "--service-catalog", f"{work}/catalog.json", "--log-level", "warn"], None
    env = dict(os.environ, PY_AGENT_DB=f"{work}/py-{i}.db")
    return [pyb, "-m", "uvicorn", "py_agent:app", "--app-dir", baseline,
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"], env

def first_200(port, proc, deadline):
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{kind}: exited with {proc.returncode} before answering")
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(REQ)
            head = s.recv(64)
            if head.startswith(b"HTTP/1.1 200"):
                return time.monotonic()
        except OSError:
            pass
        finally:
            s.close()
    raise SystemExit(f"{kind}: no 200 on /health within the deadline")

def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill(); proc.wait()

times, rss, pss = [], None, None
for i in range(runs):
    port = free_port()
    argv, env = cmd(i, port)
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=open(f"{work}/{kind}-{i}.log", "w"))
    try:
        t1 = first_200(port, proc, t0 + 30)
        times.append((t1 - t0) * 1000.0)
        if i == runs - 1:
            time.sleep(2)
            with open(f"/proc/{proc.pid}/status") as f:
                rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
            with open(f"/proc/{proc.pid}/smaps_rollup") as f:
                pss = next(int(l.split()[1]) for l in f if l.startswith("Pss:"))
    finally:
        stop(proc)
print("startup_ms_runs", " ".join(f"{t:.1f}" for t in times), file=sys.stderr)
print(f"{statistics.median(times):.1f} {rss} {pss}")
PY

read -r edge_ms edge_rss edge_pss < <(python3 "$work/poll.py" edge "$runs" "$agent" "$baseline" "$work" "$pyb")
read -r py_ms py_rss py_pss < <(python3 "$work/poll.py" py "$runs" "$agent" "$baseline" "$work" "$pyb")
echo "edge_startup_ms $edge_ms"
echo "py_startup_ms $py_ms"
echo "edge_idle_rss_kib $edge_rss"
echo "py_idle_rss_kib $py_rss"
echo "edge_idle_pss_kib $edge_pss"
echo "py_idle_pss_kib $py_pss"
