# Shared by the script tests (sourced, not run): PASS/FAIL counting and the
# "N passed, N failed" closing line ctest's logs and CI read.
PASSED=0
FAILED=0
pass() {
	PASSED=$((PASSED + 1))
	echo "PASS: $1"
}
fail() {
	FAILED=$((FAILED + 1))
	echo "FAIL: $1" >&2
	if [ -n "${2:-}" ]; then printf '%s\n' "$2" | sed 's/^/    /' >&2; fi
}
summary() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}
