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
# without the per-datagram statistics), e.g. TWIN_PAIRS="recvfrom:recvfrom recvfrom+min:recvfrom";
# a left side written c-MODE is another udp_bare mode, e.g. "c-recvfrom-stamp:recvfrom" prices
# the one clock read per datagram that a latency histogram needs.
# TWIN_BASE=DIR names a second udprx build (e.g. the one before a change); a path written
# PATH@base (or PATH+min@base) runs that build, so two builds are compared in the same rounds
# beside the same twin, e.g. TWIN_BASE=target/base TWIN_PAIRS="recvmmsg:recvmmsg recvmmsg@base:recvmmsg".
# CPU also counts the whole receive core's busy time (cpuidle residency of core 1) over the
# flood, per datagram: what the receive side cost, whichever thread or interrupt spent it.
# Measures the shipped build (`cargo build --release`: thin LTO, one codegen unit); TWIN_BIN=DIR
# points at another (e.g. target/test-release, which inlines less across codegen units).
# Needs root, $TWIN_BIN/{udprx,udpflood} and target/peers/udp_bare (scripts/setup.sh).
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
BIN=${TWIN_BIN:-${CARGO_TARGET_DIR:-target}/release}
BARE=${CARGO_TARGET_DIR:-target}/peers/udp_bare
for b in "$BIN/udprx" "$BIN/udpflood" "$BARE"; do
  [ -x "$b" ] || { echo "twin-cpu.sh: error: $b missing (cargo build --release -p udprx-cli; scripts/setup.sh)" >&2; exit 1; }
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
BASE=${TWIN_BASE:-}
for p in $PAIRS; do
  [[ "$p" =~ ^[a-z-]+(\+min)?(@base)?:[a-z-]+$ && "$p" != c-*+min*:* && "$p" != c-*@base:* ]] ||
    { echo "twin-cpu.sh: error: TWIN_PAIRS entry '$p' is not PATH[+min][@base]:TWIN or c-MODE:TWIN" >&2; exit 2; }
  if [[ "$p" == *@base:* ]]; then
    [ -n "$BASE" ] && [ -x "$BASE/udprx" ] ||
      { echo "twin-cpu.sh: error: '$p' needs TWIN_BASE=DIR holding another udprx build" >&2; exit 2; }
  fi
done
port=9900
# TWIN_PERF=1: also `perf record -e cpu-clock` core 1 over each flood (a sample every
# PERF_PERIOD ns) and split the receiving thread's CPU time into user space and kernel by the
# share of its samples: the program's own code beside the system calls it makes (the issue's
# item 3). "own" = (user - twin's user) / twin's CPU, per round: the program's cost over the
# twin's as a share of the twin's, whose noise is the user-space share's rather than the whole
# receive path's (which swings +-15% between runs of the same receiver here).
PERF=${TWIN_PERF:-}
PERF_PERIOD=100000
if [ -n "$PERF" ] && ! command -v perf >/dev/null; then
  echo "twin-cpu.sh: error: TWIN_PERF=1 needs perf (scripts/setup.sh installs it)" >&2; exit 1
