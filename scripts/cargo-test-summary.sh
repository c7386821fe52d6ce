#!/usr/bin/env bash
# Runs every test in the workspace with `cargo test`, shows the output as it
# comes, and ends with one line adding up every test binary's result:
#   tests: N passed, N failed, N skipped
# (cargo prints one "test result" line per test binary; the last of those
# alone would say nothing about the others.) A test that finds it cannot
# run here (no IPv6 loopback, say) prints `SKIPPED <name>: <why>` and
# returns: the harness counts it as passed, this line as skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT

cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

awk '/^test result: / {
        for (i = 1; i <= NF; i++) {
            if ($(i+1) ~ /^passed/)  passed  += $i
            if ($(i+1) ~ /^failed/)  failed  += $i
            if ($(i+1) ~ /^ignored/) ignored += $i
        }
     }
     /SKIPPED [A-Za-z0-9_:]+: / { skipped += 1 }
     END {
        printf "tests: %d passed, %d failed, %d skipped\n", passed - skipped, failed, ignored + skipped
     }' "$log"
exit "$status"
