#!/usr/bin/env bash
# Every benchmark of edge-agent against the yardstick (py_agent: FastAPI +
# uvicorn + sqlite3 + docker SDK, /work/shared/baseline), on this machine in
# this run, and bench/RESULTS.md written from the figures (metric, edge-agent,
# yardstick, ratio, target, met?, command). Not part of ctest: minutes long,
# needs the Docker engine, loads the machine.
#
#   bench/run_all.sh [build_dir]          (default: build; configured Release if missing)
#
# Environment: SKIP="reads fleet ..." skips steps (footprint reads hash apply30
# apply100 validate soak soak_arena2 fleet); APPLY_REPS (default 3), SOAK_REQUESTS (100000),
# FLEET_AGENTS (200), FLEET_INTERVAL (5), FLEET_WINDOW (30), RESULTS (output
# file, default bench/RESULTS.md). Raw logs stay in $BENCH_LOG_DIR (default a
# fresh /tmp/edge-bench.XXXXXX), named in RESULTS.md.
# Needs: docker, wrk, valgrind, curl, python3, and for the yardstick
# apt-get install -y python3-fastapi uvicorn python3-docker.
set -uo pipefail

src_dir="$(cd "$(dirname "$0")/.." && pwd)"
build_dir="${1:-$src_dir/build}"
results="${RESULTS:-$src_dir/bench/RESULTS.md}"
logs="${BENCH_LOG_DIR:-$(mktemp -d /tmp/edge-bench.XXXXXX)}"
mkdir -p "$logs"
skip=" ${SKIP:-} "

if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  cmake -S "$src_dir" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >"$logs/configure.log" 2>&1 ||
    { echo "run_all: cmake configure failed, see $logs/configure.log" >&2; exit 1; }
fi
cmake --build "$build_dir" --target edge-agent edge_bench bench_bare_httplib bench_apply_memory edge_test_master \
  >"$logs/build.log" 2>&1 || { echo "run_all: build failed, see $logs/build.log" >&2; exit 1; }
build_dir="$(cd "$build_dir" && pwd)"
rel_build="${build_dir#"$src_dir"/}"

# step <name> <command...>: runs it, output to $logs/<name>.log, status to $logs/<name>.rc
step() {
  local name=$1; shift
  if [[ "$skip" == *" $name "* ]]; then echo "skip $name"; echo skipped >"$logs/$name.rc"; return; fi
  echo "== $name: $*"
  local t0=$SECONDS
  "$@" >"$logs/$name.log" 2>&1
  local rc=$?
  echo "$rc" >"$logs/$name.rc"
  echo "   exit $rc after $((SECONDS - t0)) s (log $logs/$name.log)"
}