fi
# Core 1's busy time, precisely: wall-clock ns and the cpuidle states' total residency (us).
core_idle() {
  local t i=0 f
  t=$(date +%s%N)
  for f in /sys/devices/system/cpu/cpu1/cpuidle/state*/time; do i=$((i + $(cat "$f"))); done
  echo "$t $i"
}
one() { # kind name round -> appends "kind name round ns_per_dgram datagrams" to results
  local kind=$1 name=$2 round=$3
  port=$((port + 1))
  local log="$OUT/$kind-$name-$round"
  if [ "$kind" = udprx ]; then
    local stats=full bin=$BIN method=${name%@base}
    [[ "$name" == *@base ]] && bin=$BASE
    [[ "$method" == *+min ]] && stats=minimal
    ip netns exec "$P-rx" timeout $((SECS + 20)) "$bin/udprx" --bind 198.18.0.2:$port \
      --method "${method%+min}" --stats "$stats" --cpus 1 --duration $((SECS + 2))s --interval 0 --json "$log.json" \
      > "$log.txt" 2>&1 &
  else
    ip netns exec "$P-rx" timeout $((SECS + 20)) "$BARE" "$name" 198.18.0.2 $port --cpu 1 \
      --secs $((SECS + 2)) > "$log.txt" 2>&1 &
  fi
  local rx=$!
  sleep 0.5
  local b0 t0 b1 t1 pf=
  if [ -n "$PERF" ]; then
    perf record -q -e cpu-clock -c "$PERF_PERIOD" -C 1 -o "$log.perf" 2>/dev/null &
    pf=$!
    sleep 0.3
  fi
  read -r t0 b0 < <(core_idle)
  ip netns exec "$P-tx" timeout $((SECS + 10)) "$BIN/udpflood" 198.18.0.2:$port $GSO \
    --rate "$RATE" --duration "${SECS}s" --cpus 0 -i 0 > "$log.flood" 2>&1 || true
  read -r t1 b1 < <(core_idle)
  if [ -n "$pf" ]; then
    kill -INT "$pf"
    wait "$pf" || true
    # Samples of the receiving thread on core 1, in user space and in the kernel.
    perf report -i "$log.perf" --stdio -n --sort comm,dso 2>/dev/null |
      awk -v c="$([ "$kind" = udprx ] && echo udprx-0 || echo udp_bare)" \
        '$3 == c { if ($4 == "[kernel.kallsyms]") k += $2; else u += $2 } END { print u + 0, k + 0 }' \
      > "$log.split"
  else
    echo "nan nan" > "$log.split"
  fi
  wait "$rx" || true
  python3 - "$kind" "$name" "$round" "$log" $(( (t1 - t0) - (b1 - b0) * 1000 )) "$PERF_PERIOD" >> "$OUT/results" <<'EOF'
import json, re, sys
kind, name, rnd, log, core, period = sys.argv[1:]
if kind == "udprx":
    r = json.load(open(log + ".json"))
    t = r["threads"][0]
    cpu, n = t["cpu_user_ns"] + t["cpu_sys_ns"], r["totals"]["datagrams"]
else:
    line = open(log + ".txt").read()
    f = dict(re.findall(r"(\w+)=(\d+)", line))
    cpu, n = int(f["user_ns"]) + int(f["sys_ns"]), int(f["datagrams"])
# perf's share of user space in the thread's samples splits the thread's exact CPU time (the
# sample count itself is not a clock here: a VM's perf loses samples unevenly between runs).
u, k = (float(x) for x in open(log + ".split").read().split())
fu = u / (u + k) if u + k > 0 else float("nan")
c = cpu / max(n, 1)
print(kind, name, rnd, c, n, int(core) / max(n, 1), fu * c, (1 - fu) * c)
EOF
}
for round in $(seq 1 "$ROUNDS"); do
  list=()
  for p in $PAIRS; do
    left=${p%%:*}
    if [[ "$left" == c-* ]]; then
      [[ " ${list[*]} " == *" bare ${left#c-} "* ]] || list+=("bare ${left#c-}")
    else
      list+=("udprx $left")
    fi
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
# Student's t, two-sided 95%, by degrees of freedom (2.04 beyond 30 is within 2% of exact).
T = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26,
     10: 2.23, 11: 2.20, 12: 2.18, 13: 2.16, 14: 2.14, 15: 2.13, 16: 2.12, 17: 2.11, 18: 2.10,
     19: 2.09, 20: 2.09, 21: 2.08, 22: 2.07, 23: 2.07, 24: 2.06, 25: 2.06, 26: 2.06, 27: 2.05,
     28: 2.05, 29: 2.05, 30: 2.04}
