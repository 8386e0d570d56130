#!/usr/bin/env bash
# Installs what is missing, builds the examples (the example preset: optimized,
# no test dependencies), runs the job runner in the book's three cases (missing
# binary, binary not executable, job that fails), then the concurrent job runner,
# then the fleet over gRPC (a user's client, a front service, a storage service).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
strata_install_missing "${STRATA_EXAMPLE_PACKAGES[@]}"

cmake --preset example >/dev/null
cmake --build --preset example --target job_runner concurrent_jobs fleet_grpc >/dev/null

runner=build/example/examples/job_runner
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '#!/bin/sh\nexit 0\n' > "$work/not-executable" && chmod 644 "$work/not-executable"
printf '#!/bin/sh\nexit 3\n' > "$work/fails" && chmod 755 "$work/fails"

run() {
    echo "== $1"
    echo "\$ job_runner $2"
    # The user's line is on stdout; the full record (the log) on stderr.
    "$runner" $2 2> "$work/log" || true
    echo "-- log (stderr):"
    cat "$work/log"
    echo
}
run "missing binary (the book's /bad/job/bin): a known edge case" ""
run "binary not executable: a bug" "$work/not-executable"
run "job exits with status 3: a bug" "$work/fails"

echo "== concurrent jobs: a deadline, a replicated request, a slow job, a stalled job,"
echo "   a failing step that cancels its sibling, a job canceled by the run's deadline"
echo "\$ concurrent_jobs"
build/example/examples/concurrent_jobs 2> "$work/log" || true
echo "-- log (stderr):"
cat "$work/log"

echo
echo "== the fleet over gRPC: storage fails (a bug, a known edge case, too slow for the"
echo "   front's deadline); the user gets the front's message and one ID for every record"
echo "\$ fleet_grpc"
build/example/examples/fleet_grpc 2> "$work/log" || true
echo "-- log (stderr, three processes):"
cat "$work/log"
