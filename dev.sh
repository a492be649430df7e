#!/usr/bin/env bash
# The two commands of the README:
#   ./dev.sh run [flags for `edge-agent run`]   install, build, run the agent
#   ./dev.sh test                               install, build, run every suite
# Both install what a fresh Debian 12 lacks (apt-get, via sudo when not root).
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(
  cmake ninja-build g++ pkg-config git ca-certificates
  libcpp-httplib-dev libsqlitecpp-dev libsqlite3-dev nlohmann-json3-dev
  libspdlog-dev libfmt-dev libssl-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev libboost1.81-dev
  clang libclang-rt-14-dev libpython3.11-dev
  clang-format openssl curl busybox-static python3 python3-prometheus-client systemd dpkg-dev fakeroot file
  lintian debootstrap ccache
)

# Rebuilds of an unchanged file (a second clone, the sanitizer trees) come
# from ccache; paths are made relative to the checkout so clones share it.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)

install_deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "dev.sh: installing ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

build() {
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${LAUNCHER[@]}" >/dev/null
  cmake --build build
}

# `step NAME CMD...`: runs CMD, records its wall time and outcome for the
# summary that `./dev.sh test` prints last; a failed step fails the run but
# does not stop the next ones.
STEPS=()
status=0
step() {
  local name=$1 start rc=0
  shift
  start=$(date +%s)
  echo "=== $name"
  "$@" || rc=$?
  STEPS+=("$(printf '%-44s %5ss  %s' "$name" $(($(date +%s) - start)) "$([ $rc -eq 0 ] && echo ok || echo "FAILED ($rc)")")")
  [ $rc -eq 0 ] || status=1
}

sanitizer_build() {  # DIR, then cmake -D options
  local dir=$1
  shift
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DEDGE_BUILD_BENCH=OFF "${LAUNCHER[@]}" "$@" >/dev/null &&
    cmake --build "$dir"
}

fuzz_build() {
  CXX=clang++ cmake -S tests/fuzz -B build-fuzz -G Ninja >/dev/null && cmake --build build-fuzz
}

case "${1:-}" in
  run)
    shift
    install_deps
    build
    exec ./build/edge-agent run "$@"
    ;;
  test)
    install_deps
    step "build (RelWithDebInfo)" build
    step "unit suites" ctest --test-dir build --output-on-failure -j2 -LE 'integration|script'
    step "integration + script suites" ctest --test-dir build --output-on-failure -L 'integration|script'
    # Every suite again under AddressSanitizer + UndefinedBehaviorSanitizer,
    # the daemon the script tests start included (packaging and formatting
    # check files, not behaviour: they run once, above).
    step "build-asan (ASan + UBSan)" sanitizer_build build-asan -DEDGE_SANITIZE=address
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    step "ASan+UBSan: unit suites" ctest --test-dir build-asan --output-on-failure -j2 -LE 'integration|script'
    step "ASan+UBSan: integration + script suites" ctest --test-dir build-asan --output-on-failure \
      -L 'integration|script' -E '^(packaging_test|format_test|manpage_test|systemd_container_test)$'
    unset ASAN_OPTIONS UBSAN_OPTIONS
    # The threaded suites under ThreadSanitizer: heartbeat, HTTP server, the
    # observer and the topology service (unit suites and, with the engine,
    # the in-process agent of the integration suite).
    step "build-tsan (ThreadSanitizer)" sanitizer_build build-tsan -DEDGE_SANITIZE=thread
    export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp"
    step "TSan: unit suites" ctest --test-dir build-tsan --output-on-failure -j2 -LE 'integration|script'
    step "TSan: integration suite" ctest --test-dir build-tsan --output-on-failure -L integration
    unset TSAN_OPTIONS
    # The canonical JSON parser against CPython's json (tests/fuzz/README.md).
    step "build-fuzz (clang, libFuzzer)" fuzz_build
    step "fuzz: corpus replay + 60 s" tests/fuzz/run.sh build-fuzz 60
    echo "=== summary (wall time per step)"
    printf '%s\n' "${STEPS[@]}"
    exit $status
    ;;
  *)
    echo "usage: $0 run [edge-agent run flags] | $0 test" >&2
    exit 2
    ;;
esac
