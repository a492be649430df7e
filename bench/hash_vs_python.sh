#!/usr/bin/env bash
# Times the master's hash function (Python stdlib: json.loads + strip +
# json.dumps + sha256) against build/edge_bench's BM_CanonicalHash on the same
# ~10 MB topology, checks both give the same hash, and prints both medians
# (5 runs each) and the ratios, for wall-clock time and for CPU time (on a
# busy machine the CPU figures are the steadier ones).
#
# Then the same as whole processes, as an operator meets them: `edge-agent
# hash FILE` against `python3 -c '<read file, json.loads, strip, dumps,
# sha256>'` (interpreter start-up and file reading included), run
# alternately, 7 times each, medians of wall and CPU time.
#
#   bench/hash_vs_python.sh [BUILD_DIR] [DECKIES]    (defaults: build, 10500)
#   EDGE_AGENT=/path/to/edge-agent (default BUILD_DIR/edge-agent) to time
#   another binary; EDGE_AGENT_BASELINE=/path/to/older/edge-agent to time an
#   older build too, interleaved with the others (before/after figures).
set -euo pipefail

src_dir=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${1:-$src_dir/build}
deckies=${2:-10500}
bench="$build_dir/edge_bench"
[[ -x $bench ]] || { echo "no $bench: build the edge_bench target first" >&2; exit 2; }

doc=$(mktemp /tmp/edge_hash_topology.XXXXXX.json)
out=$(mktemp /tmp/edge_hash_bench.XXXXXX.json)
trap 'rm -f "$doc" "$out"' EXIT

python3 "$src_dir/bench/gen_topology.py" --deckies "$deckies" --out "$doc"

py_result=$(python3 - "$doc" "$src_dir/bench" <<'PY'
import json, statistics, sys, time

sys.path.insert(0, sys.argv[2])
from gen_topology import master_hash  # the master's function (DESIGN §2)


def canonical_hash(text):
    return master_hash(json.loads(text))

with open(sys.argv[1], "rb") as f:
    body = f.read()
wall, cpu = [], []
for _ in range(5):
    w0, c0 = time.perf_counter(), time.process_time()
    h = canonical_hash(body.decode("utf-8"))
    wall.append((time.perf_counter() - w0) * 1000.0)
    cpu.append((time.process_time() - c0) * 1000.0)
print(f"{statistics.median(wall):.3f} {statistics.median(cpu):.3f} {h}")
PY
)
read -r py_ms py_cpu_ms py_hash <<<"$py_result"

EDGE_BENCH_TOPOLOGY="$doc" "$bench" --benchmark_filter=Hash --benchmark_repetitions=5 \
  --benchmark_format=json --benchmark_out="$out" --benchmark_out_format=json >/dev/null

read -r cpp_ms cpp_cpu_ms cpp_hash < <(python3 - "$out" <<'PY'
import json, sys
runs = [b for b in json.load(open(sys.argv[1]))["benchmarks"]
        if b["run_name"].startswith("BM_CanonicalHash")]
median = [b for b in runs if b.get("aggregate_name") == "median"][0]
assert median["time_unit"] == "ms", median["time_unit"]
label = [b for b in runs if b.get("run_type") == "iteration"][0].get("label", "")
print(f"{median['real_time']:.3f} {median['cpu_time']:.3f} {label}")
PY
)

size=$(stat -c %s "$doc")
echo "document:        $size bytes ($deckies deckies)"
echo "python3 ($(python3 --version 2>&1)) hash:  $py_hash"
echo "edge_bench (BM_CanonicalHash) hash: $cpp_hash"
echo "python3 median:    wall $py_ms ms, cpu $py_cpu_ms ms"
echo "edge_bench median: wall $cpp_ms ms, cpu $cpp_cpu_ms ms"
if [[ $py_hash != "$cpp_hash" ]]; then
  echo "MISMATCH: the two hashes differ" >&2
  exit 1
fi
python3 - "$py_ms" "$cpp_ms" "$py_cpu_ms" "$cpp_cpu_ms" <<'PY'
import sys
pw, cw, pc, cc = map(float, sys.argv[1:])
print(f"ratio (python / edge): wall {pw / cw:.1f}x, cpu {pc / cc:.1f}x")
PY

# Whole processes. The interpreter is resolved once (a pyenv shim would add
# its own start-up to every Python run).
agent=${EDGE_AGENT:-$build_dir/edge-agent}
[[ -x $agent ]] || { echo "no $agent: build the edge-agent target first" >&2; exit 2; }
python_bin=$(python3 -c 'import sys; print(sys.executable)')
python3 - "$doc" "$agent" "$python_bin" "${EDGE_AGENT_BASELINE:-}" <<'PY'
import resource, statistics, subprocess, sys, time

doc, agent, python, baseline = sys.argv[1:]
ORACLE = r"""
import hashlib, json, sys
V = frozenset({"created_at", "status_changed_at", "updated_at", "last_seen", "status",
               "version", "last_error", "x", "y", "w", "h"})
def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k not in V}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v
with open(sys.argv[1], "rb") as f:
    doc = json.loads(f.read().decode("utf-8"))
print(hashlib.sha256(json.dumps(strip(doc), sort_keys=True,
                                separators=(",", ":")).encode()).hexdigest())
"""
commands = {"edge-agent hash": [agent, "hash", doc], "python3 -c": [python, "-c", ORACLE, doc]}
if baseline:
    commands["baseline hash"] = [baseline, "hash", doc]

def run(argv):
    w0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate()
    wall = (time.perf_counter() - w0) * 1000.0
    if p.returncode != 0:
        sys.exit(f"{argv[0]} failed: {err.decode(errors='replace')}")
    return wall, out.decode().strip()

def cpu_of(argv):
    # CPU time (user + system) of one child, from the kernel's accounting.
    def used():
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime
    before = used()
    wall, out = run(argv)
    return wall, (used() - before) * 1000.0, out

times = {k: ([], []) for k in commands}
hashes = {}
for _ in range(7):
    for name, argv in commands.items():
        wall, cpu, out = cpu_of(argv)
        times[name][0].append(wall)
        times[name][1].append(cpu)
        hashes[name] = out
med = {k: (statistics.median(w), statistics.median(c)) for k, (w, c) in times.items()}
for name in commands:
    w, c = med[name]
    print(f"whole process, {name:15s}: median wall {w:7.1f} ms, cpu {c:7.1f} ms "
          f"(wall runs: {', '.join(f'{x:.0f}' for x in sorted(times[name][0]))}) hash {hashes[name][:16]}")
if len(set(hashes.values())) != 1:
    sys.exit("MISMATCH: edge-agent hash and python3 print different hashes")
(ew, ec), (pw, pc) = med["edge-agent hash"], med["python3 -c"]
print(f"whole-process ratio (python / edge): wall {pw / ew:.1f}x, cpu {pc / ec:.1f}x")
if baseline:
    bw, bc = med["baseline hash"]
    print(f"whole-process ratio (python / baseline): wall {pw / bw:.1f}x, cpu {pc / bc:.1f}x")
PY
