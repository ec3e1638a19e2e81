#!/usr/bin/env bash
# Where a udprx path's time goes beside its bare C twin: `perf record -e cpu-clock` of the
# receive core (1) for 3 s of each receiver under the same paced flood, alternating
# udprx / twin / udprx / twin, then the share of the core per program and per user-space symbol.
#   sudo bash scripts/twin-perf.sh rps|gso [METHOD] [STATS]    (defaults: recvfrom minimal)
# METHOD: recvfrom or recvmmsg (their twins have the same name); STATS: full or minimal.
# Needs root, perf, $TWIN_BIN/{udprx,udpflood} (default target/release, the shipped build) and
# target/peers/udp_bare.
set -eu
cd "$(dirname "$0")/.."
case "${1:-}" in
  rps) RPS="--rps-cpus 1"; GSO=; RATE=150000 ;;
  gso) RPS=; GSO=--gso; RATE=200000 ;;
  *) echo "twin-perf.sh: error: set-up must be rps or gso" >&2; exit 2 ;;
esac
METHOD=${2:-recvfrom}
STATS=${3:-minimal}
case "$METHOD" in recvfrom|recvmmsg) ;; *) echo "twin-perf.sh: error: METHOD is recvfrom or recvmmsg" >&2; exit 2 ;; esac
case "$STATS" in full|minimal) ;; *) echo "twin-perf.sh: error: STATS is full or minimal" >&2; exit 2 ;; esac
[ "$(id -u)" -eq 0 ] || { echo "twin-perf.sh: error: needs root (namespaces, perf -C)" >&2; exit 1; }
command -v perf >/dev/null || { echo "twin-perf.sh: error: perf missing" >&2; exit 1; }
BARE=${CARGO_TARGET_DIR:-target}/peers/udp_bare
BIN=${TWIN_BIN:-${CARGO_TARGET_DIR:-target}/release}
for b in "$BIN/udprx" "$BIN/udpflood" "$BARE"; do
  [ -x "$b" ] || { echo "twin-perf.sh: error: $b missing (cargo build --release -p udprx-cli; scripts/setup.sh)" >&2; exit 1; }
done
P=utp$$
OUT=$(mktemp -d /tmp/twin-perf-XXXXXX)
# shellcheck disable=SC2086
bash scripts/netns.sh up --name "$P" $RPS >/dev/null
trap 'bash scripts/netns.sh down --name "$P" >/dev/null' EXIT
port=9700
for who in udprx bare udprx bare; do
  port=$((port + 1))
  if [ "$who" = udprx ]; then
    ip netns exec "$P-rx" timeout 20 "$BIN/udprx" --bind 198.18.0.2:$port \
      --method "$METHOD" --stats "$STATS" --cpus 1 --duration 8s --interval 0 > "$OUT/$port.log" 2>&1 &
  else
    ip netns exec "$P-rx" timeout 20 "$BARE" "$METHOD" 198.18.0.2 $port --cpu 1 --secs 8 \
      > "$OUT/$port.log" 2>&1 &
  fi
  rx=$!
  sleep 0.5
  # shellcheck disable=SC2086
  ip netns exec "$P-tx" timeout 15 "$BIN/udpflood" 198.18.0.2:$port $GSO \
    --rate $RATE --duration 6s --cpus 0 -i 0 > /dev/null 2>&1 &
  fl=$!
  sleep 1.5
  perf record -q -e cpu-clock -C 1 -o "$OUT/$port.data" -- sleep 3 2>/dev/null
  wait $fl || true
  wait $rx || true
  idle=$(perf report -i "$OUT/$port.data" --no-children --sort sym --stdio 2>/dev/null |
    awk '/pv_native_safe_halt|default_idle|mwait_idle|intel_idle/ {s += $1} END {print s + 0}')
  echo "== $who ($METHOD, $STATS stats for udprx), port $port: core 1 idle ${idle}%"
  perf report -i "$OUT/$port.data" --no-children --sort comm --stdio 2>/dev/null |
    grep -v '^#' | grep -v '^$' | grep -v swapper | head -3 || true
  perf report -i "$OUT/$port.data" --no-children --comm udprx-0,udp_bare --sort dso,sym \
    --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | grep -v kernel.kallsyms | head -8 || true
done
echo "perf data: $OUT"
