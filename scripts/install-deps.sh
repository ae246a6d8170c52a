#!/usr/bin/env bash
# Installs every build and test dependency of Strait from Debian 12 packages.
# Safe to run again: apt-get only installs what is missing.
set -euo pipefail

packages=(
  build-essential g++ cmake ninja-build pkg-config git
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev openssl
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libc-ares-dev libnghttp2-dev libyaml-cpp-dev libldns-dev libjwt-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  prometheus prometheus-cpp-dev iproute2 iptables tshark curl procps psmisc
  haproxy nginx-light libnginx-mod-stream gnuplot-nox linux-perf
  nghttp2-client nghttp2-server wrk
  bind9-dnsutils dnsmasq-base dnsperf nsd knot
  clang-format clang-tidy
  clang libclang-rt-14-dev
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer it up front.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
  $SUDO apt-get update -q
  # nsd and knot are baselines the benchmark starts itself: their packages must not start a
  # system service on port 53. A policy-rc.d that refuses every start, for this install only.
  added_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    added_policy=1
  fi
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  if [ -n "$added_policy" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
else
  echo "install-deps: all packages present"
fi
