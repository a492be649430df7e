#!/usr/bin/env bash
# packaging_test.sh <build_dir> <source_dir>
#
# Checks what an operator installs: the systemd unit verifies and is
# hardened, the .deb built by CPack holds the right files, dependencies and
# maintainer scripts, its binary resolves every library, and the maintainer
# scripts really work: they run (dpkg --root, chrootless, DPKG_ROOT) in a
# scratch root, create the user, never start the service, and purge cleanly.
# lintian reports no error and no warning on the .deb.
# Needs: systemd (systemd-analyze, systemd-sysusers), dpkg-dev, cpack, lintian, root or fakeroot.
set -uo pipefail

BUILD=$(realpath "${1:?usage: packaging_test.sh <build_dir> <source_dir>}")
SRC=$(realpath "${2:?usage: packaging_test.sh <build_dir> <source_dir>}")
PKG="$SRC/packaging"
BIN="$BUILD/edge-agent"

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
finish() {
	summary
	exit $?
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/edge-packaging-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

for tool in systemd-analyze systemd-sysusers cpack dpkg dpkg-deb dpkg-shlibdeps ldd lintian; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		fail "required tool '$tool' is missing (apt-get install systemd dpkg-dev cmake lintian)"
	fi
done
if [ ! -x "$BIN" ]; then
	fail "the daemon is not built: $BIN is missing (cmake --build $BUILD --target edge-agent)"
fi
[ "$FAILED" -eq 0 ] || finish

AS_ROOT=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v fakeroot >/dev/null 2>&1; then
		# One fake-ownership session across every dpkg call and the checks.
		touch "$TMP/fakeroot.state"
		AS_ROOT=(fakeroot -i "$TMP/fakeroot.state" -s "$TMP/fakeroot.state")
	else
		fail "not root and fakeroot is missing: cannot run dpkg on a scratch root"
		finish
	fi
fi

# ---------------------------------------------------------------- the unit
UNIT_DIR="$TMP/unit"
mkdir -p "$UNIT_DIR"
# verify insists that ExecStart's binary exists: point a copy at the build.
sed "s#^ExecStart=/usr/bin/edge-agent #ExecStart=$BIN #" "$PKG/edge-agent.service" \
	>"$UNIT_DIR/edge-agent.service"

# systemd-analyze verify exits 0 on unknown keys and bad values (it only
# warns), so any diagnostic naming our unit is a failure.
verify_unit() { # <unit file> -> prints diagnostics about it, if any
	(cd "$(dirname "$1")" && systemd-analyze verify --man=no "./$(basename "$1")" 2>&1) |
		grep -F "$(basename "$1")"
}
if ! grep -q "^ExecStart=$BIN " "$UNIT_DIR/edge-agent.service"; then
	fail "could not point ExecStart at the built binary (ExecStart line changed shape?)"
elif out=$(verify_unit "$UNIT_DIR/edge-agent.service"); then
	fail "systemd-analyze verify reports problems in edge-agent.service" "$out"
else
	pass "systemd-analyze verify accepts edge-agent.service without a diagnostic"
fi

# The check above must be able to fail: a misspelled directive and a bad
# value are both caught.
mkdir -p "$TMP/broken"
sed -e 's/^ProtectSystem=strict/ProtectSytem=strict/' -e 's/^Type=notify/Type=notifyy/' \
	"$UNIT_DIR/edge-agent.service" >"$TMP/broken/edge-agent.service"
out=$(verify_unit "$TMP/broken/edge-agent.service")
if printf '%s' "$out" | grep -q "ProtectSytem" && printf '%s' "$out" | grep -q "notifyy"; then
	pass "the verify check catches a misspelled directive and a bad value"
else
	fail "systemd-analyze verify did not flag a broken copy of the unit" "$out"
fi

missing=""
while IFS= read -r line; do
	[ -z "$line" ] && continue
	grep -qxF -- "$line" "$PKG/edge-agent.service" || missing="$missing$line"$'\n'
done <<'EOF'
Type=notify
NotifyAccess=main
ExecStart=/usr/bin/edge-agent run --config /etc/edge-agent/config.json
ExecReload=/bin/kill -HUP $MAINPID
WatchdogSec=30
Restart=on-failure
RestartSec=2
RestartPreventExitStatus=78
Documentation=man:edge-agent(8) file:/usr/share/doc/edge-agent/README.md
TimeoutStopSec=30
User=edge-agent
Group=edge-agent
SupplementaryGroups=docker
StateDirectory=edge-agent
StateDirectoryMode=0750
ConfigurationDirectory=edge-agent
After=network-online.target docker.service
Wants=network-online.target docker.service
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
NoNewPrivileges=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
ProcSubset=pid
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallArchitectures=native
CapabilityBoundingSet=
AmbientCapabilities=
UMask=0027
DevicePolicy=closed
WantedBy=multi-user.target
EOF
if [ -z "$missing" ]; then
	pass "the unit carries every required service and hardening directive"
else
	fail "the unit lacks these exact lines" "$missing"
fi

# systemd's own exposure score (0 = locked down, 10 = exposed); 2.0 or less
# is systemd's "OK" band. Only network, docker group and sockets remain.
out=$(systemd-analyze security --offline=true --threshold=20 "$UNIT_DIR/edge-agent.service" 2>&1)
if [ $? -eq 0 ]; then
	pass "systemd-analyze security rates the unit $(printf '%s' "$out" | grep -o 'exposure level[^:]*: [0-9.]* [A-Z]*' | sed 's/.*: //')"
else
	fail "systemd-analyze security exposure is above 2.0" "$(printf '%s' "$out" | grep -E '✗|exposure')"
fi

# ------------------------------------------------------------ the package
DEB_DIR="$TMP/deb"
if ! out=$(cpack --config "$BUILD/CPackConfig.cmake" -B "$DEB_DIR" 2>&1); then
	fail "cpack failed to build the .deb" "$out"
	finish
fi
mapfile -t debs < <(find "$DEB_DIR" -maxdepth 1 -name '*.deb')
if [ "${#debs[@]}" -ne 1 ]; then
	fail "cpack should write exactly one .deb, wrote ${#debs[@]}" "$out"
	finish
fi
DEB=${debs[0]}
pass "cpack builds $(basename "$DEB")"

field() { dpkg-deb -f "$DEB" "$1"; }
VERSION=$("$BIN" --version | awk '{print $2}')
problems=""
[ "$(field Package)" = "edge-agent" ] || problems+="Package is '$(field Package)'"$'\n'
[ "$(field Version)" = "$VERSION" ] || problems+="Version '$(field Version)' is not the binary's '$VERSION'"$'\n'
[ "$(field Architecture)" = "$(dpkg --print-architecture)" ] || problems+="Architecture is '$(field Architecture)'"$'\n'
[ "$(field Section)" = "admin" ] || problems+="Section is '$(field Section)'"$'\n'
case "$(field Maintainer)" in
"" | *@localhost* | *@localhost.localdomain*) problems+="Maintainer '$(field Maintainer)' has no reachable address"$'\n' ;;
esac
[ -n "$(field Description)" ] || problems+="no Description"$'\n'
[ "$(field Recommends)" = "docker.io | docker-ce" ] || problems+="Recommends is '$(field Recommends)'"$'\n'
if [ -z "$problems" ]; then
	pass "control fields: edge-agent $VERSION $(field Architecture), section admin, maintainer $(field Maintainer), recommends docker.io | docker-ce"
