#!/usr/bin/env bash
# Builds and runs the two consumer projects: one against strata installed to a
# prefix (find_package), one with strata as a subdirectory.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake -S "$root" -B "$work/strata" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTRATA_BUILD_TESTS=OFF \
      -DSTRATA_BUILD_EXAMPLES=OFF -DCMAKE_INSTALL_PREFIX="$work/prefix" >/dev/null
cmake --install "$work/strata" >/dev/null
test -f "$work/prefix/share/strata/cmake/strataConfig.cmake"
test -f "$work/prefix/share/strata/cmake/strataConfigVersion.cmake"

cmake -S "$root/tests/consumers/find_package" -B "$work/fp" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/fp" >/dev/null
out=$("$work/fp/consumer" 2>/dev/null)
echo "find_package consumer: $out"

cmake -S "$root/tests/consumers/add_subdirectory" -B "$work/as" -G Ninja >/dev/null
cmake --build "$work/as" >/dev/null
out=$("$work/as/consumer" 2>/dev/null)
echo "add_subdirectory consumer: $out"
echo "consumers: 2 passed, 0 failed"
