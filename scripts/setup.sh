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
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq >/dev/null && \
         apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }; then
    echo "setup: apt-get could not install ${need[*]}; veth, peer and profile parts will skip or fall back" >&2
  fi
else
  echo "setup: not root, not installing ${need[*]} (peer comparisons, veth and perf profile tests will skip)" >&2
fi
