#!/usr/bin/env bash
# Soak benchmark (not a test): per receive method, udpflood floods a udprx on loopback for
# MINUTES at a paced rate; the receiver's RSS (VmRSS) and open fds (/proc/PID/fd) are sampled
# every 10 s into a CSV, and at the end the books must balance from the two JSON reports:
#   sent (udpflood packets) = received + kernel drops + lost elsewhere, where lost elsewhere may
# only be datagrams the per-CPU backlog dropped (softnet_stat; on loopback nothing else between
# sender and socket drops), no duplicates, foreign or truncated
# datagrams, RSS growth from the 10 s sample to the last within a bound, and no fd growth.
# Prints PASS/FAIL per method and exits 1 on any FAIL (2 on a usage error).
#
# usage: scripts/soak.sh MINUTES [METHOD[@PPS]...]
#   MINUTES   1..120 per method
#   METHOD    recvfrom, recvmmsg, uring, uring-recv, reuseport (recvmmsg on 2 SO_REUSEPORT
#             sockets); default: all five. @PPS gives that method its own rate (e.g.
#             recvmmsg@150000), else SOAK_RATE. On fewer than 3 cores reuseport's threads share
#             cores with the sender (noted; a soak checks books and resources, not speed); uring
#             and uring-recv are skipped when io_uring is unavailable (SKIP, not a failure).
# Environment:
#   SOAK_RATE=PPS           sender rate (default 150000: what a 2-core VM sustains with the
#                           receiver and sender on their own cores; drops are accounted anyway)
#   SOAK_RSS_GROWTH_KB=KB   allowed RSS growth after the first 10 s (default 4096)
#   SOAK_OUT=DIR            where the CSV and JSON reports go (default: a new soak-* dir in /tmp)
# Loopback only (127.0.0.1); every process is bounded in time and the script kills only the
# PIDs it started (trap on EXIT).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 1 ] || usage
case "$1" in -h|--help) usage ;; esac
minutes=$1; shift
[[ $minutes =~ ^[0-9]+$ && $minutes -ge 1 && $minutes -le 120 ]] \
  || { echo "soak.sh: error: MINUTES must be 1..120, got '$minutes'" >&2; exit 2; }
methods=("$@")
[ ${#methods[@]} -gt 0 ] || methods=(recvfrom recvmmsg uring uring-recv reuseport)
rate=${SOAK_RATE:-150000}
valid_rate() { [[ $1 =~ ^[0-9]+$ && $1 -ge 1000 && $1 -le 10000000 ]]; }
for spec in "${methods[@]}"; do
  m=${spec%%@*}
  case "$m" in recvfrom|recvmmsg|uring|uring-recv|reuseport) ;;
    *) echo "soak.sh: error: unknown method '$m' (recvfrom, recvmmsg, uring, uring-recv, reuseport)" >&2; exit 2 ;;
  esac
  if [ "$spec" != "$m" ] && ! valid_rate "${spec#*@}"; then
    echo "soak.sh: error: the rate in '$spec' must be 1000..10000000 pps" >&2; exit 2
  fi
done
rss_bound=${SOAK_RSS_GROWTH_KB:-4096}
valid_rate "$rate" \
  || { echo "soak.sh: error: SOAK_RATE must be 1000..10000000" >&2; exit 2; }
[[ $rss_bound =~ ^[0-9]+$ ]] || { echo "soak.sh: error: SOAK_RSS_GROWTH_KB must be a number" >&2; exit 2; }
for t in python3 nproc; do
  command -v "$t" >/dev/null || { echo "soak.sh: error: '$t' not found" >&2; exit 1; }
done

target=${CARGO_TARGET_DIR:-target}
cargo build --release -q --bin udpflood --bin udprx
UDPFLOOD=$(cd "$target/release" && pwd)/udpflood
UDPRX=$(cd "$target/release" && pwd)/udprx
out=${SOAK_OUT:-$(mktemp -d /tmp/soak-XXXXXX)}
mkdir -p "$out"
csv=$out/samples.csv
echo "method,elapsed_s,rss_kb,fds" > "$csv"

pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

secs=$((minutes * 60))
cores=$(nproc)
failed=0
echo "soak: $minutes min per method at $rate pps (unless METHOD@PPS) on loopback; RSS growth bound $rss_bound kB; output in $out"

# Port $1 is bound (UDP, 127.0.0.1) by someone: /proc/net/udp lists it in hex.
bound() { grep -qi ":$(printf '%04X' "$1") " /proc/net/udp 2>/dev/null; }