{
  echo "date $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "git $(git -C "$src_dir" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "cpu $(nproc) x $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "load_before $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$logs/env.txt"

step footprint bash "$src_dir/bench/footprint.sh" "$build_dir" 10
step reads bash "$src_dir/bench/reads.sh" "$build_dir" 10
step server bash "$src_dir/bench/server.sh" "$build_dir" 10
step hash bash "$src_dir/bench/hash_vs_python.sh" "$build_dir"
step apply30 env REPS="${APPLY_REPS:-3}" bash "$src_dir/bench/apply_vs_cli.sh" "$build_dir" 30
step apply100 env REPS="${APPLY_REPS:-3}" bash "$src_dir/bench/apply_vs_cli.sh" "$build_dir" 100
step validate "$build_dir/edge_bench" --benchmark_filter='BM_ValidateTopology|BM_ScanTopLevel' \
  --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
step soak bash "$src_dir/bench/soak.sh" "$build_dir" "${SOAK_REQUESTS:-100000}"
# The same soak with glibc's arenas capped: what the growth above is made of.
step soak_arena2 env MALLOC_ARENA_MAX=2 SKIP_VALGRIND=1 bash "$src_dir/bench/soak.sh" "$build_dir" "${SOAK_REQUESTS:-100000}"
step fleet bash "$src_dir/bench/fleet.sh" "$build_dir" "${FLEET_AGENTS:-200}" "${FLEET_INTERVAL:-5}" "${FLEET_WINDOW:-30}"
echo "load_after $(cut -d' ' -f1-3 /proc/loadavg)" >>"$logs/env.txt"

python3 - "$logs" "$results" "$rel_build" <<'PY'
import os, re, sys
logs, out, b = sys.argv[1], sys.argv[2], sys.argv[3]

def log(name):
    p = f"{logs}/{name}.log"
    return open(p, errors="replace").read() if os.path.exists(p) else ""
def rc(name):
    p = f"{logs}/{name}.rc"
    return open(p).read().strip() if os.path.exists(p) else "not run"
def kv(name):
    d = {}
    for line in log(name).splitlines():
        m = re.fullmatch(r"([a-z0-9_]+) (.+)", line.strip())  # a value may be several words
        if m:
            d[m[1]] = m[2]
    return d
env = kv("env")
envtxt = open(f"{logs}/env.txt").read()
rows = []
def row(metric, edge, yard, ratio, target, met, cmd):
    rows.append((metric, edge, yard, ratio, target, met, cmd))
def f(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None
def yes(ok):
    return "n/a" if ok is None else ("yes" if ok else "**no**")
def failed(step, metric, cmd):
    row(metric, f"step failed (exit {rc(step)}; see {logs}/{step}.log)", "", "", "", "**no**", cmd)

# 1. footprint
fp = kv("footprint"); cmd = f"`bench/footprint.sh {b} 10`"
if rc("footprint") == "0":
    e, p = f(fp["edge_idle_rss_kib"]), f(fp["py_idle_rss_kib"])
    row("idle RSS (VmRSS 2 s after first 200)", f"{e / 1024:.1f} MiB", f"{p / 1024:.1f} MiB",
        f"{p / e:.1f}x smaller", "≤ 12 MiB and ≥ 5x smaller", yes(e <= 12 * 1024 and p / e >= 5), cmd)
    e, p = f(fp["edge_idle_pss_kib"]), f(fp["py_idle_pss_kib"])
    row("  idle PSS (smaps_rollup; shared library pages split among their users)", f"{e / 1024:.1f} MiB",
        f"{p / 1024:.1f} MiB", f"{p / e:.1f}x smaller", "", "", cmd)
    e, p = f(fp["edge_startup_ms"]), f(fp["py_startup_ms"])
    row("startup to first 200 on /health (median of 10)", f"{e:.0f} ms", f"{p:.0f} ms",
        f"{p / e:.1f}x faster", "≤ 50 ms", yes(e <= 50), cmd)
elif rc("footprint") != "skipped":
    failed("footprint", "footprint", cmd)

# 2. reads
rd = kv("reads"); cmd = f"`bench/reads.sh {b} 10` (wrk -c32 -t2 -d10s --latency)"
if rc("reads") == "0":
    e, p, bare = f(rd["edge_rps"]), f(rd["py_rps"]), f(rd["bare_rps"])
    row("GET /topology/state req/s, 30 deckies applied (59 containers)", f"{e:,.0f}",
        f"{p:,.1f}", f"{e / p:,.0f}x", "≥ 20x", yes(e / p >= 20), cmd)
    row("  same, p50 / p99 latency", f"{rd['edge_p50_ms']} / {rd['edge_p99_ms']} ms",
        f"{rd['py_p50_ms']} / {rd['py_p99_ms']} ms", "", "", "", cmd)
    row("  ratio to bare cpp-httplib GET /health (64 threads)", f"{e:,.0f} req/s",
        f"bare: {bare:,.0f} req/s (p50 {rd['bare_p50_ms']} ms, p99 {rd['bare_p99_ms']} ms)",
        f"{e / bare:.2f}", "≥ 0.5", yes(e / bare >= 0.5), cmd)
    row("  engine calls during the read load (edge_agent_docker_calls_total delta)",
        rd["edge_docker_calls_during_reads"], "every read lists networks + containers",
        "", "0", yes(rd["edge_docker_calls_during_reads"] == "0"), cmd)
    row("  wrk socket errors", rd["edge_errors"], rd["py_errors"], "", "", "", cmd)
elif rc("reads") != "skipped":
    failed("reads", "reads", cmd)

# 2b. the server under load and abuse (issue 12)
sv = kv("server"); cmd = f"`bench/server.sh {b} 10`"
if rc("server") == "0":
    def mib(k):
        return f"{int(sv[k]) / 1024:.1f}"
    row("idle, plaintext: VmRSS / RssAnon / RssFile / PSS (MiB), threads",
        f"{mib('idle_vmrss_kib')} / {mib('idle_rss_anon_kib')} / {mib('idle_rss_file_kib')} / {mib('idle_pss_kib')}, {sv['idle_threads']}",
        "", "", "", "", cmd)
    if "tls_idle_vmrss_kib" in sv:
        row("idle as deployed (mTLS, pinned master, heartbeat on): VmRSS / RssAnon / RssFile / PSS (MiB), threads",
            f"{mib('tls_idle_vmrss_kib')} / {mib('tls_idle_rss_anon_kib')} / {mib('tls_idle_rss_file_kib')} / {mib('tls_idle_pss_kib')}, {sv['tls_idle_threads']}",
            "", "", "VmRSS ≤ 14 MiB, anon < 1 MiB, ≤ 12 threads",
            yes(int(sv['tls_idle_vmrss_kib']) <= 14 * 1024 and int(sv['tls_idle_rss_anon_kib']) < 1024 and int(sv['tls_idle_threads']) <= 12), cmd)
    for c in ("32", "256"):
        for route, key in (("/health", "health"), ("/topology/state", "state")):
            e = f(sv.get(f"edge_{key}_rps_c{c}"))
            py = f(sv.get(f"py_{key}_rps_c{c}"))
            row(f"GET {route} wrk -c{c} req/s (ratio to bare cpp-httplib /health: {sv.get(f'edge_{key}_ratio_c{c}')})",
                f"{e:,.0f}", f"{py:,.0f}" if py else "not run", f"{e / py:,.1f}x" if py else "", "", "", cmd)
    row("GET /health with 1,000 slow connections held (20 source addresses): ok, p50 / p99 / max",
        f"{sv['slow_probe_ok']}, {sv['slow_probe_p50_ms']} / {sv['slow_probe_p99_ms']} / {sv['slow_probe_max_ms']} ms",
        "", "", "20/20 within 1 s", yes(f(sv['slow_probe_max_ms']) < 1000 and sv['slow_probe_ok'] == "200/200"), cmd)
    sizes = {"tiny": int(sv["body_bytes"]), "master": int(sv["master_body_bytes"])}
    names = {"tiny": "tiny deckies", "master": "master-shaped"}
    for shape in ("tiny", "master"):
        st = lambda k: sv.get(f"steps_{shape}_{k}", "-")
        plan = f" / {st('plan_peak_x')}x (the plan alone: bound {st('plan_bound_x')}x)" if f"steps_{shape}_plan_peak_x" in sv else ""
        row(f"{sizes[shape] / 1e6:.1f} MB {names[shape]} body, peak RSS per step over the body (bench_apply_memory): tree / parse (tree + model) / validate" + (" / plan" if plan else ""),
            f"{st('tree_peak_x')}x / {st('parse_peak_x')}x / {st('validate_peak_x')}x{plan}", "", "",
            "parse ≤ about 4x", yes(f(st('parse_peak_x')) is not None and f(st('parse_peak_x')) <= 4.0), cmd)
        idle, one = int(sv[f"one_{shape}_idle_kib"]), int(sv[f"one_{shape}_peak_kib"])
        row(f"  the agent, one such body: status, VmHWM (over idle, as a multiple of the body)",
            f"{sv[f'one_{shape}_status']}, {one / 1024:.0f} MiB ({(one - idle) * 1024 / sizes[shape]:.1f}x)", "", "", "", "", cmd)
        row("  four concurrent under a 1 GiB address-space limit: statuses, peak, RSS 2 s after, alive",
            f"{sv[f'four_{shape}_statuses']}; {int(sv[f'four_{shape}_peak_kib']) / 1024:.0f} MiB; {int(sv[f'four_{shape}_after_rss_kib']) / 1024:.1f} MiB; {sv[f'four_{shape}_under_1gib_as_alive']}",
            "", "", "alive", yes(sv[f'four_{shape}_under_1gib_as_alive'] == "yes"), cmd)
elif rc("server") != "skipped":
    failed("server", "server", cmd)

# 3. hash
h = log("hash"); cmd = f"`bench/hash_vs_python.sh {b}`"
m = re.search(r"ratio \(python / edge\): wall ([\d.]+)x, cpu ([\d.]+)x", h)
if rc("hash") == "0" and m:
    pw = re.search(r"python3 median:\s+wall ([\d.]+) ms, cpu ([\d.]+) ms", h)
    ew = re.search(r"edge_bench median: wall ([\d.]+) ms, cpu ([\d.]+) ms", h)
    size = re.search(r"document:\s+(\d+) bytes", h)
    row(f"canonical hash of a {int(size[1]) / 1e6:.1f} MB topology (median of 5; CPU time)",
        f"{float(ew[2]):.1f} ms (wall {float(ew[1]):.1f})", f"{float(pw[2]):.1f} ms (wall {float(pw[1]):.1f})",
        f"{m[2]}x (wall {m[1]}x)", "≥ 5x", yes(float(m[2]) >= 5), cmd)
elif rc("hash") != "skipped":
    failed("hash", "canonical hash", cmd)

# 4. apply
for n in (30, 100):
    name = f"apply{n}"; a = log(name); cmd = f"`REPS=3 bench/apply_vs_cli.sh {b} {n}`"
    m = re.search(r"agent apply (\d+), teardown (\d+);\s+docker CLI create (\d+), remove (\d+)", a)
    if rc(name) == "0" and m:
        ap, td, cc, cr = map(int, m.groups())
        row(f"apply {n} deckies on the real engine (median; yardstick = docker CLI one by one)",
            f"{ap} ms", f"{cc} ms", f"{cc / ap:.1f}x faster", "≥ 1.5x", yes(cc / ap >= 1.5), cmd)
        row(f"teardown {n} deckies", f"{td} ms", f"{cr} ms", f"{cr / td:.1f}x faster", "", "", cmd)
    elif rc(name) != "skipped":
        failed(name, f"apply {n} deckies", cmd)

# validate (no yardstick: the master validates in Python before pushing)
v = log("validate"); cmd = f"`{b}/edge_bench --benchmark_filter='BM_ValidateTopology|BM_ScanTopLevel' --benchmark_repetitions=5`"
if rc("validate") == "0":
    for m in re.finditer(r"^(BM_\w+/\d+)_median\s+([\d.]+) us\s+([\d.]+) us", v, re.M):
        row(f"{m[1]} (median, CPU)", f"{float(m[3]):.1f} µs (wall {float(m[2]):.1f})", "", "", "", "", cmd)
elif rc("validate") != "skipped":
    failed("validate", "validate/scan benchmarks", cmd)

# 5. soak
s = kv("soak"); cmd = f"`bench/soak.sh {b} 100000`"
if rc("soak") == "0":
    growth = int(s["soak_after_rss_kib"]) - int(s["soak_warm_rss_kib"])
    row(f"soak: {int(s['soak_requests']):,} mixed requests, unexpected statuses", s["soak_unexpected"],
        "", "", "0", yes(s["soak_unexpected"] == "0"), cmd)
    row("soak: RSS growth, after warm-up (6.4k requests on 64 connections) → after soak",
        f"{growth / 1024:+.2f} MiB ({int(s['soak_warm_rss_kib']) / 1024:.1f} → {int(s['soak_after_rss_kib']) / 1024:.1f}; idle {int(s['soak_idle_rss_kib']) / 1024:.1f})",
        "", "", "< 1 MiB", yes(growth < 1024), cmd)
    second = int(s["soak_after_rss_kib"]) - int(s["soak_mid_rss_kib"])
    row("soak: RSS growth over the second half only (a leak keeps growing; arenas do not)",
        f"{second / 1024:+.2f} MiB ({int(s['soak_mid_rss_kib']) / 1024:.1f} → {int(s['soak_after_rss_kib']) / 1024:.1f})",
        "", "", "", "", cmd)
    # Warm-up opens the engine client's pooled keep-alive connection (the
    # teardowns list by label): one fd more than idle, by design. A leak
    # shows as growth after warm-up.
    row("soak: threads / fds idle → warm → after (warm-up opens the pooled engine connection)",
        f"{s['soak_idle_threads']}/{s['soak_idle_fds']} → {s['soak_warm_threads']}/{s['soak_warm_fds']} → {s['soak_after_threads']}/{s['soak_after_fds']}",
        "", "", "unchanged after warm-up", yes(s['soak_warm_threads'] == s['soak_after_threads'] and s['soak_warm_fds'] == s['soak_after_fds']), cmd)
    if "valgrind_errors" in s:
        # soak.sh prints 0 only when valgrind said so, "unknown" otherwise.
        ok = s.get("valgrind_errors") == "0" and s.get("valgrind_definitely_lost_bytes") == "0" \
             and s.get("valgrind_indirectly_lost_bytes") == "0" and s.get("valgrind_exit") == "0"
        row(f"valgrind memcheck, {s['valgrind_requests']} mixed requests then SIGTERM",
            f"{s['valgrind_errors']} errors; definitely/indirectly/possibly lost {s.get('valgrind_definitely_lost_bytes')}/{s.get('valgrind_indirectly_lost_bytes')}/{s.get('valgrind_possibly_lost_bytes')} B; exit {s['valgrind_exit']}",
            "", "", "clean", yes(ok), cmd)
elif rc("soak") != "skipped":
    failed("soak", "soak", cmd)

s2 = kv("soak_arena2"); cmd = f"`MALLOC_ARENA_MAX=2 SKIP_VALGRIND=1 bench/soak.sh {b} 100000`"
if rc("soak_arena2") == "0":
    growth = int(s2["soak_after_rss_kib"]) - int(s2["soak_warm_rss_kib"])
    row("soak with MALLOC_ARENA_MAX=2: RSS growth, after warm-up → after soak (unexpected statuses)",
        f"{growth / 1024:+.2f} MiB ({int(s2['soak_warm_rss_kib']) / 1024:.1f} → {int(s2['soak_after_rss_kib']) / 1024:.1f}; idle {int(s2['soak_idle_rss_kib']) / 1024:.1f}) ({s2['soak_unexpected']})",
        "", "", "< 1 MiB", yes(growth < 1024 and s2['soak_unexpected'] == '0'), cmd)
elif rc("soak_arena2") != "skipped":
    failed("soak_arena2", "soak with MALLOC_ARENA_MAX=2", cmd)

# 6. fleet
fl = kv("fleet"); cmd = f"`bench/fleet.sh {b} 200 5 30`"
if rc("fleet") == "0":
    n = int(fl["fleet_agents"])
    row(f"fleet: {n} agents on loopback, heartbeat every {fl['fleet_interval_s']} s over mTLS; master received",
        f"{fl['fleet_master_beats_per_s']} beats/s from {fl['fleet_hosts_heard']} hosts", "",
        "", f"{fl['fleet_expected_beats_per_s']}/s from {n}", yes(fl['fleet_hosts_heard'] == str(n) and f(fl['fleet_master_beats_per_s']) >= 0.9 * f(fl['fleet_expected_beats_per_s'])), cmd)
    row(f"fleet: {n} agents total RSS / PSS",
        f"{int(fl['fleet_agents_rss_total_kib']) / 1024:.0f} MiB / {int(fl['fleet_agents_pss_total_kib']) / 1024:.0f} MiB ({int(fl['fleet_agent_pss_each_kib']) / 1024:.1f} MiB PSS each)",
        "", "", "", "", cmd)
    row(f"fleet: {n} agents total CPU", f"{fl['fleet_agents_cpu_pct_one_core']}% of one core ({fl['fleet_agent_cpu_pct_each']}% each)",
        "", "", "", "", cmd)
    row("fleet: test master CPU / RSS", f"{fl['fleet_master_cpu_pct_one_core']}% of one core / {int(fl['fleet_master_rss_kib']) / 1024:.1f} MiB", "", "", "", "", cmd)
    row(f"fleet: agents that fit on this machine ({fl['fleet_cores']} cores, {int(fl['fleet_mem_total_kib']) / 1024 / 1024:.0f} GiB; 80% RAM by PSS, 50% CPU)",
        f"{int(fl['fleet_fit']):,} (memory {int(fl['fleet_fit_by_memory']):,}, CPU {int(fl['fleet_fit_by_cpu']):,})", "", "", "", "", cmd)
elif rc("fleet") != "skipped":
    failed("fleet", "fleet", cmd)

# 6a. on paper
paper = ""
if "edge_state_bytes" in rd and "fleet_heartbeat_envelope_bytes" in fl:
    state, env_b = int(rd["edge_state_bytes"]), int(fl["fleet_heartbeat_envelope_bytes"])
    body = state + env_b
    rps = 1000 / 30
    paper = (f"Heartbeat body for a 30-decky state = state object ({state} B, measured by reads.sh) + envelope "
             f"(host_uuid, agent_version, status: {env_b} B, measured from a recorded heartbeat by fleet.sh) = **{body} B**.\n"
             f"1,000 agents / 30 s interval → **{rps:.1f} requests/s** at the master; body bytes/s = {rps:.1f} × {body} B = "
             f"**{rps * body / 1024:.1f} KiB/s** ({rps * body * 8 / 1e6:.2f} Mbit/s), before HTTP headers (~0.2 KB each) and TLS "
             f"record overhead; with a full TLS handshake per beat add ~4–5 KB each → about {rps * (body + 5000) / 1024:.0f} KiB/s.\n")

with open(out, "w") as o:
    o.write("# Benchmark results\n\n")
    o.write("Written by `bench/run_all.sh` (do not edit by hand; re-run it). Yardstick: "
            "`/work/shared/baseline/py_agent.py` (FastAPI + uvicorn + sqlite3 + docker SDK), "
            "same machine, same run. Ratios are yardstick / edge-agent for times and sizes, "
            "edge-agent / yardstick for throughput.\n\n")
    o.write("```\n" + envtxt + f"logs {logs}\n```\n\n")
    o.write("| metric | edge-agent | yardstick | ratio | target | met? | command |\n|---|---|---|---|---|---|---|\n")
    for r in rows:
        o.write("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |\n")
    o.write("\n## Fleet on paper (6a)\n\n" + (paper or "not computed (reads or fleet step missing)\n"))
print(f"wrote {out}")
PY
