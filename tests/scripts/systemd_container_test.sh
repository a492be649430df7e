#!/usr/bin/env bash
# systemd_container_test.sh <build_dir> <source_dir>
#
# The .deb under a real systemd (DESIGN §8, issue 11 item 7): a Debian 12
# rootfs with systemd as PID 1 in a container, the package installed with
# apt-get (dependencies from Debian's archive), enrolled with the test PKI,
# then `systemctl enable --now edge-agent` and what an operator relies on:
#   - active (running), reached through READY=1;
#   - an apply over mTLS, against the host's Docker engine (bind-mounted
#     socket, reached through SupplementaryGroups=docker);
#   - a refused apply shows in `journalctl -p warning`;
#   - `systemctl reload` keeps the process and serves a rotated certificate;
#   - the watchdog restarts an agent stopped with SIGSTOP;
#   - `systemctl stop` exits 0; a configuration error is not restarted;
#   - remove keeps conffiles, state and user; purge removes them all.
#
# Docker objects: the container, its image and the topology's objects (all
# labelled with this run's topology id) are removed on exit. The script does
# not take /tmp/edge-docker.lock; a person running it by hand on the shared
# engine wraps it: flock /tmp/edge-docker.lock bash tests/scripts/...
# With CI=true a missing engine, debootstrap or root is a failure, not a skip.
#
# The debootstrap tarball is cached under <build_dir>/systemd-test/ keyed by
# the recipe (EDGE_SYSTEMD_TEST_NO_CACHE=1 ignores the cache).
set -uo pipefail

BUILD=$(realpath "${1:?usage: systemd_container_test.sh <build_dir> <source_dir>}")
SRC=$(realpath "${2:?usage: systemd_container_test.sh <build_dir> <source_dir>}")
BIN="$BUILD/edge-agent"
STARTED=$(date +%s)

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUN_ID="$(printf '%04x%04x' $RANDOM $RANDOM)"
CONTAINER="edge-agent-systemd-test-$RUN_ID"
IMAGE=""
TID="$(printf '%08x' $((RANDOM * RANDOM)))-5555-4555-8555-$(printf '%012x' $((RANDOM * RANDOM)))"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/edge-systemd-test.XXXXXX")

