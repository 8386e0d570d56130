#!/usr/bin/env bash
# Issue 13's scaling scenarios: strata's thread API (and its coroutine API, once
# <strata/asio.hpp> exists) against Go's errgroup and context, Boost.Asio and
# oneTBB, each measurement a fresh process (bench/scale/scale_bench.cpp,
# bench/scale/scale.go), the implementations taking turns. Writes one JSON line
# a process to build/bench/scale/results.jsonl, prints a markdown table of
# medians with ratios to Go (also in build/bench/scale/report.md), and draws
# docs/scaling.png. Needs, beyond the benchmarks' packages (which it installs
# like run.sh): golang-go, golang-golang-x-sync-dev, libtbb-dev and (for the
# picture) python3-matplotlib; installs them only with SCALE_INSTALL=1, and
# otherwise says what is missing and exits with SCALE_MISSING_EXIT (default 1;
# run.sh passes 0, so that a machine without them, CI's, skips this part).
#
# Usage: bash bench/scale.sh. Overridable through the environment:
#   SCALE_NS           the sizes N                    (default "1000 10000 100000")
#   SCALE_REPS         repetitions of everything      (default 3)
#   SCALE_SCENARIOS    which scenarios                (default all eight)
#   SCALE_IMPLS        which implementations          (default every one built)
#   SCALE_ALIVE_MAX    the largest N for `alive` with strata's thread API
#                      (default 10000: it needs a thread per live task)
#   SCALE_TIMEOUT_CALLS  calls of with_timeout        (default 20000)
#   SCALE_FIRST_ROUNDS rounds of first_of8, median    (default 200)
#   SCALE_PROC_TIMEOUT seconds before a process is killed (default 300)
#   SCALE_PLOT         the picture                    (default docs/scaling.png; "" for none)
#   SCALE_JOBS         build jobs                     (default 2)
# A smoke run: SCALE_NS="1000 10000" SCALE_REPS=1 bash bench/scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
strata_install_missing "${STRATA_BUILD_PACKAGES[@]}" libbenchmark-dev libabsl-dev python3
peers=(golang-go golang-golang-x-sync-dev libtbb-dev python3-matplotlib)
if [ "${SCALE_INSTALL:-0}" = 1 ]; then
    strata_install_missing "${peers[@]}"
else
    missing=()
    for pkg in "${peers[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    if [ ${#missing[@]} -ne 0 ]; then
        echo "bench/scale.sh: the scaling scenarios need ${missing[*]} (apt-get install them, or run with" \
            "SCALE_INSTALL=1); not run" >&2
        exit "${SCALE_MISSING_EXIT:-1}"
    fi
fi

ns=${SCALE_NS:-1000 10000 100000}
reps=${SCALE_REPS:-3}
scenarios=${SCALE_SCENARIOS:-sleep sleep_limit16 fail_half alive timeout_ok first_of8 heartbeat stall_detect}
alive_max=${SCALE_ALIVE_MAX:-10000}
timeout_calls=${SCALE_TIMEOUT_CALLS:-20000}
first_rounds=${SCALE_FIRST_ROUNDS:-200}
proc_timeout=${SCALE_PROC_TIMEOUT:-300}
plot=${SCALE_PLOT-docs/scaling.png}
out=build/bench/scale
mkdir -p "$out"

echo "building scale_bench and scale_go..." >&2
cmake --preset bench >/dev/null
cmake --build --preset bench --target scale_bench -j "${SCALE_JOBS:-2}" >/dev/null
cxx=build/bench/bench/scale_bench
# Go in GOPATH mode, offline: golang.org/x/sync comes from Debian's tree.
GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= GOPROXY=off GOCACHE="$PWD/$out/go-cache" \
    go build -o "$out/scale_go" bench/scale/scale.go
gobin=$out/scale_go

# The implementations built: strata_coro only once <strata/asio.hpp> exists.
if [ -z "${SCALE_IMPLS:-}" ]; then
    impls="go strata_thread"
    "$cxx" strata_coro sleep 1 >/dev/null 2>&1 && impls+=" strata_coro strata_coro_cores"
    impls+=" asio asio_cores tbb os_threads"
else
    impls=$SCALE_IMPLS
fi

supports() {  # impl scenario: oneTBB is a peer only for the limited pool; bare OS threads (the
              # floor of blocking threads) for sleep, fail_half and first_of; the groups over
              # a context per CPU for the group scenarios (Asio's own: sleep); heartbeats are
              # strata's thread API's
    case $1:$2 in
        *:heartbeat | *:stall_detect) [ "$1" = strata_thread ] ;;
        tbb:*) [ "$2" = sleep_limit16 ] ;;
        os_threads:*) case $2 in sleep | fail_half | first_of8) true ;; *) false ;; esac ;;
        strata_coro_cores:*) case $2 in sleep | sleep_limit16 | fail_half) true ;; *) false ;; esac ;;
        asio_cores:*) [ "$2" = sleep ] ;;
        *) true ;;
    esac
}

results=$out/results.jsonl
: > "$results"
# The machine's load before and after: the figures are only as quiet as it was.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
run_one() {  # impl scenario n
    local impl=$1 scenario=$2 n=$3 line rc=0
    if [ "$impl" = go ]; then
        line=$(timeout "$proc_timeout" "$gobin" "$scenario" "$n" 2>"$out/stderr.txt") || rc=$?
    else
        line=$(timeout "$proc_timeout" "$cxx" "$impl" "$scenario" "$n" 2>"$out/stderr.txt") || rc=$?
    fi
    line=$(printf '%s\n' "$line" | grep '^{' | tail -n 1 || true)
    if [ -z "$line" ]; then  # killed, crashed, or printed nothing: a line that says so
        local why="exit code $rc"
        [ "$rc" -eq 124 ] && why="killed after ${proc_timeout} s"
        why+=": $(tail -c 300 "$out/stderr.txt" | tr '\n"\\' "   ")"
        line="{\"impl\": \"$impl\", \"scenario\": \"$scenario\", \"n\": $n, \"ok\": false, \"error\": \"$why\"}"
    fi
    printf '%s\n' "$line" >> "$results"
    printf '  %s\n' "$line" | cut -c1-200 >&2
}

for rep in $(seq "$reps"); do
    echo "repetition $rep of $reps (implementations: $impls)" >&2
    for scenario in $scenarios; do
        case $scenario in
            timeout_ok) sizes=$timeout_calls ;;
            first_of8) sizes=$first_rounds ;;
            heartbeat) sizes=300 ;;
            stall_detect) sizes=10 ;;
            *) sizes=$ns ;;
        esac
        for n in $sizes; do
            for impl in $impls; do
                if [ "$scenario" = alive ] && [ "$impl" = strata_thread ] && [ "$n" -gt "$alive_max" ]; then
                    continue
                fi
                supports "$impl" "$scenario" && run_one "$impl" "$scenario" "$n"
            done
        done
    done
done

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
# Debian's python3, which python3-matplotlib is installed for (not a python3 of
# pyenv or a virtualenv that may come first on PATH).
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
if [ -n "$plot" ]; then
    "$py" bench/scale/report.py "$results" --plot "$plot" > "$out/report.md"
else
    "$py" bench/scale/report.py "$results" > "$out/report.md"
fi
echo "
($(nproc) CPUs; load average $load_before before, $load_after after; $(go version | cut -d' ' -f3);" \
    "repetitions: $reps)" >> "$out/report.md"
cat "$out/report.md"
