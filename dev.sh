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
  libcurl4-openssl-dev libspdlog-dev libfmt-dev libssl-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-format openssl curl busybox-static python3 python3-prometheus-client systemd dpkg-dev fakeroot file
  lintian debootstrap
)

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
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build
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
    build
    # Unit suites again under AddressSanitizer + UndefinedBehaviorSanitizer.
    cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DEDGE_SANITIZE=ON \
      -DEDGE_UNIT_TESTS_ONLY=ON -DEDGE_BUILD_BENCH=OFF >/dev/null
    cmake --build build-asan
    status=0
    ctest --test-dir build --output-on-failure -j2 -LE 'integration|script' || status=1
    ctest --test-dir build --output-on-failure -L 'integration|script' || status=1
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
      ctest --test-dir build-asan --output-on-failure -j2 || status=1
    exit $status
    ;;
  *)
    echo "usage: $0 run [edge-agent run flags] | $0 test" >&2
    exit 2
    ;;
esac
