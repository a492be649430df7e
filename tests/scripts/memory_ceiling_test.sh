#!/usr/bin/env bash
# The memory ceiling as an operator sets it (DESIGN §7, issue 12): the daemon
# under a 1 GiB address-space limit (stricter than the unit's MemoryMax=,
# which counts resident pages only) takes four concurrent 15 MB apply bodies
# of each costly shape without aborting, answers each with a status of the
# contract, keeps answering /health and gives the memory back; a topology
# whose plan cannot fit --max-memory is a 413 that names it. No Docker engine
# is used: the agent's socket does not exist, so a valid apply ends in a 500.
set -uo pipefail
BUILD=${1:?build dir}
SRC=${2:?source dir}
AGENT="$BUILD/edge-agent"
. "$SRC/tests/scripts/lib.sh"
TMP=$(mktemp -d)
PID=""
cleanup() {
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

# A sanitizer's runtime reserves terabytes of address space for its shadow
# memory: an address-space limit cannot be set under one.
if ldd "$AGENT" | grep -qE 'lib(a|t)san'; then
	echo "SKIP: $AGENT is a sanitizer build (no address-space limit possible)"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kib() { awk '$1 == "VmRSS:" {print $2}' "/proc/$1/status"; }

# tiny: 15 MB of the smallest deckies, the costliest shape per byte (refused
# at validation: no LAN). master: a 14 MB topology shaped like the master's
# that validates and is planned (36,875 containers).
python3 "$SRC/bench/gen_topology.py" --tiny 15000000 --body --out "$TMP/tiny-body.json" 2>/dev/null
python3 "$SRC/bench/gen_topology.py" --valid --deckies 15000 --body --out "$TMP/master-body.json" 2>/dev/null
python3 -c 'import json, sys; json.dump({s: {"image": "decnet/" + s + ":1.0"} for s in sys.argv[2:]}, open(sys.argv[1], "w"))' \
	"$TMP/catalog.json" http ftp smb ssh rdp telnet mysql snmp

start_agent() { # name [run flags...]; sets PID PORT
	local name=$1
	shift
	PORT=$(free_port)
	prlimit --as=$((1 << 30)) "$AGENT" run --listen "127.0.0.1:$PORT" --state-dir "$TMP/$name" \
		--docker-socket "$TMP/no-docker.sock" --service-catalog "$TMP/catalog.json" \
		--log-level warn "$@" >"$TMP/$name.log" 2>&1 &
	PID=$!
	for _ in $(seq 100); do
		curl -fs "http://127.0.0.1:$PORT/health" >/dev/null && return 0
		sleep 0.1
	done
	return 1
}
post() { # shape [out]
	curl -s -o "${2:-/dev/null}" -w '%{http_code}' -H 'Content-Type: application/json' \
		--data-binary "@$TMP/$1-body.json" "http://127.0.0.1:$PORT/topology/apply" || echo 000
}

start_agent four || fail "the agent starts under a 1 GiB address-space limit" "$(cat "$TMP/four.log")"
idle=$(rss_kib "$PID")
for shape in tiny master; do
	cpids=()
	for i in 1 2 3 4; do
		post "$shape" >"$TMP/code.$shape.$i" &
		cpids+=($!)
	done
	wait "${cpids[@]}"
	codes=$(for f in "$TMP"/code."$shape".*; do printf '%s ' "$(cat "$f")"; done)
	if [ "$shape" = tiny ]; then want='^(400|503) (400|503) (400|503) (400|503) $'; else want='^(500|503) (500|503) (500|503) (500|503) $'; fi
	if [[ "$codes" =~ $want ]]; then
		pass "four concurrent $shape bodies under 1 GiB are each answered as the contract says ($codes)"
	else
		fail "four concurrent $shape bodies under 1 GiB are each answered as the contract says" "statuses: $codes"
	fi
	if kill -0 "$PID" 2>/dev/null && curl -fs "http://127.0.0.1:$PORT/health" >/dev/null; then
		pass "the agent is alive and answers /health after the $shape burst"
	else
		fail "the agent is alive and answers /health after the $shape burst" "$(tail -20 "$TMP/four.log")"
	fi
	if [ "$shape" = tiny ]; then
		sleep 1
		after=$(rss_kib "$PID")
		if [ "$after" -lt $((idle + 8192)) ]; then
			pass "RSS returns near idle after the burst ($idle -> $after KiB)"
		else
			fail "RSS returns near idle after the burst" "idle $idle KiB, after $after KiB"
		fi
	fi
done
grep -q '500' "$TMP"/code.master.* && pass "a master-shaped body was planned (500: no Docker here)" ||
	fail "a master-shaped body was planned (500: no Docker here)" "$(cat "$TMP"/code.master.*)"
if grep -qiE 'bad_alloc|out of memory|terminate called' "$TMP/four.log"; then
	fail "no allocation failure in the log" "$(grep -iE 'bad_alloc|out of memory|terminate called' "$TMP/four.log" | head -5)"
else
	pass "no allocation failure in the log"
fi
kill "$PID" && wait "$PID" 2>/dev/null
PID=""

# 96 MiB is the least --max-memory takes (6 x the 16 MiB body cap): the body
# fits, its plan (hundreds of MiB) never will.
start_agent small --max-memory $((96 << 20)) || fail "the agent starts with --max-memory 96 MiB" "$(cat "$TMP/small.log")"
code=$(post master "$TMP/small.out")
if [ "$code" = 413 ] && grep -q "more than the agent's --max-memory" "$TMP/small.out"; then
	pass "a plan that cannot fit --max-memory is 413 naming it"
else
	fail "a plan that cannot fit --max-memory is 413 naming it" "$code $(head -c 300 "$TMP/small.out")"
fi
state=$("$AGENT" state --state-dir "$TMP/small" 2>&1)
if grep -q '"topology_id": null' <<<"$state"; then
	pass "nothing is recorded for the refused topology"
else
	fail "nothing is recorded for the refused topology" "$state"
fi
kill "$PID" && wait "$PID" 2>/dev/null
PID=""
summary
