#!/usr/bin/env bash
# Issue 24, the cost benchmark: receiver CPU per datagram of the same small collector on tokio's
# UdpSocket, tokio + quinn-udp, udprx's AsyncReceiver (as built by default, and with
# drops_per_interval) and udprx's threaded engine, and without source addresses tokio's
# try_recv and udprx's lean AsyncReceiver (examples/collector_cpu.rs),
# on loopback, every variant interleaved in every round (the order
# rotates by round), in two modes:
#   paced       RATE datagrams/s in bursts every BURST_US (default 1 ms); the async variants
#               also run with a WINDOW_US receive coalescing window (`+w`: udprx
#               AsyncReceiver::set_coalesce, the same tokio::time::sleep in the tokio and
#               quinn-udp loops)
#   smooth      the same at RATE in bursts every 10 us (one datagram per burst at 100k/s: the
#               arrivals a service with many clients sees; the sender spins between bursts)
#   saturation  the sender as fast as it goes (one thread)
# Prints every run, then per mode and variant the median CPU ns per datagram, datagrams per
# wake-up and per receive call, and the udprx/tokio and udprx/quinn ratios paired by round
# (geometric mean with a 95% t interval over the rounds), with the lines of application code
# of each variant (counted between the `// app:` markers of the example).
# Loopback only; every run bounded by SECONDS (+0.3 s) and a timeout.
#   bash scripts/collector-cpu.sh [RATE=100000] [SECONDS=5] [ROUNDS=5] [METHOD=auto] \
#        [WINDOW_US=1000] [BURST_US=1000] [MODES="paced smooth saturation"]
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-100000}; secs=${2:-5}; rounds=${3:-5}; method=${4:-auto}
window=${5:-1000}; burst=${6:-1000}; modes=${7:-paced smooth saturation}
ncpu=$(nproc)
rx_cpu=$((ncpu > 1 ? 1 : 0)); tx_cpu=0
cargo build --profile test-release -p udprx --features tokio --example collector_cpu --quiet
bin=target/test-release/examples/collector_cpu
src=crates/udprx/examples/collector_cpu.rs
out=$(mktemp); trap 'rm -f "$out"' EXIT
for r in $(seq "$rounds"); do
    for mode in $modes; do
        if [ "$mode" = saturation ]; then
            variants=(tokio quinn udprx-async udprx-async-interval udprx-threaded tokio-recv
                udprx-async-lean)
        else
            variants=(tokio quinn udprx-async udprx-async-interval udprx-threaded tokio-recv
                udprx-async-lean tokio+w quinn+w udprx-async+w)
        fi
        n=${#variants[@]}
        for i in $(seq 0 $((n - 1))); do
            v=${variants[$(((i + r) % n))]}
            w=0; [ "${v%+w}" != "$v" ] && w=$window
            rt=$rate; [ "$mode" = saturation ] && rt=0
            b=$burst; [ "$mode" = smooth ] && b=10
            line=$(timeout $((secs + 30)) "$bin" "${v%+w}" "$rt" "$secs" "$rx_cpu" "$tx_cpu" \
                "$method" "$w" "$b")
            printf 'mode=%s\tround=%s\tvariant=%s\t%s\n' "$mode" "$r" "$v" "$line" | tee -a "$out"
        done
    done
done
echo
echo "collector CPU per datagram: rate $rate/s in bursts every ${burst} us (paced) and 10 us"
echo "(smooth), saturation (modes: $modes);"
echo "${secs} s per run, method $method, window ${window} us for +w, $rounds rounds, $(date -u +%F)"
python3 - "$out" "$src" <<'EOF'
import math, re, statistics, sys
runs, src = sys.argv[1], sys.argv[2]
# Lines of application code per variant: non-blank, non-comment lines between the markers.
loc, active = {}, []
for line in open(src):
    s = line.strip()
    if s.startswith("// app:"):
        active = s[len("// app:"):].split()
        continue
    if s == "// end app":
        active = []
        continue
    if active and s and not s.startswith("//"):
        for a in active:
            loc[a] = loc.get(a, 0) + 1
rows = {}
for line in open(runs):
    f = dict(kv.split("=", 1) for kv in line.rstrip("\n").split("\t") if "=" in kv)
    key = (f["mode"], f["variant"])
    cpu = float(f["cpu_ns_per_datagram"])
    if math.isnan(cpu):
        continue
    rows.setdefault(key, {})[int(f["round"])] = (
        cpu, float(f["datagrams_per_wakeup"]), float(f["datagrams_per_call"]),
        int(f["received"]), int(f["sent"]))
T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26}
def ratio(a, b):
    common = sorted(set(a) & set(b))
    logs = [math.log(a[r][0] / b[r][0]) for r in common]
    if not logs:
        return "-"
    m = statistics.mean(logs)
    if len(logs) < 2:
        return f"{math.exp(m):.2f} (1 round)"
    h = T95.get(len(logs) - 1, 2.0) * statistics.stdev(logs) / math.sqrt(len(logs))
    return f"{math.exp(m):.2f} [{math.exp(m - h):.2f}, {math.exp(m + h):.2f}]"
for mode in sorted({m for m, _ in rows}):
    print(f"\n{mode}:")
    print(f"  {'variant':21} {'n':>2} {'ns/dgram':>9} {'dgram/wake':>10} {'dgram/call':>10} "
          f"{'recv/sent':>9} {'LoC':>4}  vs tokio            vs quinn-udp")
    for (m, v), by in sorted(rows.items(), key=lambda kv: kv[0][1]):
        if m != mode:
            continue
        med = lambda i: statistics.median(x[i] for x in by.values())
        rs = sum(x[3] for x in by.values()) / max(1, sum(x[4] for x in by.values()))
        base = v.split("+")[0]
        suffix = "+w" if v.endswith("+w") else ""
        # The tokio loop that gives the application the same information.
        peer = "tokio-recv" if base.endswith("-lean") else "tokio" + suffix
        vt = ratio(by, rows.get((m, peer), {})) if v.startswith("udprx") else ""
        vq = ratio(by, rows.get((m, "quinn" + suffix), {})) if v.startswith("udprx") else ""
        print(f"  {v:21} {len(by):>2} {med(0):>9.0f} {med(1):>10.1f} {med(2):>10.1f} "
              f"{rs:>9.3f} {loc.get(base, 0):>4}  {vt:20} {vq}")
print("\nLoC: application lines between the example's markers (socket set-up and receive loop;")
print("the tokio and quinn-udp variants share one socket set-up). Ratios: udprx CPU per datagram")
print("over tokio's (quinn-udp's) in the same round and mode, geometric mean [95% t interval]; vs")
print("tokio is the tokio loop giving the same information: tokio-recv (no source address) for")
print("udprx-async-lean, tokio+w (same window) for udprx-async+w, else tokio.")
EOF
