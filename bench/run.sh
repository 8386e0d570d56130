#!/usr/bin/env bash
# Builds and runs strata's benchmarks against its peers and prints the table of
# ratios (medians over repetitions) that docs/costs.md shows, then runs the
# scaling scenarios against Go, Boost.Asio and oneTBB (bench/scale.sh: its own
# table, and docs/scaling.png, as many repetitions as launches; skipped when Go
# or oneTBB is not installed, or with STRATA_BENCH_SCALE=0). Installs what else is
# missing. Usage: bash bench/run.sh [repetitions [launches]]   (default 10 and 3)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
strata_install_missing "${STRATA_BUILD_PACKAGES[@]}" libbenchmark-dev libabsl-dev python3 time \
    nlohmann-json3-dev "${STRATA_GRPC_PACKAGES[@]}"

reps=${1:-10}
runs=${2:-3}  # launches of each binary: each gets its own address-space layout
out=build/bench/results
mkdir -p "$out"
cmake --preset bench >/dev/null
cmake --build --preset bench >/dev/null

run() {  # binary, json file
    echo "running $1 ($reps repetitions)..." >&2
    "build/bench/bench/$1" --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true \
        --benchmark_min_time=0.2 --benchmark_enable_random_interleaving=true --benchmark_out="$out/$2" --benchmark_out_format=json >/dev/null
}
rm -f "$out"/main.*.json "$out"/fp.*.json "$out"/grpc.*.json
for i in $(seq "$runs"); do
    run strata_bench "main.$i.json"
    run strata_bench_fp "fp.$i.json"
    # <strata/grpc.hpp> (built when gRPC is installed: scripts/deps.sh's STRATA_GRPC_PACKAGES).
    if [ -x build/bench/bench/strata_grpc_bench ]; then run strata_grpc_bench "grpc.$i.json"; fi
done

# The first report in a fresh process: each mode launched 9 times, the modes
# taking turns, one JSON object per launch.
echo "timing first reports in fresh processes..." >&2
: > "$out/first.jsonl"
for _ in 1 2 3 4 5 6 7 8 9; do
    for mode in boost handle thread; do build/bench/bench/first_report "$mode" >> "$out/first.jsonl"; done
done

# Compile time of including strata.hpp at -O0, against a file with only fmt and
# the standard headers the public API needs (and Boost.LEAF for comparison):
# CPU seconds (user + system) of each compile, median of 9 rounds, the three
# files taking turns in each round so that a drifting machine hits all alike.
echo "timing compiles..." >&2
compile_once() {
    { /usr/bin/time -f '%U %S' g++ -std=c++20 -O0 -Iinclude -DBOOST_STACKTRACE_LINK \
          -c "bench/compile/$1.cpp" -o /dev/null; } 2>&1 | tail -n 1 | awk '{print $1 + $2}'
}
declare -A times
for _ in 1 2 3 4 5 6 7 8 9; do
    for f in baseline strata leaf; do times[$f]+="$(compile_once $f) "; done
done
median() { printf '%s\n' $1 | sort -n | sed -n 5p; }
{
    echo "{"
    echo "  \"baseline\": $(median "${times[baseline]}"),"
    echo "  \"strata\": $(median "${times[strata]}"),"
    echo "  \"leaf\": $(median "${times[leaf]}")"
    echo "}"
} > "$out/compile.json"

python3 bench/report.py "$out" | tee "$out/report.md"

if [ "${STRATA_BENCH_SCALE:-1}" != 0 ]; then
    echo >&2
    SCALE_REPS=${SCALE_REPS:-$runs} SCALE_MISSING_EXIT=0 bash bench/scale.sh
fi
