#!/usr/bin/env bash
# Issue-2 sender benchmark over a veth pair between two namespaces (scripts/netns.sh):
# sender pinned to one core, RPS putting the receive softirq on another. Compares, in the same
# run, single-thread udpflood at 18-byte payloads against `iperf3 -u -l 18 -b 0` and
# `sockperf throughput -m 18 --mps=max`, and udpflood --gso against plain udpflood. Cells are
# interleaved (order rotated per repetition), each bounded in time; medians and ratios printed.
#
# usage: scripts/bench-flood.sh [--seconds S] [--reps N] [--sender-cpu C] [--rx-cpu C] [--no-rps]
#                               [--out FILE]
#   --seconds S     length of each cell (default 5)
#   --reps N        repetitions of the whole set (default 5)
#   --sender-cpu C  core of every sender (default 0)
#   --rx-cpu C      core of the receivers and of RPS (default 1)
#   --no-rps        leave RPS off (the receive softirq then runs on the sender's core)
#   --out FILE      also write the raw per-cell figures (TSV) there
# Sender-side rates come from each tool's own report; the tx namespace's /proc/net/snmp
# OutDatagrams and veth-tx tx_packets deltas over the cell, divided by the cell's nominal seconds,
# are shown alongside as a cross-check (they include any warm-up datagrams; a GSO buffer counts
# once in both). Needs root, iperf3, sockperf (scripts/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=5 reps=5 scpu=0 rcpu=1 rps=1 out=
usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) secs=${2:?}; shift 2 ;;
    --reps) reps=${2:?}; shift 2 ;;
    --sender-cpu) scpu=${2:?}; shift 2 ;;
    --rx-cpu) rcpu=${2:?}; shift 2 ;;
    --no-rps) rps=0; shift ;;
    --out) out=${2:?}; shift 2 ;;
    -h|--help) usage ;;
    *) echo "bench-flood.sh: error: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ $secs =~ ^[0-9]+$ && $secs -ge 1 && $secs -le 120 ]] || { echo "bench-flood.sh: error: --seconds 1..120" >&2; exit 2; }
[[ $reps =~ ^[0-9]+$ && $reps -ge 1 && $reps -le 50 ]] || { echo "bench-flood.sh: error: --reps 1..50" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "bench-flood.sh: error: must run as root (network namespaces)" >&2; exit 1; }
bash scripts/setup.sh
for t in ip iperf3 sockperf python3 taskset; do
  command -v "$t" >/dev/null || { echo "bench-flood.sh: error: '$t' not found" >&2; exit 1; }
done

target=${CARGO_TARGET_DIR:-target}
cargo build --release -q --bin udpflood --bin udprx
UDPFLOOD=$(cd "$target/release" && pwd)/udpflood
UDPRX=$(cd "$target/release" && pwd)/udprx

prefix=ufb-$$-$RANDOM
TX=$prefix-tx RX=$prefix-rx DST=198.18.0.2
work=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  bash scripts/netns.sh down --name "$prefix" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$rps" -eq 1 ]; then
  bash scripts/netns.sh up --name "$prefix" --rps-cpus "$rcpu"
else
  bash scripts/netns.sh up --name "$prefix"
fi

# Receivers, pinned to the receive core, in the rx namespace.
ip netns exec "$RX" taskset -c "$rcpu" iperf3 -s -B "$DST" -p 5201 >"$work/iperf3-s.log" 2>&1 &
pids+=($!)
ip netns exec "$RX" taskset -c "$rcpu" sockperf server -i "$DST" -p 11111 >"$work/sockperf-s.log" 2>&1 &
pids+=($!)
# udpflood's sink: another sockperf server (a plain C recvfrom loop), so datagrams meet a socket
# instead of provoking ICMP port unreachable.
ip netns exec "$RX" taskset -c "$rcpu" sockperf server -i "$DST" -p 9000 >"$work/sink-s.log" 2>&1 &
pids+=($!)
# The GSO sender's sink that keeps up: udprx with UDP_GRO takes each GSO buffer whole. Without
# GRO on the receiving socket, veth hands the GSO buffer over whole and the receiver segments it
# in softirq; the receive core then saturates and (seen here) the sender slows to a quarter, so
# the GSO-vs-plain sender ratio is measured against this sink (the plain-sink figure is printed
# too). Bounded: it stops by itself after the whole series.
rx_secs=$((reps * 5 * (secs + 4) + 60))
ip netns exec "$RX" "$UDPRX" --bind "$DST:9001" --method recvmmsg --gro --cpus "$rcpu" \
  --duration "${rx_secs}s" --interval 0 >"$work/gro-sink.log" 2>&1 &
pids+=($!)
sleep 1

# tx-namespace counters: OutDatagrams and veth-tx tx_packets, read in one process.
counters() {
  ip netns exec "$TX" sh -c \
    "awk '/^Udp: [0-9]/{print \$5}' /proc/net/snmp; cat /sys/class/net/veth-tx/statistics/tx_packets" |
    tr '\n' ' '
}

