#!/usr/bin/env bash
# Issue 22 part B figures: the same tiny bench through `udpflood agent` across two namespaces
# (scripts/netns.sh; agent in <prefix>-tx, bench in <prefix>-rx) and locally on veth without RPS.
# Needs root and the test-release binaries (cargo build --profile test-release -p udprx-cli).
# Prints the output directory (remote/ and veth/ reports, *.txt terminal output).
set -euo pipefail
cd "$(dirname "$0")/.."
P=ubh-bench-$$
OUT=/tmp/twohost-results-$$
mkdir -p $OUT
echo "bench-token" > $OUT/token
bash scripts/netns.sh up --name $P >/dev/null
cleanup() { [ -n "${AG:-}" ] && kill $AG 2>/dev/null; wait 2>/dev/null; bash scripts/netns.sh down --name $P >/dev/null; }
trap cleanup EXIT
ip netns exec $P-tx target/test-release/udpflood agent --control 198.18.0.1:7411 --token-file $OUT/token --max-rate 2M --max-duration 30s > $OUT/agent.log 2>&1 &
AG=$!
sleep 1
COMMON="--quick --methods recvmmsg --fanout one --scenarios classic --secs 500ms --budget 20s"
ip netns exec $P-rx target/test-release/udprx bench --sender 198.18.0.1:7411 --token-file $OUT/token $COMMON --out $OUT/remote > $OUT/remote.txt 2>&1
target/test-release/udprx bench --topology veth --no-rps $COMMON --out $OUT/veth > $OUT/veth.txt 2>&1
echo $OUT