else
	fail "control fields are wrong" "$problems"
fi

DEPENDS=$(field Depends)
missing=""
# Package names as Debian 12 ships them; the library ones come from
# dpkg-shlibdeps, so they prove CPACK_DEBIAN_PACKAGE_SHLIBDEPS ran.
for dep in systemd adduser procps libc6 libstdc++6 libsqlite3-0 libssl3 libspdlog libfmt; do
	printf '%s' "$DEPENDS" | tr ',' '\n' | sed 's/^ *//' | grep -q "^$dep" || missing+="$dep "
done
# The daemon speaks HTTP with Beast on OpenSSL; libcurl's tree stays out of its memory.
case "$DEPENDS" in *libcurl*) missing+="(and must not name libcurl) " ;; esac
if [ -z "$missing" ]; then
	pass "Depends names the runtime libraries, systemd, adduser and procps (/bin/kill for ExecReload)"
else
	fail "Depends lacks: $missing" "Depends: $DEPENDS"
fi

files=$(dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ {print $1, $6}' | sort)
expected=$(sort <<'EOF'
-rw-r--r-- ./etc/edge-agent/config.json
-rw-r--r-- ./etc/edge-agent/services.json
-rw-r--r-- ./lib/systemd/system/edge-agent.service
-rw-r--r-- ./usr/lib/sysusers.d/edge-agent.conf
-rwxr-xr-x ./usr/bin/edge-agent
-rw-r--r-- ./usr/share/man/man8/edge-agent.8.gz
-rw-r--r-- ./usr/share/doc/edge-agent/changelog.gz
-rw-r--r-- ./usr/share/doc/edge-agent/copyright
-rw-r--r-- ./usr/share/doc/edge-agent/README.md
-rw-r--r-- ./usr/share/bash-completion/completions/edge-agent
EOF
)
# The example DECNET catalog ships as documentation once it is in packaging/.
if [ -f "$PKG/services.decnet.json" ]; then
	expected=$(printf '%s\n%s\n' "$expected" "-rw-r--r-- ./usr/share/doc/edge-agent/examples/services.decnet.json" | sort)
fi
if [ "$files" = "$expected" ]; then
	pass "the .deb holds exactly the binary, unit, config, catalog, sysusers file, man page, changelog, copyright, README and completion, with sane modes"
else
	fail "the .deb's files differ from the expected layout" "$(diff <(echo "$expected") <(echo "$files"))"
fi

CTRL="$TMP/control"
mkdir -p "$CTRL"
dpkg-deb -e "$DEB" "$CTRL"
conffiles=$(sort "$CTRL/conffiles" 2>/dev/null)
if [ "$conffiles" = $'/etc/edge-agent/config.json\n/etc/edge-agent/services.json' ]; then
	pass "config.json and services.json are conffiles"
else
	fail "conffiles should list exactly config.json and services.json" "$conffiles"
fi

problems=""
for script in postinst prerm postrm; do
	if [ ! -x "$CTRL/$script" ]; then
		problems+="$script is missing or not executable"$'\n'
	elif ! out=$(sh -n "$CTRL/$script" 2>&1); then
		problems+="$script: $out"$'\n'
	fi
done
if [ -z "$problems" ]; then
	pass "postinst, prerm and postrm are present, executable and parse"
else
	fail "maintainer scripts" "$problems"
fi

# Starting an unconfigured agent would crash-loop (no TLS bundle yet): the
# only service-state change postinst may make is try-restart on upgrade.
# (The enrolment hint that postinst echoes names `enable --now`; skip echo and comments.)
# try-restart (upgrade) is allowed: it acts only on a running agent.
starts=$(grep -nvE '^[[:space:]]*(#|echo )' "$CTRL/postinst" |
	grep -E 'systemctl +(--[a-z-]+ +)*(start|restart|enable|reload-or-restart)|--now|deb-systemd-invoke +(start|restart)|invoke-rc\.d')
if [ -z "$starts" ]; then
	pass "postinst never starts or enables the service"
else
	fail "postinst starts or enables the service" "$starts"
fi

# lintian as Debian runs it, info tags included. Errors and warnings fail;
# info tags are listed. Kept on purpose: package-supports-alternative-init-
# but-no-init.d-script (the agent is systemd-only: Type=notify, watchdog,
# sd_notify; it depends on systemd) and spelling-error-in-binary "reseted"
# (a message inside the statically linked SQLiteCpp, not our text).
lint=$(lintian --info --display-info --pedantic "$DEB" 2>&1 | grep -E '^[EWIXPO]: ')
bad=$(printf '%s\n' "$lint" | grep -E '^[EW]: ')
infos=$(printf '%s\n' "$lint" | grep -E '^[IPX]: ' | awk '{print $3}' | sort -u | tr '\n' ' ')
if [ -z "$bad" ] && [ -n "$(lintian --version 2>/dev/null)" ]; then
	pass "lintian reports no error and no warning (info tags kept: ${infos:-none})"
else
	fail "lintian reports errors or warnings" "$bad"
fi
# The lintian check must be able to fail: the same package with the old
# maintainer address and a systemctl call in postinst is flagged.
BROKEN="$TMP/broken-deb"
"${AS_ROOT[@]}" dpkg-deb -R "$DEB" "$BROKEN"
sed -i 's/^Maintainer: .*/Maintainer: edge-agent maintainers <edge-agent@localhost>/' "$BROKEN/DEBIAN/control"
sed -i 's/^exit 0$/systemctl restart edge-agent.service || true\nexit 0/' "$BROKEN/DEBIAN/postinst"
"${AS_ROOT[@]}" dpkg-deb -b "$BROKEN" "$TMP/broken.deb" >/dev/null 2>&1
lint=$(lintian "$TMP/broken.deb" 2>&1)
if printf '%s' "$lint" | grep -q '^E: .*bogus-mail-host' &&
	printf '%s' "$lint" | grep -q '^W: .*maintainer-script-calls-systemctl'; then
	pass "the lintian check catches a localhost maintainer (error) and systemctl in postinst (warning)"
else
	fail "lintian did not flag a doctored package" "$lint"
fi

X="$TMP/extracted"
dpkg-deb -x "$DEB" "$X"
out=$(ldd "$X/usr/bin/edge-agent" 2>&1)
if [ $? -eq 0 ] && ! printf '%s' "$out" | grep -q "not found"; then
	pass "ldd resolves every library of the packaged binary"
else
	fail "ldd of the packaged binary" "$out"
fi
out=$("$X/usr/bin/edge-agent" --version 2>&1)
if [ "$(printf '%s' "$out" | awk '{print $1, $2}')" = "edge-agent $VERSION" ]; then
	pass "the packaged binary runs: $out"
else
	fail "the packaged binary's --version" "$out"
fi

# The shipped config is understood by the binary, and (un-enrolled: no TLS
# files yet) refuses to serve on 0.0.0.0 instead of falling back to plaintext.
out=$("$X/usr/bin/edge-agent" run --config "$X/etc/edge-agent/config.json" --state-dir "$TMP/state" 2>&1)
rc=$?
if [ $rc -ne 0 ] && printf '%s' "$out" | grep -q "cannot read TLS file '/etc/edge-agent/tls/agent.crt'" &&
	! printf '%s' "$out" | grep -qi "unknown key"; then
	pass "the shipped config parses and, before enrolment, the agent refuses to start without TLS"
else
	fail "running with the shipped config (rc=$rc) should stop on the missing TLS bundle" "$out"
fi

# --------------------------------------- maintainer scripts, for real
# dpkg --root with --force-script-chrootless runs the scripts on this host
# with DPKG_ROOT set, so they must honour it and touch nothing outside.
R="$TMP/root"
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/var/lib/dpkg/triggers" "$R/etc"
touch "$R/var/lib/dpkg/status" "$R/var/lib/dpkg/available"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\ndocker:x:990:\n' >"$R/etc/group"
# A systemctl that records any call: with DPKG_ROOT set none may happen.
mkdir -p "$TMP/shim"
printf '#!/bin/sh\necho "$*" >>"%s"\n' "$TMP/systemctl.calls" >"$TMP/shim/systemctl"
chmod +x "$TMP/shim/systemctl"
dpkg_root() {
	PATH="$TMP/shim:$PATH" "${AS_ROOT[@]}" dpkg --root="$R" --force-script-chrootless \
		--force-depends --log=/dev/null "$@" 2>&1
}

if ! out=$(dpkg_root -i "$DEB"); then
	fail "dpkg -i into a scratch root failed" "$out"
	finish
fi
problems=""
user=$(grep '^edge-agent:' "$R/etc/passwd")
IFS=: read -r _ _ uid gid _ home shell <<<"$user"
[ -n "$user" ] || problems+="no edge-agent user in /etc/passwd"$'\n'
[ "$home" = "/var/lib/edge-agent" ] || problems+="home is '$home'"$'\n'
case "$shell" in */nologin | */false) ;; *) problems+="login shell is '$shell'"$'\n' ;; esac
[ "${uid:-0}" -gt 0 ] && [ "${uid:-0}" -lt 1000 ] || problems+="uid '$uid' is not a system uid"$'\n'
# SupplementaryGroups=docker in the unit grants the socket to the service;
# membership would give anything run as edge-agent root-equivalent Docker.
grep -q '^docker:x:990:.*\bedge-agent\b' "$R/etc/group" && problems+="put in the docker group: $(grep '^docker:' "$R/etc/group")"$'\n'
tls_stat=$("${AS_ROOT[@]}" stat -c '%a %u %g' "$R/etc/edge-agent/tls" 2>&1)
[ "$tls_stat" = "750 0 $gid" ] || problems+="/etc/edge-agent/tls is '$tls_stat', want '750 0 $gid'"$'\n'
if [ -z "$problems" ]; then
	pass "postinst creates system user edge-agent (home /var/lib/edge-agent, no login, not in docker) and tls/ 0750 root:edge-agent"