cleanup() {
	if [ -n "$(docker ps -aq --filter "name=^/$CONTAINER\$" 2>/dev/null)" ]; then
		if [ "${FAILED:-0}" -ne 0 ]; then
			echo "--- journal of edge-agent in the container (last 60 lines)" >&2
			docker exec "$CONTAINER" journalctl -u edge-agent --no-pager -n 60 >&2 2>/dev/null
		fi
		docker rm -f "$CONTAINER" >/dev/null 2>&1
	fi
	ids=$(docker ps -aq --filter "label=decnet.topology.id=$TID" 2>/dev/null)
	[ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1
	nets=$(docker network ls -q --filter "label=decnet.topology.id=$TID" 2>/dev/null)
	[ -n "$nets" ] && docker network rm $nets >/dev/null 2>&1
	[ -n "$IMAGE" ] && docker image rm -f "$IMAGE" >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT

finish() {
	echo "wall time: $(($(date +%s) - STARTED)) s"
	summary
	exit $?
}
# cannot_run <reason>: a skip on a developer's machine, a failure in CI.
cannot_run() {
	if [ "${CI:-}" = true ]; then
		fail "cannot run under CI=true: $1"
		finish
	fi
	echo "SKIP: $1"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
}

# ------------------------------------------------------------ preconditions
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || cannot_run "no Docker engine reachable"
[ "$(id -u)" -eq 0 ] || cannot_run "debootstrap needs root (run as root, or sudo)"
command -v debootstrap >/dev/null 2>&1 || cannot_run "debootstrap is missing (apt-get install debootstrap)"
for tool in cpack openssl curl; do
	command -v "$tool" >/dev/null 2>&1 || cannot_run "$tool is missing"
done
[ -x "$BIN" ] || {
	fail "the daemon is not built: $BIN is missing"
	finish
}
TEST_IMAGE=$(bash "$SRC/tests/support/make_test_image.sh") || {
	fail "could not build the test image (tests/support/make_test_image.sh)"
	finish
}

# ------------------------------------------------------------------ the .deb
SHARE="$TMP/share" # bind-mounted read-only at /share in the container
mkdir -p "$SHARE"
if ! out=$(cpack --config "$BUILD/CPackConfig.cmake" -B "$TMP/deb" 2>&1); then
	fail "cpack failed to build the .deb" "$out"
	finish
fi
cp "$TMP"/deb/edge-agent_*.deb "$SHARE/" || {
	fail "cpack wrote no edge-agent_*.deb" "$out"
	finish
}
DEB_NAME=$(basename "$SHARE"/edge-agent_*.deb)

# ------------------------------------------------------ the systemd rootfs
SUITE=bookworm
MIRROR=${EDGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
INCLUDE=systemd,systemd-sysv,dbus,ca-certificates,openssl,curl
RECIPE="debootstrap --variant=minbase --include=$INCLUDE $SUITE $MIRROR"
KEY=$(printf '%s' "$RECIPE" | sha256sum | cut -c1-16)
CACHE_DIR="$BUILD/systemd-test"
TARBALL="$CACHE_DIR/rootfs-$KEY.tar"
t0=$(date +%s)
if [ ! -s "$TARBALL" ] || [ "${EDGE_SYSTEMD_TEST_NO_CACHE:-0}" = 1 ]; then
	mkdir -p "$CACHE_DIR"
	if ! out=$(debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$TMP/rootfs" "$MIRROR" 2>&1); then
		rm -rf "$TMP/rootfs"
		cannot_run "debootstrap of $SUITE from $MIRROR failed: $(printf '%s' "$out" | tail -3)"
	fi
	# Lists are fetched at test time; the archive's Release files are
	# verified against the keyring debootstrap already trusts.
	rm -rf "$TMP"/rootfs/var/cache/apt/archives/*.deb "$TMP"/rootfs/var/lib/apt/lists/*_Packages
	tar -C "$TMP/rootfs" --numeric-owner -cf "$TARBALL.part" . && mv "$TARBALL.part" "$TARBALL"
	rm -rf "$TMP/rootfs"
	echo "debootstrap: $(($(date +%s) - t0)) s, cached as $TARBALL"
else
	echo "debootstrap: cached rootfs $TARBALL (recipe: $RECIPE)"
fi

IMAGE="edge-agent-systemd-test:$KEY-$RUN_ID"
if ! out=$(docker import --change 'CMD ["/lib/systemd/systemd"]' "$TARBALL" "$IMAGE" 2>&1); then
	fail "docker import of the rootfs failed" "$out"
	finish
fi

# ------------------------------------------------------------- PID 1 = systemd
# The recipe that works on this host (--privileged is refused here).
if ! out=$(docker run -d --name "$CONTAINER" --hostname edge-systemd-test \
	--cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined \
	--cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock \
	-v /var/run/docker.sock:/var/run/docker.sock -v "$SHARE:/share:ro" \
	-e container=docker --stop-signal SIGRTMIN+3 \
	"$IMAGE" /lib/systemd/systemd 2>&1); then
	fail "the container with systemd as PID 1 did not start" "$out"
	finish
fi
in_c() { docker exec "$CONTAINER" bash -c "$1" 2>&1; }
# in_c_has <command> <fixed text>: the whole output is read before grep
# looks, so an early match cannot SIGPIPE docker exec (pipefail is on).
in_c_has() { grep -qiF -- "$2" <<<"$(in_c "$1")"; }
# Until systemd's bus is up, is-system-running says "offline"; then --wait
# blocks until start-up is over.
state=""
for _ in $(seq 1 180); do
	state=$(timeout 90 docker exec "$CONTAINER" systemctl is-system-running --wait 2>/dev/null)
	case "$state" in running | degraded | maintenance | stopping) break ;; esac
	sleep 0.5
done
if [ "$(in_c 'cat /proc/1/comm')" = systemd ] && { [ "$state" = running ] || [ "$state" = degraded ]; }; then
	pass "systemd $(in_c 'systemctl --version | head -1 | cut -d" " -f2') runs as PID 1 in the container ($state)"
else
	fail "systemd did not boot in the container (state '$state')" "$(in_c 'systemctl --failed --no-pager' | head -20)"
	finish
fi

# ----------------------------------------------------------------- install
# The socket's group inside is the host socket's gid, as on a Docker host.
SOCK_GID=$(stat -c %g /var/run/docker.sock)
in_c "getent group docker >/dev/null || groupadd -o -g $SOCK_GID docker" >/dev/null
t0=$(date +%s)
out=$(in_c "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && \
	apt-get install -y -qq --no-install-recommends /share/$DEB_NAME")
rc=$?
if [ $rc -eq 0 ] && in_c_has 'dpkg-query -W -f="\${Status}" edge-agent' "install ok installed"; then
	pass "apt-get installs $DEB_NAME with its dependencies from the archive ($(($(date +%s) - t0)) s)"
else
	fail "apt-get install of the .deb failed (rc=$rc)" "$(printf '%s' "$out" | tail -20)"
	finish
fi
out=$(in_c 'systemctl is-enabled edge-agent; systemctl is-active edge-agent; id -nG edge-agent' | tr "\n" " " | sed "s/ $//")
if [ "$out" = "disabled inactive edge-agent" ]; then
	pass "installed, neither enabled nor started, and the user edge-agent is in no group but its own"
else
	fail "after install: is-enabled, is-active, groups" "$out"
fi

# ------------------------------------------------------------------ enrol
PKI="$TMP/pki"
bash "$SRC/tests/support/make_pki.sh" "$PKI" >/dev/null 2>&1 || {
	fail "tests/support/make_pki.sh failed"
	finish
}
cp "$PKI"/{ca.crt,agent.crt,agent.key,master.crt,master.key} "$SHARE/"
MASTER_CN=$(openssl x509 -in "$PKI/master.crt" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= *//p')
chmod 0644 "$SHARE"/*.key # readable to copy in; installed 0640 below
# What an operator does: the bundle 0640 root:edge-agent, the catalog, and
# the settings an enrolment changes; the rest of the shipped config stays.
out=$(in_c 'set -e
	install -m 0640 -g edge-agent /share/agent.crt /share/agent.key /share/ca.crt /etc/edge-agent/tls/
	printf "%s\n" "{\"http\": {\"image\": \"'"$TEST_IMAGE"'\", \"command\": [\"httpd\", \"-f\", \"-p\", \"8080\"]}}" \
		>/etc/edge-agent/services.json
	sed -i "1a\  \"base_image\": \"'"$TEST_IMAGE"'\"," /etc/edge-agent/config.json
	# The shipped config pins the master by its PKI name decnet-master: pin
	# the name the test PKI gives its master instead.
	sed -i "s/\"decnet-master\"/\"'"$MASTER_CN"'\"/" /etc/edge-agent/config.json
	cp /etc/edge-agent/config.json /root/config.json.good
	# Short watchdog and abort timeouts keep the watchdog check fast.
	mkdir -p /etc/systemd/system/edge-agent.service.d
	printf "[Service]\nWatchdogSec=3\nTimeoutAbortSec=5\n" >/etc/systemd/system/edge-agent.service.d/test.conf
	systemctl daemon-reload')
if [ $? -ne 0 ]; then
	fail "enrolment in the container failed" "$out"
	finish
fi

out=$(in_c 'systemctl enable --now edge-agent')
show() { in_c "systemctl show edge-agent -p $1 --value"; }
if [ "$(show ActiveState)/$(show SubState)" = active/running ] &&
	in_c_has 'systemctl status edge-agent --no-pager' 'Active: active (running)'; then
	pass "systemctl enable --now reaches active (running): Type=notify, so only after READY=1 (STATUS: $(show StatusText))"
else
	fail "systemctl enable --now did not reach active (running)" "$out"$'\n'"$(in_c 'systemctl status edge-agent --no-pager')"
	finish
fi

# mTLS calls from inside, as the master: curl with the master's certificate.
api() { # <method> <path> [body file in /share] -> "<code> <body>"
	local data=""
	[ -n "${3:-}" ] && data="--data-binary @/share/$3 -H Content-Type:application/json"
	in_c "curl -sS -m 60 -X $1 $data --cacert /share/ca.crt --cert /share/master.crt --key /share/master.key \
		-w ' %{http_code}' https://127.0.0.1:8765$2" | awk '{ code = $NF; $NF = ""; print code, $0 }'
}
out=$(api GET /health)
if [ "${out%% *}" = 200 ]; then
	pass "GET /health answers 200 over mTLS"
else
	fail "GET /health over mTLS" "$out"
fi
out=$(in_c 'curl -sS -m 10 --cacert /share/ca.crt https://127.0.0.1:8765/health')
if ! grep -qF '"status":"ok"' <<<"$out"; then
	pass "a caller without a client certificate is refused"
else
	fail "a caller without a client certificate was served" "$out"
fi

# ------------------------------------------------------------------ apply
OCTET="$((100 + RANDOM % 100)).$((RANDOM % 250))"
cat >"$TMP/topology.json" <<EOF
{"topology": {"id": "$TID", "status": "deploying"},
 "lans": [{"id": "l0", "name": "DMZ", "subnet": "10.$OCTET.0/24", "is_dmz": true}],
 "deckies": [{"uuid": "d1", "name": "decky1", "services": ["http"],
              "decky_config": {"ips_by_lan": {"DMZ": "10.$OCTET.10"}}}],
 "edges": [{"decky_uuid": "d1", "lan_id": "l0", "is_bridge": false}]}
EOF
HASH=$("$BIN" hash "$TMP/topology.json")
printf '{"hydrated":%s,"version_hash":"%s"}' "$(cat "$TMP/topology.json")" "$HASH" >"$SHARE/apply.json"
out=$(api POST /topology/apply apply.json)
T8=${TID:0:8}
containers=$(docker ps --filter "label=decnet.topology.id=$TID" --format '{{.Names}}' | sort | tr '\n' ' ')
networks=$(docker network ls --filter "label=decnet.topology.id=$TID" --format '{{.Name}}' | tr '\n' ' ')
if [ "${out%% *}" = 200 ] && [ "$containers" = "decnet_t_${T8}_decky1 decnet_t_${T8}_decky1-http " ] &&
	[ "$networks" = "decnet_t_${T8}_dmz " ]; then
	pass "an apply over mTLS creates the DMZ network and the decky with its service on the host's engine"
else
	fail "apply over mTLS" "answer: $out"$'\n'"containers: $containers"$'\n'"networks: $networks"
fi

# ------------------------------------------- a warning in the journal
BOGUS=$(printf 'f%.0s' $(seq 64))
printf '{"hydrated":%s,"version_hash":"%s"}' "$(cat "$TMP/topology.json")" "$BOGUS" >"$SHARE/bogus.json"
out=$(api POST /topology/apply bogus.json)
sleep 0.5
warnings=$(in_c 'journalctl -u edge-agent -p warning -o cat --no-pager')
if [ "${out%% *}" = 400 ] && grep -qF -- "$BOGUS" <<<"$warnings"; then
	pass "an apply refused for a wrong hash (400) shows in journalctl -u edge-agent -p warning"
else
	fail "the refused apply is not in journalctl -p warning" "answer: $out"$'\n'"-p warning: $warnings"$'\n'"priorities: $(in_c 'journalctl -u edge-agent -o json --no-pager | grep -o "\"PRIORITY\":\"[0-9]\"" | sort | uniq -c')"
fi

# ------------------------------------- reload with a rotated certificate
served_fp() {
	in_c 'openssl s_client -connect 127.0.0.1:8765 -cert /share/master.crt -key /share/master.key \
		-CAfile /share/ca.crt </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256' | sed 's/^.*=//'
}
old_fp=$(openssl x509 -in "$PKI/agent.crt" -noout -fingerprint -sha256 | sed 's/^.*=//')
(
	cd "$PKI" || exit 1
	openssl ecparam -name prime256v1 -genkey -noout -out agent-rotated.key 2>/dev/null
	openssl req -new -key agent-rotated.key -subj "/CN=edge-agent" -out agent-rotated.csr
	printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
		"extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" >agent-rotated.ext
	openssl x509 -req -in agent-rotated.csr -CA ca.crt -CAkey ca.key -set_serial "0x$RUN_ID$RUN_ID" \
		-sha256 -days 30 -extfile agent-rotated.ext -out agent-rotated.crt 2>/dev/null
) || fail "could not sign a second agent certificate"
new_fp=$(openssl x509 -in "$PKI/agent-rotated.crt" -noout -fingerprint -sha256 | sed 's/^.*=//')
cp "$PKI/agent-rotated.crt" "$PKI/agent-rotated.key" "$SHARE/" && chmod 0644 "$SHARE/agent-rotated.key"
pid_before=$(show MainPID)
before=$(served_fp)
in_c 'install -m 0640 -g edge-agent /share/agent-rotated.crt /etc/edge-agent/tls/agent.crt.new
	install -m 0640 -g edge-agent /share/agent-rotated.key /etc/edge-agent/tls/agent.key.new
	mv /etc/edge-agent/tls/agent.key.new /etc/edge-agent/tls/agent.key
	mv /etc/edge-agent/tls/agent.crt.new /etc/edge-agent/tls/agent.crt' >/dev/null
out=$(in_c 'systemctl reload edge-agent')
rc=$?
after=""
for _ in $(seq 1 20); do
	after=$(served_fp)
	[ "$after" = "$new_fp" ] && break
	sleep 0.25
done
health=$(api GET /health)
if [ $rc -eq 0 ] && [ "$before" = "$old_fp" ] && [ "$after" = "$new_fp" ] &&
	[ "$(show MainPID)" = "$pid_before" ] && [ "$(show ActiveState)" = active ] && [ "${health%% *}" = 200 ]; then
	pass "systemctl reload keeps the same process serving and it now presents the rotated certificate"
else
	fail "systemctl reload with a rotated certificate" \
		"reload rc=$rc $out; served before: $before (old $old_fp); after: $after (new $new_fp)"$'\n'"MainPID $pid_before -> $(show MainPID), $(show ActiveState)/$(show SubState), health: $health"
fi

# The shipped config's settings read again on reload are the same settings:
# nothing is said to need a restart (a config-file master_identity once grew
# on every reload).
restart_lines=$(in_c 'journalctl -u edge-agent -o cat --no-pager | grep "that needs a restart"')
if [ -z "$restart_lines" ]; then
	pass "a reload with the config unchanged says nothing needs a restart"
else
	fail "a reload with the config unchanged says something needs a restart" "$restart_lines"
fi

# --------------------------------------------------------------- watchdog
# Stopped, the agent cannot ping: systemd aborts it after WatchdogSec and
# Restart=on-failure brings it back (the state survives in the store).
in_c "systemctl start edge-agent" >/dev/null # in case the reload check left it dead
pid=$(show MainPID)
restarts=$(show NRestarts)
in_c "kill -STOP $pid" >/dev/null
ok=""
for _ in $(seq 1 60); do
	now=$(show MainPID)
	if [ "$now" != "$pid" ] && [ "$now" != 0 ] && [ "$(show SubState)" = running ]; then
		ok=1
		break
	fi
	sleep 0.5
done
health=$(api GET /health)
if [ -n "$ok" ] && [ "$(show NRestarts)" -gt "$restarts" ] && [ "${health%% *}" = 200 ] &&
	in_c_has 'journalctl -u edge-agent --no-pager -o cat' 'watchdog timeout'; then
	pass "the watchdog restarts an agent frozen with SIGSTOP (MainPID $pid -> $(show MainPID)) and it serves again"
else
	fail "no watchdog restart after kill -STOP" "MainPID $pid -> $(show MainPID), NRestarts $restarts -> $(show NRestarts), $(show ActiveState)/$(show SubState), health: $health"
fi

# --------------------------------------------------------------- teardown
printf '{"topology_id":"%s"}' "$TID" >"$SHARE/teardown.json"
out=$(api POST /topology/teardown teardown.json)
left=$(docker ps -aq --filter "label=decnet.topology.id=$TID"; docker network ls -q --filter "label=decnet.topology.id=$TID")
if [ "${out%% *}" = 200 ] && [ -z "$left" ]; then
	pass "a teardown over mTLS removes every Docker object of the topology"
else
	fail "teardown over mTLS" "answer: $out; left: $left"
fi

# -------------------------------------------------------------------- stop
out=$(in_c 'systemctl stop edge-agent')
if [ $? -eq 0 ] && [ "$(show ExecMainStatus)" = 0 ] && [ "$(show Result)" = success ] &&
	[ "$(show ActiveState)" = inactive ]; then
	pass "systemctl stop: the agent drains and exits 0 (ExecMainStatus=0, Result=success)"
else
	fail "systemctl stop" "$out; ExecMainStatus=$(show ExecMainStatus) Result=$(show Result) $(show ActiveState)"
fi

# ------------------------------------------------- a configuration error
# Exit status 78 and RestartPreventExitStatus=78: failed at once, no loop.
in_c 'sed -i "1a\  \"no_such_setting\": 1," /etc/edge-agent/config.json' >/dev/null
in_c 'systemctl start edge-agent' >/dev/null
sleep 5 # more than RestartSec=2: a restart would have happened by now
status=$(show ExecMainStatus)
if [ "$status" = 78 ] && [ "$(show ActiveState)" = failed ] && [ "$(show NRestarts)" = 0 ]; then
	pass "a configuration error exits 78 and the unit fails once instead of restarting"
else
	fail "a configuration error" "ExecMainStatus=$status $(show ActiveState)/$(show SubState) NRestarts=$(show NRestarts)"$'\n'"$(in_c 'journalctl -u edge-agent -n 5 --no-pager -o cat')"
fi
in_c 'cp /root/config.json.good /etc/edge-agent/config.json; systemctl reset-failed edge-agent' >/dev/null

# ------------------------------------------------------- remove and purge
in_c 'rm -rf /etc/systemd/system/edge-agent.service.d' >/dev/null # the test's own drop-in
out=$(in_c 'DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq edge-agent')
kept=$(in_c 'ls /etc/edge-agent/config.json /etc/edge-agent/tls/agent.key /var/lib/edge-agent/topology.db \
	/etc/systemd/system/multi-user.target.wants/edge-agent.service; getent passwd edge-agent | cut -d: -f1; \
	ls /usr/bin/edge-agent /lib/systemd/system/edge-agent.service' 2>&1)
if printf '%s\n' "$kept" | grep -qx /etc/edge-agent/config.json && printf '%s\n' "$kept" | grep -qx edge-agent &&
	printf '%s\n' "$kept" | grep -qx /var/lib/edge-agent/topology.db &&
	printf '%s\n' "$kept" | grep -q "cannot access '/usr/bin/edge-agent'"; then
	pass "apt-get remove deletes the program but keeps conffiles, the TLS bundle, the state and the user"
else
	fail "apt-get remove" "$out"$'\n'"$kept"
fi
out=$(in_c 'DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq edge-agent')
left=$(in_c 'ls -d /etc/edge-agent /var/lib/edge-agent /etc/systemd/system/*/edge-agent.service \
	/lib/systemd/system/edge-agent.service 2>/dev/null; getent passwd edge-agent; getent group edge-agent;
	dpkg-query -W -f="\${Status}" edge-agent 2>/dev/null | grep -v "not-installed"; true')
if [ -z "$left" ]; then
	pass "apt-get purge removes the conffiles, the TLS bundle, the state, the enablement and the user"
else
	fail "apt-get purge left things behind" "$left"$'\n'"$out"
fi

finish
