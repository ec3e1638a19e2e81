#!/usr/bin/env bash
# The test suite: unit, integration, property and doc tests of the whole workspace.
# Ends with one summary line over every test binary ("tests: N passed, N failed").
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --release "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
