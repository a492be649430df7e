#!/usr/bin/env bash
# manpage_test.sh <build_dir> <source_dir>
#
# The man page (packaging/edge-agent.8) and the bash completion
# (packaging/edge-agent.bash-completion) cannot drift from the binary: every
# command, flag and environment variable that `edge-agent --help` and each
# command's --help print is documented and completed, and nothing is
# documented or completed that the binary does not have. The page also
# renders without a warning from man (what lintian runs).
set -uo pipefail

BUILD=$(realpath "${1:?usage: manpage_test.sh <build_dir> <source_dir>}")
SRC=$(realpath "${2:?usage: manpage_test.sh <build_dir> <source_dir>}")
BIN="$BUILD/edge-agent"
MAN="$SRC/packaging/edge-agent.8"
COMPLETION="$SRC/packaging/edge-agent.bash-completion"

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/edge-manpage-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

if [ ! -x "$BIN" ]; then
	fail "the daemon is not built: $BIN is missing"
	summary
	exit $?
fi

# ------------------------------------------------------ what --help says
help_commands() { # the "Subcommands:" block of the top-level --help
	"$BIN" --help | awk '/^Subcommands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }' | sort -u
}
help_flags() { # [command] -> long flags, one a line
	"$BIN" "$@" --help | grep -oE '^ +(-[a-zA-Z],)?--[a-z][a-z0-9-]*' | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u
}
help_env() { # every (Env:NAME) of every command
	for c in $(help_commands); do "$BIN" "$c" --help; done | grep -oE 'Env:[A-Z0-9_]+' | sed 's/^Env://' | sort -u
}

# ----------------------------------------------------- what the page says
# Tag lines are the line after each .TP/.TQ; roff writes "-" as "\-".
man_section() { # <man file> <.SH name> [<.SS name>] -> the lines of that block
	awk -v sh="$2" -v ss="${3:-}" '
		/^\.SH / { name = $0; sub(/^\.SH +"?/, "", name); sub(/"$/, "", name); in_sh = (name == sh); in_ss = 0; next }
		/^\.SS / { name = $0; sub(/^\.SS +"?/, "", name); sub(/"$/, "", name); in_ss = (name == ss); next }
		in_sh && (ss == "" || in_ss) { print }' "$1"
}
tag_lines() { awk 'tag { print; tag = 0 } /^\.(TP|TQ)/ { tag = 1 }'; }
man_commands() { awk '/^\.SH /{ c = ($2 == "COMMANDS") } c && /^\.SS / { print $2 }' "$1" | tr -d '"' | sort -u; }
man_flags() { # <man file> <.SH> [<.SS>]
	man_section "$@" | tag_lines | sed 's/\\-/-/g' | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u
}
man_env() { man_section "$1" ENVIRONMENT | tag_lines | grep -oE 'EDGE_AGENT_[A-Z0-9_]+' | sort -u; }

# ------------------------------------------------ what completion offers
complete_words() { # words typed so far (the last one is being completed)
	bash -c '
		. "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_edge_agent
		printf "%s\n" "${COMPREPLY[@]}"' _ "$COMPLETION" edge-agent "$@" | sed '/^$/d' | sort -u
}

# compare <what> <expected list> <actual list>: prints the differences
compare() {
	local only_help only_doc
	local want got
	want=$(printf '%s\n' "$2" | sed '/^$/d' | LC_ALL=C sort -u)
	got=$(printf '%s\n' "$3" | sed '/^$/d' | LC_ALL=C sort -u)
	only_help=$(LC_ALL=C comm -23 <(echo "$want") <(echo "$got") | tr '\n' ' ')
	only_doc=$(LC_ALL=C comm -13 <(echo "$want") <(echo "$got") | tr '\n' ' ')
	[ -n "$only_help" ] && echo "$1: in --help but missing: $only_help"
	[ -n "$only_doc" ] && echo "$1: documented but not in --help: $only_doc"
	true
}

drift_of_page() { # <man file> -> one line per difference, nothing when in sync
	local page=$1 commands c
	commands=$(help_commands)
	compare "commands (.SS under COMMANDS)" "$commands" "$(man_commands "$page")"
	compare "global options (OPTIONS)" "$(help_flags)" "$(man_flags "$page" OPTIONS)"
	for c in $commands; do
		# -h/--help is documented once, under OPTIONS.
		compare "flags of '$c'" "$(help_flags "$c" | grep -vx -- --help)" "$(man_flags "$page" COMMANDS "$c")"
	done
	compare "environment (ENVIRONMENT)" "$(help_env)" "$(man_env "$page")"
}

commands=$(help_commands)
if [ -z "$commands" ] || [ -z "$(help_flags run)" ]; then
	fail "could not read the commands and flags from '$BIN --help'" "$("$BIN" --help 2>&1)"
	summary
	exit $?
fi

out=$(drift_of_page "$MAN")
if [ -z "$out" ]; then
	pass "edge-agent.8 documents exactly the commands ($(echo $commands)), flags and environment variables of --help"
else
	fail "edge-agent.8 has drifted from --help" "$out"
fi

# The comparison must be able to fail, both ways: a flag dropped from the
# page, and a flag the binary does not have.
sed -e '/^\.BI \\-\\-tls\\-ca /d' -e 's/^\.BI \\-\\-base\\-image /.BI \\-\\-base\\-imag /' "$MAN" >"$TMP/broken.8"
out=$(drift_of_page "$TMP/broken.8")
if printf '%s' "$out" | grep -q "missing: .*--tls-ca" && printf '%s' "$out" | grep -q "not in --help: --base-imag"; then
	pass "the drift check catches a flag missing from the page and one the binary lacks"
else
	fail "the drift check did not notice a doctored page" "$out"
fi

out=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l "$MAN" 2>&1 >/dev/null)
if [ -z "$out" ]; then
	pass "man renders edge-agent.8 without a warning"
else
	fail "man warns about edge-agent.8" "$out"
fi

# ------------------------------------------------------------ completion
problems=""
problems+=$(compare "completion of 'edge-agent '" "$(printf '%s\n' $commands; help_flags)" "$(complete_words '')")
for c in $commands; do
	problems+=$(compare "completion of 'edge-agent $c --'" "$(help_flags "$c")" "$(complete_words "$c" --)")
done
if [ -z "$problems" ]; then
	pass "bash completion offers exactly the commands and each command's flags of --help"
else
	fail "bash completion has drifted from --help" "$problems"
fi

mkdir -p "$TMP/dir/sub" && touch "$TMP/dir/cert.pem"
got=$(cd "$TMP/dir" && complete_words run --tls-cert ce)
got_dir=$(cd "$TMP/dir" && complete_words run --state-dir '')
got_level=$(complete_words run --log-level w)
if [ "$got" = "cert.pem" ] && [ "$got_dir" = "sub" ] && [ "$got_level" = "warn" ]; then
	pass "completion offers files after --tls-cert, directories after --state-dir, levels after --log-level"
else
	fail "completion of values" "--tls-cert ce -> '$got'; --state-dir -> '$got_dir'; --log-level w -> '$got_level'"
fi

summary
