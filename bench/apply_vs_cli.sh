#!/usr/bin/env bash
# Converge + teardown of an N-decky topology: through the agent's HTTP API
# (POST /topology/apply, POST /topology/teardown) versus the docker CLI doing
# the same networks and containers one command at a time.
#
#   bench/apply_vs_cli.sh <build_dir> <N> [reps]      (reps default 5, env REPS too)
#
# Needs a running Docker engine, the built daemon (<build_dir>/edge-agent),
# python3 and curl. Uses the offline test image (tests/support/make_test_image.sh)
# and subnets 10.233.0.0/24 + 10.233.1.0/24 (must be free). Prints per-rep
# timings and the medians in milliseconds.
set -euo pipefail

build_dir="$(cd "${1:?usage: apply_vs_cli.sh <build_dir> <N> [reps]}" && pwd)"
n="${2:?usage: apply_vs_cli.sh <build_dir> <N> [reps]}"
reps="${3:-${REPS:-5}}"
src_dir="$(cd "$(dirname "$0")/.." && pwd)"
agent="$build_dir/edge-agent"
image="$(bash "$src_dir/tests/support/make_test_image.sh")"

[[ -x "$agent" ]] || { echo "apply_vs_cli: $agent is not built" >&2; exit 1; }
((n >= 2 && n <= 200)) || { echo "apply_vs_cli: N must be in 2..200" >&2; exit 1; }

# The agent's apply supersedes every other labelled topology on the engine
# (DESIGN §3): refuse to destroy someone else's objects unless told to.
others="$(docker ps -aq --filter label=decnet.topology.id | wc -l) containers, $(docker network ls -q --filter label=decnet.topology.id | wc -l) networks"
if [[ "$others" != "0 containers, 0 networks" && "${FORCE:-0}" != "1" ]]; then
  echo "apply_vs_cli: this engine already runs labelled topology objects ($others);" \
    "the agent's apply would remove them. Re-run with FORCE=1 to allow it." >&2
  exit 1
fi

