#!/usr/bin/env bash
# Installs every build and test dependency of weir from Debian 12's packages.
# Idempotent: packages already present are skipped, so a second run is quick.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config git
  libnl-3-dev libnl-route-3-dev libmnl-dev libnftnl-dev
  nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev
  libsqlite3-dev zlib1g-dev libcurl4-openssl-dev
  # tests: tools that check what the product did, and the reference plugins
  iproute2 iputils-ping nftables procps util-linux
  containernetworking-plugins
  # weir-bridge tests and e2e: traffic checks (nc), the reference bridge's ipMasq (iptables),
  # podman with runc and a busybox rootfs
  netcat-openbsd iptables podman runc busybox-static
  # e2e under containerd: its daemon and ctr (`ctr run --cni`)
  containerd
  # lib/etcd's tests: throw-away etcd members (etcd-server; its etcd.service is not used, the
  # tests pick free ports), etcdctl, and openssl for their TLS certificates
  etcd-server etcd-client openssl
  # the format check of changed lines (scripts/format-check.sh): git clang-format
  clang-format
  # embedded DNS tests and the demo: dig
  bind9-dnsutils
  # scripts/cross-front.sh: the aarch64 front ends, built and run under qemu
  g++-aarch64-linux-gnu qemu-user-static
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
