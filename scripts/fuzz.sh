#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz preset: clang++ with ASan+UBSan) and runs each
# for a bounded time on a fresh copy of its seed corpus (fuzz/corpus/<name>/, copied
# to build/fuzz/corpus-work/<name>/ so that the repository's corpus stays as it is).
# Prints each target's executions and final corpus size. An input that crashes,
# leaks, times out or runs out of memory is copied into the seed corpus as a
# regression (every later run replays it first), and the script exits non-zero.
#   scripts/fuzz.sh [seconds per target, default 60]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
strata_install_missing "${STRATA_BUILD_PACKAGES[@]}" nlohmann-json3-dev clang clang-14 libclang-rt-14-dev llvm-14

seconds=${1:-60}
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [seconds per target, default 60]" >&2
    exit 2
fi

jobs=$(nproc 2>/dev/null || echo 2)
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$jobs"

build=build/fuzz
symbolizer=$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || echo /usr/lib/llvm-14/bin/llvm-symbolizer)
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:symbolize=1:external_symbolizer_path=$symbolizer"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:external_symbolizer_path=$symbolizer"

failed=()
summary=()
for name in format_string misc json; do
    bin=$build/fuzz/${name}_fuzz
    work=$build/corpus-work/$name
    artifacts=$build/artifacts/$name
    log=$build/logs/$name.log
    rm -rf "$work" "$artifacts"
    mkdir -p "$work" "$artifacts" "$(dirname "$log")"
    cp -a "fuzz/corpus/$name/." "$work/"
    args=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
          -artifact_prefix="$artifacts/")
    [ -f "fuzz/$name.dict" ] && args+=(-dict="fuzz/$name.dict")

    echo "== $name: fuzzing for ${seconds}s (log: $log)"
    rc=0
    "$bin" "${args[@]}" "$work" >"$log" 2>&1 || rc=$?

    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1) || true
    corp=$(grep -Eo 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -n 1 | cut -d' ' -f2) || true
    files=$(find "$work" -type f | wc -l)
    line="$name: ${execs:-?} executions, corpus ${corp:-?} (entries/bytes), $files files in $work, exit $rc"
    summary+=("$line")
    echo "$line"

    # Anything libFuzzer wrote as an artifact becomes a regression seed.
    found=0
    for a in "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* "$artifacts"/oom-*; do
        [ -e "$a" ] || continue
        found=1
        hex=$(od -An -tx1 -v "$a" | tr -d " \n" | cut -c1-200)
        dest=""
        for seed in "fuzz/corpus/$name"/*; do
            if cmp -s "$a" "$seed"; then dest=$seed; break; fi
        done
        if [ -n "$dest" ]; then
            echo "   $(basename "$a"): already in the seed corpus as $dest ($(wc -c <"$a") bytes): $hex"
        else
            dest=fuzz/corpus/$name/regression-$(basename "$a")
            cp "$a" "$dest"
            echo "   $(basename "$a") -> $dest ($(wc -c <"$a") bytes): $hex"
        fi
    done
    if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
        failed+=("$name")
        echo "-- $name failed; the report:"
        grep -n -A 60 -E '^==[0-9]+==ERROR|runtime error|invariant violated|deadly signal|ERROR: libFuzzer' "$log" | head -n 120 || tail -n 60 "$log"
    fi
done

echo "== summary"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -ne 0 ]; then
    echo "failed: ${failed[*]} (inputs copied into fuzz/corpus/<name>/regression-*)" >&2
    exit 1
fi
