#!/usr/bin/env bash
# The front end of weir-bridge and weir-ipam (plugins/front) on each runtime that
# WEIR_FRONT_RUNTIME offers — own (its _start and system calls), nolibc (the kernel's), musl
# (static) — side by side, in one run: first front-time (the front end alone, RUNS calls of each
# kind per build, interleaved), then run.sh (ADD/DEL end to end, COUNT containers per setup).
# Every build runs with the same weir, -local binaries and weir-agent: only the front end differs.
# Needs root (network namespaces), musl-tools, and nolibc:
#
#   sudo bench/bridge/runtimes.sh [RUNS=500] [COUNT=200]      # COUNT 0: front-time only
#   NOLIBC_DIR=/path/to/linux/tools/include/nolibc sudo bench/bridge/runtimes.sh
#
# Without NOLIBC_DIR, nolibc is taken from Debian's linux-source-X.Y package (apt-get download,
# ~140 MB; only tools/include/nolibc is kept, in build-bench-nolibc/). WEIR_BIN: an existing
# Release build's bin/ for the rest (default: build-bench/, built as run.sh builds it).
set -euo pipefail

runs=${1:-500}
count=${2:-200}
root=$(cd "$(dirname "$0")/../.." && pwd)
[[ $(id -u) == 0 ]] || { echo "runtimes.sh: needs root (it creates network namespaces)" >&2; exit 1; }
[[ -f /usr/lib/$(uname -m)-linux-musl/musl-gcc.specs ]] ||
  { echo "runtimes.sh: no musl here (apt-get install musl-tools)" >&2; exit 1; }

if [[ -z ${NOLIBC_DIR:-} ]]; then
  NOLIBC_DIR=$root/build-bench-nolibc/nolibc
  if [[ ! -f $NOLIBC_DIR/nolibc.h ]]; then
    pkg=$(apt-cache search --names-only '^linux-source-[0-9.]+$' | awk '{print $1}' | sort -V | tail -1)
    [[ -n $pkg ]] || { echo "runtimes.sh: no linux-source package (apt-get update?)" >&2; exit 1; }
    echo "fetching nolibc from $pkg ..." >&2
    tmp=$(mktemp -d /tmp/weir-nolibc-XXXXXX)
    (cd "$tmp" && apt-get download -q "$pkg" >/dev/null)
    dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -xO --wildcards './usr/src/linux-source-*.tar.xz' |
      tar -xJ -C "$tmp" --wildcards '*/tools/include/nolibc'
    mkdir -p "$(dirname "$NOLIBC_DIR")"
    mv "$tmp"/linux-source-*/tools/include/nolibc "$NOLIBC_DIR"
    rm -rf "$tmp"
  fi
fi

if [[ -z ${WEIR_BIN:-} ]]; then
  echo "building weir (Release, own runtime) in build-bench/ ..." >&2
  cmake -S "$root" -B "$root/build-bench" -DCMAKE_BUILD_TYPE=Release -DWEIR_TESTS=OFF -DWEIR_WERROR=OFF \
    -DWEIR_FRONT_RUNTIME=own >/dev/null
  cmake --build "$root/build-bench" -j"$(nproc)" --target weir weir-bridge weir-ipam >/dev/null
  WEIR_BIN=$root/build-bench/bin
fi
WEIR_BIN=$(realpath "$WEIR_BIN")