for spec in "${methods[@]}"; do
  m=${spec%%@*} mrate=$rate
  [ "$spec" = "$m" ] || mrate=${spec#*@}
  method=$m sockets=1
  if [ "$m" = reuseport ]; then
    if [ "$cores" -lt 3 ]; then
      # A soak checks books and resources, not speed: share cores, say so, run anyway.
      echo "note reuseport: 2 receive threads + the sender share $cores cores (books and RSS still checked)"
    fi
    method=recvmmsg sockets=2
  fi
  port=$((20000 + RANDOM % 20000))
  while bound "$port"; do port=$((20000 + RANDOM % 20000)); done
  rxjson=$out/$m-udprx.json txjson=$out/$m-udpflood.json rxlog=$out/$m-udprx.log
  # The receiver's own duration bounds it even if this script dies uncleanly.
  "$UDPRX" run --bind "127.0.0.1:$port" --method "$method" --sockets "$sockets" --rcvbuf 4M \
    --interval 0 --duration "$((secs + 60))s" --json "$rxjson" >"$rxlog" 2>&1 &
  rx=$!
  pids+=("$rx")
  for _ in $(seq 50); do bound "$port" && break; kill -0 "$rx" 2>/dev/null || break; sleep 0.1; done
  if ! kill -0 "$rx" 2>/dev/null || ! bound "$port"; then
    wait "$rx" 2>/dev/null || true
    pids=()
    if [[ $m == uring* ]] && grep -qi "io_uring" "$rxlog"; then
      echo "SKIP uring: $(grep -i -m1 io_uring "$rxlog")"
    else
      echo "FAIL $m: receiver did not start: $(tail -n1 "$rxlog")"; failed=1
    fi
    continue
  fi
  "$UDPFLOOD" "127.0.0.1:$port" -b "$mrate" -t "${secs}s" -i 0 --json >"$txjson" 2>"$out/$m-udpflood.log" &
  tx=$!
  pids+=("$tx")
  t0=$SECONDS
  next=0
  while kill -0 "$tx" 2>/dev/null; do
    el=$((SECONDS - t0))
    if [ "$el" -ge "$next" ]; then
      rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$rx/status" 2>/dev/null || echo "")
      fds=$( (ls "/proc/$rx/fd" 2>/dev/null || true) | wc -l)
      echo "$m,$el,${rss:-0},$fds" >> "$csv"
      next=$((next + 10))
    fi
    if [ "$el" -gt $((secs + 30)) ]; then
      echo "FAIL $m: the sender ran past its ${secs}s"; kill "$tx" 2>/dev/null || true; failed=1
    fi
    sleep 1
  done
  txok=0
  wait "$tx" || txok=$?
  sleep 1 # let the receiver drain its socket
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$rx/status" 2>/dev/null || echo 0)
  fds=$( (ls "/proc/$rx/fd" 2>/dev/null || true) | wc -l)
  echo "$m,$((SECONDS - t0)),${rss:-0},$fds" >> "$csv"
  kill -TERM "$rx" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$rx" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$rx" 2>/dev/null; then
    echo "FAIL $m: receiver ignored SIGTERM for 10 s"; kill -KILL "$rx" 2>/dev/null || true; failed=1
  fi
  rxok=0
  wait "$rx" || rxok=$?
  pids=() # both reaped: nothing of this method is left to kill
  if [ "$txok" -ne 0 ] || [ "$rxok" -ne 0 ]; then
    echo "FAIL $m: udpflood exit $txok, udprx exit $rxok (logs in $out)"; failed=1
    continue
  fi
  verdict=$(python3 - "$m" "$txjson" "$rxjson" "$csv" "$rss_bound" <<'PY'
import csv, json, sys
m, txp, rxp, csvp, bound = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
tx, rx = json.load(open(txp)), json.load(open(rxp))
t = rx["totals"]
sent, recv, drops = tx["packets"], t["received"], t["kernel_drops"]
elsewhere = sent - recv - drops
# Loopback delivers through the per-CPU backlog (netif_rx), which drops when it is full
# (net.core.netdev_max_backlog); /proc/net/softnet_stat counts those, host-wide, over the run.
backlog = (rx.get("softnet") or {}).get("total", {}).get("dropped", 0)
rows = [r for r in csv.DictReader(open(csvp)) if r["method"] == m]
# Baseline: the first sample after warm-up (10 s), or the first one on a very short run.
base = next((r for r in rows if int(r["elapsed_s"]) >= 10), rows[0])
last = rows[-1]
growth = int(last["rss_kb"]) - int(base["rss_kb"])
fd_growth = int(last["fds"]) - int(base["fds"])
bad = []
if elsewhere < 0 or elsewhere > backlog:
    bad.append(f"lost elsewhere {elsewhere}, more than the backlog dropped ({backlog})")
for k in ("duplicates", "foreign", "truncated"):
    if t[k]:
        bad.append(f"{k} {t[k]}")
if growth > bound:
    bad.append(f"RSS grew {growth} kB > {bound} kB")
if fd_growth > 0:
    bad.append(f"fds grew by {fd_growth}")
print(("FAIL" if bad else "PASS") + f" {m}: sent {sent} = received {recv} + kernel drops {drops}"
      f" + lost elsewhere {elsewhere} (backlog drops host-wide {backlog};"
      f" sequence gaps {t['lost']});"
      f" RSS {base['rss_kb']} -> {last['rss_kb']} kB ({growth:+d}, bound {bound});"
      f" fds {base['fds']} -> {last['fds']}; {tx['pps']:.0f} pps sent"
      + ("; " + ", ".join(bad) if bad else ""))
PY
) || { echo "FAIL $m: could not read the reports in $out"; failed=1; continue; }
  echo "$verdict"
  case "$verdict" in FAIL*) failed=1 ;; esac
done
echo "soak: samples in $csv"
exit "$failed"
