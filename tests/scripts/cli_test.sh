#!/usr/bin/env bash
# The CLI as an operator meets it: --version, hash, state, config precedence,
# refusals at startup, a second agent on one state dir, SIGTERM.
set -uo pipefail
BUILD=${1:?build dir}
SRC=${2:?source dir}
AGENT="$BUILD/edge-agent"
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$TMP"; }
trap cleanup EXIT
pass=0; fail=0
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
bad() { echo "FAIL: $1"; fail=$((fail + 1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_health() {
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$1/health" >/dev/null && return 0; sleep 0.05; done
  return 1
}
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

check "--version names the program and version" '"$AGENT" --version | grep -Eq "^edge-agent [0-9]+\.[0-9]+\.[0-9]+"'

python3 - "$SRC/tests/vectors/canonical_hash_public.jsonl" "$TMP" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    v = json.loads(line)
    if v["name"] == "v1-30":
        open(sys.argv[2] + "/topo.json", "w").write(v["input"])
        open(sys.argv[2] + "/topo.sha", "w").write(v["sha256"] + "\n")
PY
check "hash FILE prints the master's hash" '[ "$("$AGENT" hash "$TMP/topo.json")" = "$(cat "$TMP/topo.sha")" ]'
check "hash - reads stdin" '[ "$("$AGENT" hash - < "$TMP/topo.json")" = "$(cat "$TMP/topo.sha")" ]'
check "hash - reads a pipe (no size known up front)" '[ "$(cat "$TMP/topo.json" | "$AGENT" hash -)" = "$(cat "$TMP/topo.sha")" ]'
check "hash of a missing file names it and the reason" '! "$AGENT" hash "$TMP/nope.json" 2>"$TMP/err" && grep -q "nope.json.*No such file" "$TMP/err"'
check "hash of a directory fails with the reason" '! "$AGENT" hash "$TMP" 2>"$TMP/err" && grep -q "Is a directory" "$TMP/err"'
check "hash of broken JSON fails with a reason" '! "$AGENT" hash - <<<"{\"a\":" 2>"$TMP/err" && [ -s "$TMP/err" ]'

# Usage errors name the bad argument, point at --help and exit 2.
usage() { # usage NAME EXPECTED-MESSAGE ARGS...
  local name=$1 want=$2; shift 2
  "$AGENT" "$@" >"$TMP/uout" 2>"$TMP/uerr"; local rc=$?
  check "$name (exit 2, names it, hints --help)" \
    '[ $rc -eq 2 ] && grep -qF -- "$want" "$TMP/uerr" && grep -qF -- "--help" "$TMP/uerr"'
}
usage "an unknown command is named" "unknown command 'check-config'" check-config
usage "an unknown top-level option is named" "unknown option '--bogus'" --bogus
usage "an unknown option of run is named" "unknown option '--bogus' for 'run'" run --bogus
usage "an unknown option=value of state is named" "unknown option '--bogus' for 'state'" state --bogus=1
usage "an extra argument of hash is named" "unexpected argument 'b' for 'hash'" hash a b
usage "no command at all says one is required" "a command is required"
"$AGENT" --help >"$TMP/help" 2>&1; rc=$?
check "--help exits 0 and documents the exit codes" \
  '[ $rc -eq 0 ] && grep -q "^  78  configuration error" "$TMP/help" && grep -q "^  2   usage error" "$TMP/help"'

# Configuration errors exit 78 (EX_CONFIG), which the unit does not restart.
"$AGENT" run --heartbeat-interval abc 2>"$TMP/cerr"; rc=$?
check "a bad flag value exits 78 and names the flag" '[ $rc -eq 78 ] && grep -q -- "--heartbeat-interval must be" "$TMP/cerr"'
printf '{"listen": ' >"$TMP/broken.json"
"$AGENT" run --config "$TMP/broken.json" 2>"$TMP/cerr"; rc=$?
check "a config file that is not JSON exits 78 and names it" '[ $rc -eq 78 ] && grep -q "broken.json" "$TMP/cerr"'
printf '{"ssh": {"image": 5}}' >"$TMP/badcat.json"
"$AGENT" run --listen 127.0.0.1:0 --state-dir "$TMP/sc" --service-catalog "$TMP/badcat.json" 2>"$TMP/cerr"; rc=$?
check "a bad service catalog exits 78 and names the file" '[ $rc -eq 78 ] && grep -q "badcat.json" "$TMP/cerr"'
bash "$SRC/tests/support/make_pki.sh" "$TMP/pki" >/dev/null 2>&1
"$AGENT" run --listen 127.0.0.1:0 --state-dir "$TMP/st" --tls-cert "$TMP/pki/agent.crt" \
  --tls-key "$TMP/pki/master.key" --tls-ca "$TMP/pki/ca.crt" 2>"$TMP/cerr"; rc=$?
check "a TLS key that does not match the cert exits 78 and says so" \
  '[ $rc -eq 78 ] && grep -q "does not match --tls-cert" "$TMP/cerr"'
"$AGENT" run --listen 127.0.0.1:0 --state-dir "$TMP/st" --tls-cert "$TMP/pki/agent.crt" \
  --tls-key "$TMP/nope.key" --tls-ca "$TMP/pki/ca.crt" 2>"$TMP/cerr"; rc=$?
check "an unreadable TLS file exits 78 with the reason" \
  '[ $rc -eq 78 ] && grep -q "cannot read TLS file .*nope.key.*: No such file or directory" "$TMP/cerr"'

check "state on an empty dir prints a null row" \
  '[ "$("$AGENT" state --state-dir "$TMP/empty" | jq_py "d[\"topology_id\"]")" = "None" ]'

"$AGENT" run --listen 0.0.0.0:1 --state-dir "$TMP/s0" 2>"$TMP/err0"; rc=$?
check "plaintext on a non-loopback address refuses to start (exit 78, EX_CONFIG)" '[ $rc -eq 78 ]'
check "the refusal says which flags to pass" 'grep -q -- "--tls-cert, --tls-key and --tls-ca" "$TMP/err0"'

cat >"$TMP/config.json" <<JSON
{"base_image": "file-img", "heartbeat_interval": 11, "host_uuid": "file-uuid", "state_dir": "$TMP/s1", "listen": "127.0.0.1:1"}
JSON
P1=$(free_port)
EDGE_AGENT_BASE_IMAGE=env-img EDGE_AGENT_HOST_UUID=env-uuid \
  "$AGENT" run --config "$TMP/config.json" --host-uuid flag-uuid --listen "127.0.0.1:$P1" \
  --docker-socket "$TMP/none.sock" 2>"$TMP/a1.log" &
PIDS+=($!); A1=$!
if wait_health "$P1"; then ok "agent 1 answers /health"; else bad "agent 1 answers /health"; cat "$TMP/a1.log"; fi
curl -s "http://127.0.0.1:$P1/debug/state" >"$TMP/debug.json"
check "flag beats env (host_uuid)" '[ "$(jq_py "d[\"config\"][\"host_uuid\"]" <"$TMP/debug.json")" = flag-uuid ]'
check "env beats file (base_image)" '[ "$(jq_py "d[\"config\"][\"base_image\"]" <"$TMP/debug.json")" = env-img ]'
check "file beats default (heartbeat_interval)" '[ "$(jq_py "d[\"config\"][\"heartbeat_interval_s\"]" <"$TMP/debug.json")" = 11 ]'
check "the file sets what nothing else does (state_dir)" \
  '[ "$(jq_py "d[\"config\"][\"state_dir\"]" <"$TMP/debug.json")" = "$TMP/s1" ]'
check "an unreachable engine is observed.error, not a crash" \
  'curl -s "http://127.0.0.1:$P1/topology/state" | jq_py "\"error\" in d[\"observed\"]" | grep -q True'

deep=$(python3 -c 'print("{\"hydrated\":" + "["*300000 + "]"*300000 + ",\"version_hash\":\"x\"}")')
code=$(curl -s -o "$TMP/deep.out" -w '%{http_code}' -H 'Content-Type: application/json' \
  --data-binary @- "http://127.0.0.1:$P1/topology/apply" <<<"$deep")
check "300k nested brackets get a 422, not a crash" '[ "$code" = 422 ] && curl -sf "http://127.0.0.1:$P1/health" >/dev/null'

P2=$(free_port)
"$AGENT" run --state-dir "$TMP/s1" --listen "127.0.0.1:$P2" 2>"$TMP/a2.log"; rc=$?
check "a second agent on the same state dir refuses to start" '[ $rc -ne 0 ]'
check "the refusal names the first agent's pid" 'grep -q "pid $A1" "$TMP/a2.log"'

printf '{"bogus_key": 1}' >"$TMP/bad.json"
"$AGENT" run --config "$TMP/bad.json" 2>"$TMP/a3.log"; rc=$?
check "an unknown config key is refused by name (exit 78)" '[ $rc -eq 78 ] && grep -q bogus_key "$TMP/a3.log"'

"$AGENT" run --state-dir "$TMP/s4" --master-identity sha256:abc 2>"$TMP/a4.log"; rc=$?
check "a malformed --master-identity is refused by value (exit 78)" '[ $rc -eq 78 ] && grep -q "sha256:abc" "$TMP/a4.log"'
printf '{"master_identity": ["decnet-master"]}' >"$TMP/pin.json"
"$AGENT" run --config "$TMP/pin.json" --state-dir "$TMP/s4" 2>"$TMP/a5.log"; rc=$?
check "master_identity from the file without TLS is refused saying TLS is needed" \
  '[ $rc -eq 78 ] && grep -q "needs TLS" "$TMP/a5.log"'

start=$(date +%s%N)
kill -TERM "$A1"; wait "$A1"; rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "SIGTERM exits 0 (rc=$rc) promptly (${ms} ms)" '[ $rc -eq 0 ] && [ $ms -lt 5000 ]'

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