work="$(mktemp -d)"
agent_pid=""
topology_id="b3c4e5f6-0a1b-4c2d-8e3f-$(printf '%012d' "$n")"
tid8="${topology_id:0:8}"
cleanup() {
  [[ -n "$agent_pid" ]] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
  # Whatever a failed run left behind, by label (both paths label their objects).
  docker ps -aq --filter "label=decnet.topology.id=$topology_id" | xargs -r docker rm -f >/dev/null
  docker network ls -q --filter "label=decnet.topology.id=$topology_id" | xargs -r docker network rm >/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# --- The topology: DMZ + lan1, decky-0 bridges both, the rest alternate.
python3 - "$n" "$topology_id" >"$work/hydrated.json" <<'EOF'
import json, sys
n, tid = int(sys.argv[1]), sys.argv[2]
lans = [{"id": "l0", "name": "dmz", "subnet": "10.233.0.0/24", "is_dmz": True},
        {"id": "l1", "name": "lan1", "subnet": "10.233.1.0/24", "is_dmz": False}]
deckies, edges = [], []
for i in range(n):
    on = [0, 1] if i == 0 else [i % 2]
    ips = {lans[k]["name"]: "10.233.%d.%d" % (k, 10 + i) for k in on}
    deckies.append({"uuid": "d%d" % i, "name": "decky-%d" % i, "services": [],
                    "decky_config": {"ips_by_lan": ips, "forwards_l3": i == 0}})
    for k in on:
        edges.append({"decky_uuid": "d%d" % i, "lan_id": lans[k]["id"],
                      "is_bridge": i == 0, "forwards_l3": i == 0})
print(json.dumps({"topology": {"id": tid, "name": "bench"}, "lans": lans,
                  "deckies": deckies, "edges": edges}))
EOF
echo '{}' >"$work/catalog.json"
hash="$("$agent" hash "$work/hydrated.json")"
python3 -c 'import json,sys; print(json.dumps({"hydrated": json.load(open(sys.argv[1])), "version_hash": sys.argv[2]}))' \
  "$work/hydrated.json" "$hash" >"$work/apply.json"
printf '{"topology_id": "%s"}' "$topology_id" >"$work/teardown.json"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {m=int((NR+1)/2); print (NR%2 ? a[m] : int((a[m]+a[m+1])/2))}'; }

# --- Agent path.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$agent" run --listen "127.0.0.1:$port" --state-dir "$work/state" --base-image "$image" \
  --service-catalog "$work/catalog.json" >"$work/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  kill -0 "$agent_pid" 2>/dev/null || { cat "$work/agent.log" >&2; exit 1; }
  sleep 0.1
done

post() {  # post <path> <file>: fails loudly unless 200
  local code
  code="$(curl -sS -o "$work/resp" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary "@$2" "http://127.0.0.1:$port$1")"
  [[ "$code" == 200 ]] || { echo "POST $1 -> $code: $(cat "$work/resp")" >&2; exit 1; }
}

agent_up=() agent_down=()
for r in $(seq "$reps"); do
  t0="$(now_ms)"; post /topology/apply "$work/apply.json"; t1="$(now_ms)"
  running="$(docker ps -q --filter "label=decnet.topology.id=$topology_id" | wc -l)"
  [[ "$running" == "$n" ]] || { echo "agent apply left $running running containers, want $n" >&2; exit 1; }
  post /topology/teardown "$work/teardown.json"; t2="$(now_ms)"
  agent_up+=($((t1 - t0))) agent_down+=($((t2 - t1)))
  echo "agent rep $r: apply $((t1 - t0)) ms, teardown $((t2 - t1)) ms"
done
kill "$agent_pid"; wait "$agent_pid" 2>/dev/null || true; agent_pid=""

# --- docker CLI path: the same objects, one command at a time.
cli_up=() cli_down=()
idle='trap "exit 0" TERM; while :; do sleep 3600 & wait $!; done'
label="decnet.topology.id=$topology_id"
for r in $(seq "$reps"); do
  t0="$(now_ms)"
  docker network create --driver bridge --subnet 10.233.0.0/24 --label "$label" \
    "decnet_t_${tid8}_dmz" >/dev/null
  docker network create --driver bridge --internal --subnet 10.233.1.0/24 --label "$label" \
    "decnet_t_${tid8}_lan1" >/dev/null
  for i in $(seq 0 $((n - 1))); do
    lan=$((i % 2)); [[ $i == 0 ]] && lan=0
    net="decnet_t_${tid8}_$([[ $lan == 0 ]] && echo dmz || echo lan1)"
    sysctl=(); [[ $i == 0 ]] && sysctl=(--sysctl net.ipv4.ip_forward=1)
    docker run -d --name "decnet_t_${tid8}_decky-$i" --hostname "decky-$i" --label "$label" \
      --cap-add NET_ADMIN --restart unless-stopped "${sysctl[@]}" \
      --network "$net" --ip "10.233.$lan.$((10 + i))" "$image" sh -c "$idle" >/dev/null
    if [[ $i == 0 ]]; then
      docker network connect --ip 10.233.1.10 "decnet_t_${tid8}_lan1" "decnet_t_${tid8}_decky-0"
    fi
  done
  t1="$(now_ms)"
  for i in $(seq 0 $((n - 1))); do docker rm -f "decnet_t_${tid8}_decky-$i" >/dev/null; done
  docker network rm "decnet_t_${tid8}_dmz" "decnet_t_${tid8}_lan1" >/dev/null
  t2="$(now_ms)"
  cli_up+=($((t1 - t0))) cli_down+=($((t2 - t1)))
  echo "cli   rep $r: create $((t1 - t0)) ms, remove $((t2 - t1)) ms"
done

echo "N=$n reps=$reps medians (ms): agent apply $(median "${agent_up[@]}"), teardown $(median "${agent_down[@]}");" \
  "docker CLI create $(median "${cli_up[@]}"), remove $(median "${cli_down[@]}")"
