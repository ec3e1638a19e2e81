#!/usr/bin/env bash
# Two network namespaces joined by a veth pair, for floods that leave loopback:
#   ns <prefix>-tx: veth-tx 198.18.0.1/30   <->   ns <prefix>-rx: veth-rx 198.18.0.2/30
# Optional RPS on veth-rx moves the receive softirq to the receiver's core.
#
# usage: scripts/netns.sh up|down|status [--name PREFIX] [--rps] [--rps-cpus LIST]
#   --name PREFIX   namespace prefix (default: udpflood); use a unique one per run, e.g. uf-$$
#   --rps           enable RPS on veth-rx (default CPU list: 1)
#   --rps-cpus LIST CPUs for RPS, e.g. 1 or 1,3 (implies --rps)
# Idempotent: `up` on an existing pair only re-applies addresses and RPS; `down` on a missing
# pair does nothing. Needs root.
set -euo pipefail

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "netns.sh: error: $*" >&2; exit "${2:-1}"; }

cmd=${1:-}
[ -n "$cmd" ] || usage
shift
prefix=udpflood
rps_cpus=
while [ $# -gt 0 ]; do
  case "$1" in
    --name) [ $# -ge 2 ] || usage; prefix=$2; shift 2 ;;
    --rps) rps_cpus=${rps_cpus:-1}; shift ;;
    --rps-cpus) [ $# -ge 2 ] || usage; rps_cpus=$2; shift 2 ;;
    -h|--help) usage ;;
    *) die "unknown argument '$1'" 2 ;;
  esac
done
case "$prefix" in
  *[!A-Za-z0-9_.-]*|'') die "bad --name '$prefix' (letters, digits, _ . - only)" 2 ;;
esac
TX=$prefix-tx
RX=$prefix-rx
TX_IP=198.18.0.1
RX_IP=198.18.0.2

need_root() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (creates network namespaces and a veth pair)"
  command -v ip >/dev/null || die "iproute2 ('ip') is not installed (scripts/setup.sh installs it)"
}

ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$1"; }

# CPU list "1,3" or "0-2" -> hex mask for rps_cpus.
cpus_to_mask() {
  local mask=0 part a b c
  IFS=',' read -ra parts <<<"$1"
  for part in "${parts[@]}"; do
    if [[ $part =~ ^([0-9]+)-([0-9]+)$ ]]; then a=${BASH_REMATCH[1]}; b=${BASH_REMATCH[2]}
    elif [[ $part =~ ^[0-9]+$ ]]; then a=$part; b=$part
    else die "bad CPU list '$1'" 2; fi
    for ((c = a; c <= b; c++)); do
      [ "$c" -lt 63 ] || die "CPU $c out of range" 2
      mask=$((mask | (1 << c)))
    done
  done
  printf '%x' "$mask"
}

up() {
  need_root
  ns_exists "$TX" || ip netns add "$TX"
  ns_exists "$RX" || ip netns add "$RX"
  if ! ip -n "$TX" link show veth-tx >/dev/null 2>&1; then
    # A half-made pair (veth-rx without its peer) would block creation: remove it first.
    ip -n "$RX" link del veth-rx 2>/dev/null || true
    ip link add veth-tx netns "$TX" type veth peer name veth-rx netns "$RX"
  fi
  ip -n "$TX" addr replace "$TX_IP/30" dev veth-tx
  ip -n "$RX" addr replace "$RX_IP/30" dev veth-rx
  ip -n "$TX" link set lo up
  ip -n "$RX" link set lo up
  ip -n "$TX" link set veth-tx up
  ip -n "$RX" link set veth-rx up
  local mask=0
  [ -z "$rps_cpus" ] || mask=$(cpus_to_mask "$rps_cpus")
  ip netns exec "$RX" sh -c "echo $mask > /sys/class/net/veth-rx/queues/rx-0/rps_cpus"
  echo "netns.sh: up: $TX (veth-tx $TX_IP) <-> $RX (veth-rx $RX_IP), rps_cpus=$mask"
}

down() {
  need_root
  local any=0
  if ns_exists "$TX"; then ip netns del "$TX"; any=1; fi
  if ns_exists "$RX"; then ip netns del "$RX"; any=1; fi
  [ "$any" -eq 0 ] || echo "netns.sh: down: removed $TX, $RX"
}

status() {
  need_root
  local ns
  for ns in "$TX" "$RX"; do
    if ns_exists "$ns"; then
      echo "== $ns"
      ip -n "$ns" -br addr show | grep -v '^lo ' || true
      if [ "$ns" = "$RX" ]; then
        echo "rps_cpus: $(ip netns exec "$RX" cat /sys/class/net/veth-rx/queues/rx-0/rps_cpus 2>/dev/null || echo '?')"
      fi
    else
      echo "== $ns: absent"
    fi
  done
  ns_exists "$TX" && ns_exists "$RX"
}

case "$cmd" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) usage ;;
esac
