#!/usr/bin/env bash
# Issue 24: receiver CPU per datagram of the same small collector on tokio's UdpSocket, udprx's
# AsyncReceiver and udprx's threaded engine, paced on loopback, variants interleaved, ROUNDS
# rounds; prints every run and the median per variant. Loopback only, bounded in time.
#   bash scripts/collector-cpu.sh [RATE=100000] [SECONDS=5] [ROUNDS=3] [METHOD=recvmmsg]
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-100000}; secs=${2:-5}; rounds=${3:-3}; method=${4:-recvmmsg}
ncpu=$(nproc)
rx_cpu=$((ncpu > 1 ? 1 : 0)); tx_cpu=0
cargo build --profile test-release -p udprx --features tokio --example collector_cpu --quiet
bin=target/test-release/examples/collector_cpu
out=$(mktemp); trap 'rm -f "$out"' EXIT
for r in $(seq "$rounds"); do
    for v in tokio udprx-async udprx-threaded; do
        "$bin" "$v" "$rate" "$secs" "$rx_cpu" "$tx_cpu" "$method" | tee -a "$out"
    done
done
echo "medians (receiver CPU ns per datagram, $rate/s, ${secs}s, method $method, $rounds rounds):"
for v in tokio udprx-async udprx-threaded; do
    grep "^$v	" "$out" | sed 's/.*cpu_ns_per_datagram=//' | sort -n |
        awk -v v="$v" '{a[NR]=$1} END {printf "  %-15s %s\n", v, a[int((NR+1)/2)]}'
done