work=$(mktemp -d /tmp/weir-rt-XXXXXX)
netns=wb-front-$$
cleanup() {
  # The agent of front-time's IPAM store exits when its folder goes; its pid is in agent.lock.
  local pid
  pid=$(cat "$work/ipam/agent.lock" 2>/dev/null || true)
  if [[ $pid =~ ^[0-9]+$ ]]; then kill "$pid" 2>/dev/null || true; fi
  ip netns del "$netns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# One bin folder per runtime: its own front ends, everything else the same as WEIR_BIN's.
bins=(own "$WEIR_BIN")
for rt in nolibc musl; do
  echo "building the front ends on $rt in build-bench-$rt/ ..." >&2
  cmake -S "$root" -B "$root/build-bench-$rt" -DCMAKE_BUILD_TYPE=Release -DWEIR_TESTS=OFF \
    -DWEIR_WERROR=OFF -DWEIR_FRONT_RUNTIME=$rt -DWEIR_NOLIBC_DIR="$NOLIBC_DIR" >/dev/null
  cmake --build "$root/build-bench-$rt" -j"$(nproc)" --target weir-bridge weir-ipam >/dev/null
  mkdir "$work/bin-$rt"
  for f in "$WEIR_BIN"/*; do ln -s "$(realpath "$f")" "$work/bin-$rt/$(basename "$f")"; done
  rm "$work/bin-$rt/weir-bridge" "$work/bin-$rt/weir-ipam"
  cp "$root/build-bench-$rt/bin/weir-bridge" "$root/build-bench-$rt/bin/weir-ipam" "$work/bin-$rt/"
  bins+=("$rt" "$work/bin-$rt")
done

echo
echo "front ends ($(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)):"
for ((i = 0; i < ${#bins[@]}; i += 2)); do
  printf '  %-7s weir-bridge %6s bytes\n' "${bins[i]}" "$(stat -c %s "${bins[i+1]}/weir-bridge")"
done

g++ -O2 -std=c++20 -o "$work/front-time" "$root/bench/bridge/front_time.cpp"
# planted: weir-bridge answers by itself (agent.sock is no socket: error 102) — exec to exit of
# the front end alone. version: it execs weir-bridge-local. ipam-add/-del: weir-ipam forwards
# the call to a running weir-agent.
mkdir "$work/planted" "$work/ipam"
touch "$work/planted/agent.sock"
printf '{"cniVersion":"1.0.0","name":"p","type":"weir-bridge","bridge":"x0","ipam":{"type":"weir-ipam","dataDir":"%s"}}\n' \
  "$work/planted" >"$work/planted.json"
printf '{"cniVersion":"1.0.0","name":"fe","type":"weir-ipam","ipam":{"type":"weir-ipam","ranges":[[{"subnet":"10.199.0.0/16"}]],"dataDir":"%s"}}\n' \
  "$work/ipam" >"$work/ipam.json"
ip netns add "$netns"
ipam_env=("CNI_CONTAINERID=fe-{bin}" CNI_IFNAME=eth0 "CNI_NETNS=/var/run/netns/$netns" CNI_PATH=/nonexistent)
# The first ADD runs in weir-ipam-local and starts the agent; wait until it listens.
env -i CNI_COMMAND=ADD "${ipam_env[@]/\{bin\}/warm}" "$WEIR_BIN/weir-ipam" <"$work/ipam.json" >/dev/null
for _ in $(seq 100); do [[ -S $work/ipam/agent.sock ]] && break; sleep 0.05; done
[[ -S $work/ipam/agent.sock ]] || { echo "runtimes.sh: weir-agent did not start" >&2; exit 1; }
bin_args=()
for ((i = 0; i < ${#bins[@]}; i += 2)); do bin_args+=(--bin "${bins[i]}" "${bins[i+1]}"); done
"$work/front-time" --runs "$runs" "${bin_args[@]}" \
  --step planted weir-bridge "$work/planted.json" CNI_COMMAND=ADD CNI_CONTAINERID=p CNI_IFNAME=eth0 \; \
  --step version weir-bridge "$work/planted.json" CNI_COMMAND=VERSION \; \
  --step ipam-add weir-ipam "$work/ipam.json" CNI_COMMAND=ADD "${ipam_env[@]}" \; \
  --step ipam-del weir-ipam "$work/ipam.json" CNI_COMMAND=DEL "${ipam_env[@]}" \;

((count > 0)) || exit 0
echo
echo "end to end (run.sh $count 0 0: own is the weir row):"
WEIR_BIN=$WEIR_BIN EXTRA_BIN="nolibc=$work/bin-nolibc musl=$work/bin-musl" "$root/bench/bridge/run.sh" "$count" 0 0