val = {(k, n, int(r)): float(c) for k, n, r, c, *_ in rows}
cnt = {(k, n, int(r)): int(d) for k, n, r, _, d, *_ in rows}
core = {(k, n, int(r)): float(x) for k, n, r, _, _, x, *_ in rows}
user = {(k, n, int(r)): float(x[0]) for k, n, r, _, _, _, *x in rows}
kern = {(k, n, int(r)): float(x[1]) for k, n, r, _, _, _, *x in rows}
def interval(xs):
    """Mean and 95% t half-width (None with one value)."""
    m = st.mean(xs)
    if len(xs) < 2:
        return m, None
    return m, T.get(len(xs) - 1, 2.04) * st.stdev(xs) / math.sqrt(len(xs))
def left(u):
    """The left side of a pair: a udprx path, or (c-MODE) another bare mode."""
    return ("bare", u[2:]) if u.startswith("c-") else ("udprx", u)
def table(val, what):
    print(f"set-up {sys.argv[3]}, {sys.argv[4]} pps offered; {what}")
    print(f"{'udprx path':16s} {'twin':14s} {'udprx med':>9s} {'twin med':>9s}  udprx/twin [95%]      rounds  received (udprx, twin, min)")
    for u, b in pairs:
        lk, ln = left(u)
        rounds = sorted(r for (k, n, r) in val if k == lk and n == ln and ("bare", b, r) in val)
        if not rounds:
            continue
        m, h = interval([math.log(val[(lk, ln, r)] / val[("bare", b, r)]) for r in rounds])
        ci = "[one round]" if h is None else f"[{math.exp(m - h):.3f}, {math.exp(m + h):.3f}]"
        um = st.median(val[(lk, ln, r)] for r in rounds)
        bm = st.median(val[("bare", b, r)] for r in rounds)
        ru = min(cnt[(lk, ln, r)] for r in rounds)
        rb = min(cnt[("bare", b, r)] for r in rounds)
        print(f"{u:16s} {'c-' + b:14s} {um:9.0f} {bm:9.0f}  {math.exp(m):.3f} {ci:18s} {len(rounds):>4d}  {ru}, {rb}")
table(val, "CPU ns per datagram of the receiving thread (user + system)")
print()
table(core, "busy ns per datagram of the whole receive core 1 over the flood (cpuidle residency)")
if any(not math.isnan(v) for v in user.values()):
    print()
    print(f"set-up {sys.argv[3]}: the receiving thread's CPU ns per datagram split by perf samples "
          "into user space and kernel; own = (user - twin's user) / twin's CPU, per round")
    print(f"{'udprx path':16s} {'twin':14s} {'user':>6s} {'twin':>6s} {'kernel':>7s} {'twin':>6s}  "
          "kernel/twin [95%]      own share of twin [95%]")
    for u, b in pairs:
        lk, ln = left(u)
        rounds = sorted(r for (k, n, r) in user if k == lk and n == ln and ("bare", b, r) in user
                        and kern[("bare", b, r)] > 0 and kern[(lk, ln, r)] > 0)
        if len(rounds) < 2:
            continue
        def ci(xs, log=False):
            m, h = interval(xs)
            if log:
                return f"{math.exp(m):.3f} [{math.exp(m - h):.3f}, {math.exp(m + h):.3f}]"
            return f"{m:+.3f} [{m - h:+.3f}, {m + h:+.3f}]"
        kr = [math.log(kern[(lk, ln, r)] / kern[("bare", b, r)]) for r in rounds]
        own = [(user[(lk, ln, r)] - user[("bare", b, r)]) / (user[("bare", b, r)] + kern[("bare", b, r)])
               for r in rounds]
        med = lambda d, k: st.median(d[k + (r,)] for r in rounds)
        print(f"{u:16s} {'c-' + b:14s} {med(user, (lk, ln)):6.0f} {med(user, ('bare', b)):6.0f} "
              f"{med(kern, (lk, ln)):7.0f} {med(kern, ('bare', b)):6.0f}  {ci(kr, True):22s} {ci(own)}")
EOF
echo "raw: $OUT/results"
