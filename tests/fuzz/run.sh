#!/usr/bin/env bash
# run.sh <fuzz_build_dir> [SECONDS]   (default 60)
#
# Replays the checked-in corpus through canonical_json_fuzz, then fuzzes for
# SECONDS starting from it. Exits non-zero on any finding (the differing
# input is kept in <fuzz_build_dir>/findings/ and printed). New inputs go to
# a scratch directory: the checked-in corpus changes only by hand
# (tests/fuzz/make_corpus.py, or copy a finding in after fixing it).
set -uo pipefail
BUILD=$(realpath "${1:?usage: run.sh <fuzz_build_dir> [SECONDS]}")
SECONDS_TO_FUZZ=${2:-60}
HERE=$(cd "$(dirname "$0")" && pwd)
FUZZ="$BUILD/canonical_json_fuzz"
[[ -x $FUZZ ]] || { echo "FAIL: no $FUZZ (build tests/fuzz first)"; exit 1; }

export LSAN_OPTIONS="suppressions=$HERE/lsan.supp"
export UBSAN_OPTIONS=print_stacktrace=1
findings="$BUILD/findings"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/edge-fuzz-corpus.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$findings"

status=0
n=$(find "$HERE/corpus" -type f | wc -l)
if "$FUZZ" -artifact_prefix="$findings/" "$HERE"/corpus/* >"$BUILD/replay.log" 2>&1; then
  echo "PASS: the $n corpus inputs give CPython's hash or are rejected by both"
else
  echo "FAIL: replaying the corpus found a difference (log: $BUILD/replay.log)"
  grep -A6 '^=== canonical_json differs' "$BUILD/replay.log" || tail -30 "$BUILD/replay.log"
  status=1
fi

# -max_len covers the largest vector (~15 KB); -timeout catches a hang;
# -rss_limit_mb a runaway allocation.
if "$FUZZ" -max_total_time="$SECONDS_TO_FUZZ" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$findings/" "$scratch" "$HERE/corpus" \
  >"$BUILD/fuzz.log" 2>&1; then
  echo "PASS: ${SECONDS_TO_FUZZ}s of fuzzing found no difference from CPython" \
    "($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$BUILD/fuzz.log" | grep -o '[0-9]*$') inputs)"
else
  echo "FAIL: fuzzing found a difference from CPython (log: $BUILD/fuzz.log)"
  grep -A6 '^=== canonical_json differs' "$BUILD/fuzz.log" || tail -30 "$BUILD/fuzz.log"
  ls "$findings" >&2
  status=1
fi
[ $status -eq 0 ] && echo "2 passed, 0 failed" || echo "failed"
exit $status
