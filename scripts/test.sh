#!/usr/bin/env bash
# The test suite: unit, integration, property and doc tests of the whole workspace.
# Runs every test binary even when one fails (--no-fail-fast), then ends with one summary line
# over every test binary ("tests: N passed, N failed, N skipped").
#
# A test that cannot run here (no root or namespaces, no io_uring, no IPv6, a missing tool)
# records its skip in $UDPRX_SKIP_LOG (testsupport/skip.rs); every passing test that skipped all
# or part of itself counts as skipped, not passed, and is listed as `SKIP <test>: <reason>`.
# With CI=true the suite fails when any test skipped for lack of root, namespaces or a set-up
# step (CI runs as root after scripts/setup.sh); a missing kernel feature is allowed and listed.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
skips=$(mktemp)
trap 'rm -f "$log" "$skips"' EXIT
export UDPRX_SKIP_LOG=$skips
cargo test --workspace --profile test-release --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
awk -F'\t' -v ci="${CI:-}" '
    # The cargo log: which test binary runs, which tests passed, the per-binary totals.
    FNR == NR {
        if ($0 ~ /^ *Running /) {
            bin = $0; sub(/.*\(/, "", bin); sub(/\)[^)]*$/, "", bin); sub(/.*\//, "", bin)
        } else if ($0 ~ /^ *Doc-tests /) {
            bin = "doctests"
        } else if ($0 ~ /^test result:/) {
            split($0, w, " "); p += w[4]; f += w[6]
        } else if ($0 ~ /^test .* \.\.\. ok$/) {
            name = $0; sub(/^test /, "", name); sub(/ \.\.\. ok$/, "", name)
            ok[bin SUBSEP name] = 1
        }
        next
    }
    # The skip log: SKIP <need> <binary> <test> <reason>, one line per skipped test or part.
    $1 == "SKIP" {
        key = $3 SUBSEP $4
        if (!(key in need)) { order[++n] = key; need[key] = $2; why[key] = $5; shown = $3
                              sub(/-[0-9a-f]+$/, "", shown); label[key] = shown "::" $4 }
        else { why[key] = why[key] "; " $5 }
        if ($2 == "root" || $2 == "setup") need[key] = $2
    }
    END {
        for (i = 1; i <= n; i++) {
            k = order[i]
            if (k in ok) { s++; printf "SKIP %s: %s [%s]\n", label[k], why[k], need[k] }
            if (need[k] == "root" || need[k] == "setup") bad[++nbad] = k
        }
        if (ci == "true" && nbad > 0) {
            printf "CI: %d test(s) skipped for lack of root, namespaces or set-up; CI runs as root after scripts/setup.sh and must run them:\n", nbad
            for (i = 1; i <= nbad; i++) printf "CI:   %s [%s]\n", label[bad[i]], need[bad[i]]
        }
        printf "tests: %d passed, %d failed, %d skipped\n", p - s, f, s
        if (ci == "true" && nbad > 0) exit 1
    }
' "$log" "$skips"
ci_status=$?
if [ "$status" -eq 0 ] && [ "$ci_status" -ne 0 ]; then
    status=$ci_status
fi
exit "$status"