else
	fail "postinst in a scratch root" "$problems$out"
fi
wants=$(ls "$R/etc/systemd/system/multi-user.target.wants" 2>/dev/null)
if printf '%s' "$out" | grep -q "installed, not started" && [ ! -e "$TMP/systemctl.calls" ] && [ -z "$wants" ]; then
	pass "a fresh install prints the enrolment hint, enables nothing and calls no systemctl"
else
	fail "fresh install: hint, enablement or systemctl calls" "$out"$'\n'"systemctl calls: $(cat "$TMP/systemctl.calls" 2>/dev/null)"$'\n'"wants: $wants"
fi

# An operator's edit survives a reinstall; the hint is only for first installs.
echo '{"listen": "127.0.0.1:9000"}' >"$R/etc/edge-agent/config.json"
out=$(dpkg_root -i "$DEB")
if [ $? -eq 0 ] && grep -q '9000' "$R/etc/edge-agent/config.json" &&
	! printf '%s' "$out" | grep -q "installed, not started"; then
	pass "reinstalling keeps the operator's config.json"
else
	fail "reinstall over an edited config" "$out"$'\n'"$(cat "$R/etc/edge-agent/config.json")"
fi

mkdir -p "$R/var/lib/edge-agent" && echo state >"$R/var/lib/edge-agent/topology.db"
out=$(dpkg_root -r edge-agent)
if [ $? -eq 0 ] && [ -f "$R/var/lib/edge-agent/topology.db" ] && grep -q '^edge-agent:' "$R/etc/passwd" &&
	[ -f "$R/etc/edge-agent/config.json" ] && [ ! -e "$R/usr/bin/edge-agent" ]; then
	pass "remove deletes the binary but keeps state, config and the user"
else
	fail "dpkg -r" "$out"
fi

out=$(dpkg_root -P edge-agent)
rc=$?
left=$(cd "$R" && ls -d var/lib/edge-agent etc/edge-agent etc/systemd/system/*/edge-agent.service 2>/dev/null
	grep -rl 'edge-agent' var/lib/systemd/deb-systemd-helper-enabled 2>/dev/null
	grep -h 'edge-agent' etc/passwd etc/group 2>/dev/null)
if [ $rc -eq 0 ] && [ -z "$left" ]; then
	pass "purge deletes state, config, enablement records, the user and its group memberships"
else
	fail "dpkg -P left things behind" "$left"$'\n'"$out"
fi

finish
