#!/usr/bin/env bash
# Handler vs pull, interleaved, veth + RPS (softirq on the receiver's core 1), paced udpflood on
# core 0. Bounded: each cell <= D+10 s. Namespaces removed on exit.
set -euo pipefail
W=$(cd "$(dirname "$0")/.." && pwd); T=${CARGO_TARGET_DIR:-$W/target}/release
P=pb$$; TX=$P-tx; RX=$P-rx
RATE=${RATE:-150k}; D=${D:-4}; REPS=${REPS:-5}; METHODS=${METHODS:-"recvmmsg uring"}
cleanup() { bash $W/scripts/netns.sh down --name $P >/dev/null 2>&1 || true; }
trap cleanup EXIT
bash $W/scripts/netns.sh up --name $P --rps-cpus 1 >/dev/null
for rep in $(seq $REPS); do
  for m in $METHODS; do
    for mode in handler pull; do
      timeout $((D + 10)) ip netns exec $TX $T/udpflood 198.18.0.2:9500 -b $RATE -t $((D + 2))s --cpus 0 -i 0 >/dev/null 2>&1 &
      sp=$!
      sleep 0.7
      timeout $((D + 10)) ip netns exec $RX $T/examples/pull_bench 198.18.0.2:9500 $mode $m $D 1
      wait $sp || true
    done
  done
done
