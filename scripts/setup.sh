#!/usr/bin/env bash
# Installs what the tests and benchmarks need beyond the Rust toolchain (Debian packages).
# Safe to run again; without root it only reports what is missing.
set -euo pipefail
need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v iperf3 >/dev/null 2>&1 || need+=(iperf3)
command -v sockperf >/dev/null 2>&1 || need+=(sockperf)
command -v ethtool >/dev/null 2>&1 || need+=(ethtool)
# perf for `udprx --profile` / `udprx bench --profile` (Debian's linux-perf installs /usr/bin/perf;
# older releases ship a versioned perf_X.Y beside a wrapper, which udprx also finds).
command -v perf >/dev/null 2>&1 || compgen -c perf_ >/dev/null 2>&1 || need+=(linux-perf)
# A C compiler and liburing for the bare-syscall reference receivers (rows c-recvmmsg, c-uring).
command -v cc >/dev/null 2>&1 || need+=(gcc)
[ -e /usr/include/liburing.h ] || need+=(liburing-dev)
if [ ${#need[@]} -eq 0 ]; then
  :
elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq >/dev/null && \
         apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }; then
    echo "setup: apt-get could not install ${need[*]}; veth, peer and profile parts will skip or fall back" >&2
  fi
else
  echo "setup: not root, not installing ${need[*]} (peer comparisons, veth and perf profile tests will skip)" >&2
fi

# The bare C twins of the udprx paths (`udprx bench --peers`: rows c-recvfrom, c-recvmmsg,
# c-recvmmsg-gro, c-uring, c-uring-recvmsg, c-uring-gro, c-epoll),
# built into $CARGO_TARGET_DIR/peers (default target/peers), where the bench looks for them.
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${CARGO_TARGET_DIR:-$repo/target}/peers
if command -v cc >/dev/null 2>&1; then
  mkdir -p "$out"
  if [ -e /usr/include/liburing.h ] && \
     cc -O2 -Wall -DHAVE_LIBURING -o "$out/udp_bare" "$repo/peers/c/udp_bare.c" -luring 2>/dev/null; then
    :
  elif cc -O2 -Wall -o "$out/udp_bare" "$repo/peers/c/udp_bare.c"; then
    echo "setup: liburing missing: $out/udp_bare built without its uring modes (rows c-uring* will skip)" >&2
  else
    echo "setup: could not build $out/udp_bare (the c-* rows will skip)" >&2
  fi
else
  echo "setup: no C compiler: the c-* rows will skip" >&2
fi
