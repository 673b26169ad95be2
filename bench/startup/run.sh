#!/usr/bin/env bash
# Exec-to-exit time of weir's plugin processes, as a runtime starts them: a VERSION call of
# weir-none, weir-ipam-local and weir-bridge-local, then (as root) an ADD of weir-none in a
# namespace of its own; posix_spawn + waitpid, COUNT times each, interleaved (and weir-cluster's
# VERSION as weir-none, when built); with BASELINE_BIN (or BASELINE), the same names from another
# bin folder side by side ("before-…"), in the same rounds.
#
#   bench/startup/run.sh [BIN_DIR=build/bin] [COUNT=500]
#   BASELINE_BIN=/path/to/old/bin bench/startup/run.sh /usr/lib/cni
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(realpath "${1:-$root/build/bin}")
count=${2:-500}
baseline=${BASELINE_BIN:-${BASELINE:-}}
work=$(mktemp -d /tmp/weir-startup-XXXXXX)
netns=
cleanup() {
  [[ -n $netns ]] && ip netns del "$netns" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

g++ -O2 -std=c++20 -o "$work/spawn-time" "$root/bench/startup/spawn_time.cpp"
echo '{"cniVersion":"1.0.0","name":"n","type":"weir-none"}' >"$work/conf.json"
# As root, at real-time priority, so that other work on a shared machine delays every exec alike.
prio=()
[[ $(id -u) == 0 ]] && command -v chrt >/dev/null && prio=(chrt -f 50)

args=()
for p in weir-none weir-ipam-local weir-bridge-local; do
  [[ -n $baseline ]] && args+=("before-$p=$baseline/$p")
  args+=("$p=$bin/$p")
done
# weir-cluster (the dynamic build with the etcd store) when built: what each call on an etcd
# network adds, run as weir-none through a link of that name (its main picks the program by it).
if [[ -x $bin/weir-cluster ]]; then
  mkdir "$work/cluster"
  ln -s "$bin/weir-cluster" "$work/cluster/weir-none"
  args+=("weir-cluster:weir-none=$work/cluster/weir-none")
fi
echo "CNI_COMMAND=VERSION"
"${prio[@]}" "$work/spawn-time" --count "$count" --conf "$work/conf.json" \
  --env CNI_COMMAND=VERSION --env CNI_PATH=/usr/lib/cni "${args[@]}"

# An ADD does the plugin's work: weir-none sets lo up in the container's netns (already up after
# the first call) and reports it. A namespace of our own, removed on exit.
if [[ $(id -u) != 0 ]]; then
  echo "(not root: no ADD of weir-none)"
  exit 0
fi
netns=weirt-startup-$$
ip netns add "$netns"
args=()
[[ -n $baseline ]] && args+=("before-weir-none=$baseline/weir-none")
args+=("weir-none=$bin/weir-none")
echo
echo "CNI_COMMAND=ADD"
"${prio[@]}" "$work/spawn-time" --count "$count" --conf "$work/conf.json" \
  --env CNI_COMMAND=ADD --env CNI_PATH=/usr/lib/cni --env CNI_CONTAINERID=startup \
  --env "CNI_NETNS=/var/run/netns/$netns" --env CNI_IFNAME=eth0 "${args[@]}"