# Runs one cell; prints "tool pps snmp_pps veth_pps".
cell() {
  local tool=$1 log="$work/$1.out" c0 c1 pps
  c0=$(counters)
  case "$tool" in
    udpflood)
      timeout $((secs + 20)) ip netns exec "$TX" taskset -c "$scpu" "$UDPFLOOD" "$DST:9000" \
        -t "$secs" --cpus "$scpu" -i 0 --json >"$log" 2>"$log.err" || true
      pps=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pps"])' "$log" 2>/dev/null || echo 0) ;;
    udpflood-gso)
      timeout $((secs + 20)) ip netns exec "$TX" taskset -c "$scpu" "$UDPFLOOD" "$DST:9000" \
        -t "$secs" --cpus "$scpu" -i 0 --gso --json >"$log" 2>"$log.err" || true
      pps=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["pps"] if d["gso_active"] else 0)' "$log" 2>/dev/null || echo 0) ;;
    udpflood-gso-gro)
      timeout $((secs + 20)) ip netns exec "$TX" taskset -c "$scpu" "$UDPFLOOD" "$DST:9001" \
        -t "$secs" --cpus "$scpu" -i 0 --gso --json >"$log" 2>"$log.err" || true
      pps=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["pps"] if d["gso_active"] else 0)' "$log" 2>/dev/null || echo 0) ;;
    iperf3)
      timeout $((secs + 20)) ip netns exec "$TX" taskset -c "$scpu" iperf3 -c "$DST" -p 5201 \
        -u -l 18 -b 0 -t "$secs" -J >"$log" 2>"$log.err" || true
      pps=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["end"]["sum_sent"]; print(s["packets"]/s["seconds"])' "$log" 2>/dev/null || echo 0) ;;
    sockperf)
      timeout $((secs + 20)) ip netns exec "$TX" taskset -c "$scpu" sockperf throughput -i "$DST" \
        -p 11111 -m 18 --mps=max -t "$secs" >"$log" 2>&1 || true
      pps=$(sed -n 's/.*Message Rate is \([0-9.]*\) \[msg\/sec\].*/\1/p' "$log" | tail -1)
      pps=${pps:-0} ;;
  esac
  c1=$(counters)
  python3 - "$tool" "$pps" "$secs" "$c0" "$c1" <<'PY'
import sys
tool, pps, secs = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
c0, c1 = [list(map(int, a.split())) for a in sys.argv[4:6]]
# Counter deltas over the cell divided by the nominal sending time: the datagrams of any warm-up
# the tool does are included, so this is an upper bound next to the tool's own figure.
print(f"{tool} {pps:.0f} {(c1[0]-c0[0])/secs:.0f} {(c1[1]-c0[1])/secs:.0f}")
PY
  if [ "$pps" = 0 ]; then
    echo "bench-flood.sh: warning: $tool gave no figure; its output:" >&2
    tail -3 "$log" "$log.err" 2>/dev/null >&2 || true
  fi
}

tools=(udpflood iperf3 udpflood-gso-gro sockperf udpflood-gso)
echo "bench-flood: $reps x ${#tools[@]} cells of ${secs}s; sender cpu $scpu, rx cpu $rcpu, rps $rps; $(uname -r), $(nproc) cpus"
printf '%-17s %12s %12s %12s\n' cell tool_pps snmp_pps veth_pps
: >"$work/raw"
for ((r = 0; r < reps; r++)); do
  for ((i = 0; i < ${#tools[@]}; i++)); do
    t=${tools[$(((i + r) % ${#tools[@]}))]}
    line=$(cell "$t")
    echo "$line" >>"$work/raw"
    printf '%-17s %12s %12s %12s\n' $line
  done
done
[ -z "$out" ] || { printf 'tool\ttool_pps\tsnmp_pps\tveth_pps\n'; tr ' ' '\t' <"$work/raw"; } >"$out"

python3 - "$work/raw" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
by = {}
for tool, pps, snmp, veth in rows:
    by.setdefault(tool, []).append(float(pps))
med = {t: statistics.median(v) for t, v in by.items()}
print("\nmedian sender rate (tool's own report), min..max over repetitions:")
for t, v in by.items():
    print(f"  {t:<17} {med[t]:>12.0f} pps   ({min(v):.0f} .. {max(v):.0f})")
def ratio(a, b, target):
    if med.get(b, 0) > 0:
        r = med[a] / med[b]
        print(f"  {a} / {b} = {r:.2f}  (target >= {target}: {'met' if r >= target else 'NOT met'})")
    else:
        print(f"  {a} / {b}: no figure for {b}")
print("ratios of medians:")
ratio("udpflood", "iperf3", 1.5)
ratio("udpflood", "sockperf", 1.5)
ratio("udpflood-gso-gro", "udpflood", 10)
if med.get("udpflood", 0) > 0 and "udpflood-gso" in med:
    print(f"  (udpflood-gso into a non-GRO sink / udpflood = {med['udpflood-gso'] / med['udpflood']:.2f}: "
          "the receiver segments in softirq and the sender slows with it)")
PY
