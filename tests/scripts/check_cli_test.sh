#!/usr/bin/env bash
# `edge-agent check` as an operator runs it: the same settings as `run`, one
# line per check, exit 1 on a failure, --json. No Docker is touched: the
# socket given does not exist.
set -uo pipefail
BUILD=${1:?build dir}
SRC=${2:?source dir}
. "$SRC/tests/scripts/lib.sh"
AGENT="$BUILD/edge-agent"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

out=$("$AGENT" check --config "$TMP/missing.json" --json); rc=$?
if [ $rc -eq 1 ] && python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["ok"] is False, d
c = d["checks"]
assert len(c) == 1 and c[0]["name"] == "config" and c[0]["level"] == "error", c
assert "missing.json" in c[0]["detail"], c
assert set(c[0]) == {"name", "ok", "level", "detail", "hint"}, c
' "$out"; then
	pass "check --json with an unreadable --config exits 1 naming the file"
else
	fail "check --json with an unreadable --config exits 1 naming the file" "rc=$rc $out"
fi

port=$(free_port)
cat >"$TMP/config.json" <<JSON
{"listen": "127.0.0.1:$port", "docker_socket": "$TMP/no-docker.sock", "state_dir": "$TMP/state"}
JSON
out=$("$AGENT" check --config "$TMP/config.json"); rc=$?
if [ $rc -eq 1 ] && grep -q "^✗ docker: cannot reach the Docker engine: socket $TMP/no-docker.sock does not exist" <<<"$out" &&
	grep -q "^✓ listen: 127.0.0.1:$port is free to bind" <<<"$out" &&
	grep -q "^✓ state-dir: " <<<"$out" && grep -q "^    → " <<<"$out"; then
	pass "check reads the config file, marks Docker unreachable with a hint and exits 1"
else
	fail "check reads the config file, marks Docker unreachable with a hint and exits 1" "rc=$rc $out"
fi

other=$(free_port)
out=$(EDGE_AGENT_LISTEN="127.0.0.1:$other" "$AGENT" check --config "$TMP/config.json"); rc=$?
if grep -q "^✓ listen: 127.0.0.1:$other is free to bind" <<<"$out"; then
	pass "check takes the environment over the config file, as run does"
else
	fail "check takes the environment over the config file, as run does" "rc=$rc $out"
fi

cat >"$TMP/services.json" <<'JSON'
{"ssh": {"image": "decnet/ssh:1.2.1", "volumes": ["/srv/{config.dir}:/data"]}}
JSON
out=$("$AGENT" check --config "$TMP/config.json" --service-catalog "$TMP/services.json"); rc=$?
if [ $rc -eq 1 ] && grep -q '^✗ catalog: .*service catalog entry "ssh": volume' <<<"$out"; then
	pass "check refuses a catalog that breaks a rule, naming the entry"
else
	fail "check refuses a catalog that breaks a rule, naming the entry" "rc=$rc $out"
fi

summary
