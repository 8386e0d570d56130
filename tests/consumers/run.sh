#!/usr/bin/env bash
# Builds and runs the consumer projects: one against strata installed to a prefix
# (find_package), one with strata as a subdirectory, one through FetchContent (this
# checkout as SOURCE_DIR: nothing is downloaded), and one compiled with only the
# flags from the installed strata.pc (pkg-config).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'echo "consumers: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR
# A failing step prints its output and which step it was, then the script stops.
quiet() {
    if ! "$@" >"$work/log" 2>&1; then
        cat "$work/log" >&2
        echo "consumers: FAILED: $*" >&2
        exit 1
    fi
}
command -v pkg-config >/dev/null || { echo "consumers: pkg-config is missing (Debian: pkgconf)" >&2; exit 1; }

quiet cmake -S "$root" -B "$work/strata" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTRATA_BUILD_TESTS=OFF \
      -DSTRATA_BUILD_EXAMPLES=OFF -DCMAKE_INSTALL_PREFIX="$work/prefix"
quiet cmake --install "$work/strata"
test -f "$work/prefix/share/strata/cmake/strataConfig.cmake"
test -f "$work/prefix/share/strata/cmake/strataConfigVersion.cmake"
test -f "$work/prefix/share/strata/proto/strata/v1/error.proto"
test -f "$work/prefix/share/pkgconfig/strata.pc"

quiet cmake -S "$root/tests/consumers/find_package" -B "$work/fp" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix"
quiet cmake --build "$work/fp"
out=$("$work/fp/consumer" 2>/dev/null)
echo "find_package consumer: $out"

quiet cmake -S "$root/tests/consumers/add_subdirectory" -B "$work/as" -G Ninja
quiet cmake --build "$work/as"
out=$("$work/as/consumer" 2>/dev/null)
echo "add_subdirectory consumer: $out"

quiet cmake -S "$root/tests/consumers/fetchcontent" -B "$work/fc" -G Ninja
quiet cmake --build "$work/fc"
out=$("$work/fc/consumer" 2>/dev/null)
echo "fetchcontent consumer: $out"

# strata.pc: found through PKG_CONFIG_PATH, well-formed, pointing into the prefix.
pc=(env PKG_CONFIG_PATH="$work/prefix/share/pkgconfig" pkg-config)
quiet "${pc[@]}" --validate strata
test "$("${pc[@]}" --modversion strata)" = "$(sed -n 's/^project(strata VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")"
"${pc[@]}" --cflags strata | grep -q -- "-I$work/prefix/include"
echo "strata.pc: $("${pc[@]}" --cflags --libs strata)"
quiet bash "$root/tests/consumers/pkgconfig/build.sh" "$work/prefix" "$work/pc-consumer"
out=$("$work/pc-consumer" 2>/dev/null)
echo "pkg-config consumer: $out"
echo "consumers: 4 passed, 0 failed"
