#!/usr/bin/env bash
# Issue 22 figures: the same bench through `udpflood agent` across two namespaces
# (scripts/netns.sh with RPS to core 1; agent in <prefix>-tx with its flood pinned to core 0,
# bench in <prefix>-rx receiving on core 1) and locally on veth (+ RPS, sender core 0, receiver
# core 1): the two set-ups differ only by the control channel. XDP rows are left out of both
# (they need the bench's own veth). Needs root and the test-release binaries
# (cargo build --profile test-release --bin udprx --bin udpflood).
#   sudo bash scripts/bench-two-hosts.sh [quick|default] [aa]     (default: quick)
# With `aa`, an A/A through the agent instead: the remote bench twice (remote/ and remote2/),
# compared with each other, no veth run.
# Prints the output directory (remote/ and veth/ or remote2/ reports, *.txt terminal output,
# compare.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-quick}
mode=${2:-}
case "$mode" in
  ''|aa) ;;
  *) echo "bench-two-hosts.sh: error: the second argument may only be aa, got '$mode'" >&2; exit 2 ;;
esac
case "$size" in
  quick) SIZE=--quick ;;
  default) SIZE= ;;
  *) echo "bench-two-hosts.sh: error: size must be quick or default, got '$size'" >&2; exit 2 ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "bench-two-hosts.sh: error: needs root (namespaces)" >&2; exit 1; }
P=ubh-bench-$$
OUT=/tmp/twohost-results-$$
mkdir -p "$OUT"
echo "bench-token-$$" > "$OUT/token"
bash scripts/netns.sh up --name "$P" --rps-cpus 1 >/dev/null
AG=
cleanup() { [ -n "$AG" ] && kill "$AG" 2>/dev/null; wait 2>/dev/null; bash scripts/netns.sh down --name "$P" >/dev/null; }
trap cleanup EXIT
ip netns exec "$P-tx" target/test-release/udpflood agent --control 198.18.0.1:7411 \
  --token-file "$OUT/token" --max-rate 20M --max-duration 60s > "$OUT/agent.log" 2>&1 &
AG=$!
sleep 1
COMMON="$SIZE --methods recvfrom,recvmmsg,uring --receiver-cpus 1"
ip netns exec "$P-rx" target/test-release/udprx bench --sender 198.18.0.1:7411 \
  --token-file "$OUT/token" --sender-cpus 0 $COMMON --out "$OUT/remote" > "$OUT/remote.txt" 2>&1
if [ "$mode" = aa ]; then
  ip netns exec "$P-rx" target/test-release/udprx bench --sender 198.18.0.1:7411 \
    --token-file "$OUT/token" --sender-cpus 0 $COMMON --out "$OUT/remote2" > "$OUT/remote2.txt" 2>&1
  target/test-release/udprx compare "$OUT/remote/report.json" "$OUT/remote2/report.json" \
    > "$OUT/compare.txt" 2>&1 || true
else
  target/test-release/udprx bench --topology veth --sender-cpus 0 $COMMON --out "$OUT/veth" \
    > "$OUT/veth.txt" 2>&1
  target/test-release/udprx compare "$OUT/veth/report.json" "$OUT/remote/report.json" \
    > "$OUT/compare.txt" 2>&1 || true
fi
echo "$OUT"
