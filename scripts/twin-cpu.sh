#!/usr/bin/env bash
# Issue 23's benchmark: every udprx path (default statistics) beside its bare C twin
# (peers/c/udp_bare.c), CPU of the receiving thread per datagram, interleaved, on the issue's two
# set-ups (two namespaces joined by veth, receiver pinned to core 1, sender to core 0):
#   rps  veth + RPS (the receive softirq on the receiver's core), classic flood paced at RATE
#   gso  veth without RPS, a GSO sender paced at RATE (the receive calls decide)
# Each round runs every receiver once, in a rotating order, for SECS seconds of flood; a pair's
# ratio is udprx / twin in the same round, summarised as a geometric mean with a 95% t interval
# over the rounds. CPU is the thread's user + system time (udprx: the receive thread's; twin: the
# process's, one thread) over the datagrams it received, as the issue's table measured it.
#   sudo bash scripts/twin-cpu.sh rps|gso [RATE] [SECS] [ROUNDS]    (defaults 150000|200000 4 5)
# TWIN_PAIRS="udprx-path:twin-mode ..." chooses the pairs (default: every path and its twin); a
# path written PATH+min runs udprx with `--stats minimal` (counting only: what udprx's loop costs
# without the per-datagram statistics), e.g. TWIN_PAIRS="recvfrom:recvfrom recvfrom+min:recvfrom".
# Needs root, target/test-release/{udprx,udpflood} and target/peers/udp_bare (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
setup=${1:-}
case "$setup" in
  rps) RATE=${2:-150000}; GSO= ; RPS=--rps-cpus ;;
  gso) RATE=${2:-200000}; GSO=--gso; RPS= ;;
  *) echo "twin-cpu.sh: error: set-up must be rps or gso" >&2; exit 2 ;;
esac
SECS=${3:-4}
ROUNDS=${4:-5}
[[ "$RATE" =~ ^[0-9]+$ && "$SECS" =~ ^[0-9]+$ && "$ROUNDS" =~ ^[0-9]+$ ]] ||
  { echo "twin-cpu.sh: error: RATE, SECS and ROUNDS are whole numbers" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "twin-cpu.sh: error: needs root (namespaces)" >&2; exit 1; }
BIN=target/test-release
BARE=${CARGO_TARGET_DIR:-target}/peers/udp_bare
for b in "$BIN/udprx" "$BIN/udpflood" "$BARE"; do
  [ -x "$b" ] || { echo "twin-cpu.sh: error: $b missing (cargo build --profile test-release; scripts/setup.sh)" >&2; exit 1; }
done
P=utw$$
OUT=$(mktemp -d /tmp/twin-cpu-XXXXXX)
if [ -n "$RPS" ]; then
  bash scripts/netns.sh up --name "$P" --rps-cpus 1 >/dev/null
else
  bash scripts/netns.sh up --name "$P" >/dev/null
fi
trap 'bash scripts/netns.sh down --name "$P" >/dev/null' EXIT
# udprx method : udp_bare mode
PAIRS=${TWIN_PAIRS:-"recvfrom:recvfrom recvmmsg:recvmmsg uring:uring-recvmsg uring-recv:uring"}
for p in $PAIRS; do
  [[ "$p" =~ ^[a-z-]+(\+min)?:[a-z-]+$ ]] ||
    { echo "twin-cpu.sh: error: TWIN_PAIRS entry '$p' is not PATH[+min]:TWIN" >&2; exit 2; }
