#!/usr/bin/env bash
# Installs what is missing, then builds and runs the tests with each preset named
# (default: dev = g++ and clang = clang++, both with warnings as errors).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
strata_install_missing "${STRATA_TEST_PACKAGES[@]}"

presets=("$@")
[ ${#presets[@]} -eq 0 ] && presets=(dev clang)
jobs=$(nproc 2>/dev/null || echo 2)
for p in "${presets[@]}"; do
    echo "== preset $p"
    cmake --preset "$p" >/dev/null
    cmake --build --preset "$p" -j "$jobs"
    ctest --preset "$p" -j "$jobs" --no-tests=error
done
