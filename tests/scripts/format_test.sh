#!/usr/bin/env bash
# Every C++ source follows the checked-in .clang-format.
set -uo pipefail
SRC=${2:?source dir}
cd "$SRC" || exit 1
bad=0; n=0
while IFS= read -r f; do
  n=$((n + 1))
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || { echo "FAIL: $f is not clang-formatted (run clang-format -i $f)"; bad=$((bad + 1)); }
done < <(git ls-files '*.cpp' '*.h' 2>/dev/null || find agent store docker_obs tests bench -name '*.cpp' -o -name '*.h')
echo "$((n - bad)) passed, $bad failed"
[ $bad -eq 0 ]