done
port=9900
one() { # kind name round -> appends "kind name round ns_per_dgram datagrams" to results
  local kind=$1 name=$2 round=$3
  port=$((port + 1))
  local log="$OUT/$kind-$name-$round"
  if [ "$kind" = udprx ]; then
    local stats=full
    [[ "$name" == *+min ]] && stats=minimal
    ip netns exec "$P-rx" timeout $((SECS + 20)) "$BIN/udprx" --bind 198.18.0.2:$port \
      --method "${name%+min}" --stats "$stats" --cpus 1 --duration $((SECS + 2))s --interval 0 --json "$log.json" \
      > "$log.txt" 2>&1 &
  else
    ip netns exec "$P-rx" timeout $((SECS + 20)) "$BARE" "$name" 198.18.0.2 $port --cpu 1 \
      --secs $((SECS + 2)) > "$log.txt" 2>&1 &
  fi
  local rx=$!
  sleep 0.5
  ip netns exec "$P-tx" timeout $((SECS + 10)) "$BIN/udpflood" 198.18.0.2:$port $GSO \
    --rate "$RATE" --duration "${SECS}s" --cpus 0 -i 0 > "$log.flood" 2>&1 || true
  wait "$rx" || true
  python3 - "$kind" "$name" "$round" "$log" >> "$OUT/results" <<'EOF'
import json, re, sys
kind, name, rnd, log = sys.argv[1:]
if kind == "udprx":
    r = json.load(open(log + ".json"))
    t = r["threads"][0]
    cpu, n = t["cpu_user_ns"] + t["cpu_sys_ns"], r["totals"]["datagrams"]
else:
    line = open(log + ".txt").read()
    f = dict(re.findall(r"(\w+)=(\d+)", line))
    cpu, n = int(f["user_ns"]) + int(f["sys_ns"]), int(f["datagrams"])
print(kind, name, rnd, cpu / max(n, 1), n)
EOF
}
for round in $(seq 1 "$ROUNDS"); do
  list=()
  for p in $PAIRS; do
    list+=("udprx ${p%%:*}")
    # A twin shared by two pairs runs once per round.
    [[ " ${list[*]} " == *" bare ${p##*:} "* ]] || list+=("bare ${p##*:}")
  done
  # Rotate the order every round so no receiver always runs first or last.
  k=$(( (round - 1) % ${#list[@]} ))
  for i in $(seq 0 $(( ${#list[@]} - 1 ))); do
    item=${list[$(( (i + k) % ${#list[@]} ))]}
    one ${item% *} ${item#* } "$round"
  done
done
python3 - "$OUT/results" "$PAIRS" "$setup" "$RATE" <<'EOF'
import math, statistics as st, sys
rows = [l.split() for l in open(sys.argv[1])]
pairs = [p.split(":") for p in sys.argv[2].split()]
T = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26}
val = {(k, n, int(r)): float(c) for k, n, r, c, _ in rows}
cnt = {(k, n, int(r)): int(d) for k, n, r, _, d in rows}
print(f"set-up {sys.argv[3]}, {sys.argv[4]} pps offered; CPU ns per datagram of the receiving thread")
print(f"{'udprx path':12s} {'twin':14s} {'udprx med':>9s} {'twin med':>9s}  udprx/twin [95%]      rounds  received (udprx, twin, min)")
for u, b in pairs:
    rounds = sorted(r for (k, n, r) in val if k == "udprx" and n == u and ("bare", b, r) in val)
    if not rounds:
        continue
    logs = [math.log(val[("udprx", u, r)] / val[("bare", b, r)]) for r in rounds]
    m = st.mean(logs)
    if len(logs) > 1:
        h = T.get(len(logs) - 1, 2.0) * st.stdev(logs) / math.sqrt(len(logs))
        ci = f"[{math.exp(m - h):.3f}, {math.exp(m + h):.3f}]"
    else:
        ci = "[one round]"
    um = st.median(val[("udprx", u, r)] for r in rounds)
    bm = st.median(val[("bare", b, r)] for r in rounds)
    ru = min(cnt[("udprx", u, r)] for r in rounds)
    rb = min(cnt[("bare", b, r)] for r in rounds)
    print(f"{u:12s} {'c-' + b:14s} {um:9.0f} {bm:9.0f}  {math.exp(m):.3f} {ci:18s} {len(rounds):>4d}  {ru}, {rb}")
EOF
echo "raw: $OUT/results"
