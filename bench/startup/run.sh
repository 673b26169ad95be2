#!/usr/bin/env bash
# Exec-to-exit time of weir's plugin processes, as a runtime starts them: a VERSION call of
# weir-none, weir-ipam-local and weir-bridge-local, posix_spawn + waitpid, COUNT times each,
# interleaved; with BASELINE, the same names from another bin folder side by side ("before").
#
#   bench/startup/run.sh [BIN_DIR=build/bin] [COUNT=500]
#   BASELINE=/path/to/old/bin bench/startup/run.sh /usr/lib/cni
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/build/bin}
count=${2:-500}
work=$(mktemp -d /tmp/weir-startup-XXXXXX)
trap 'rm -rf "$work"' EXIT

g++ -O2 -std=c++20 -o "$work/spawn-time" "$root/bench/startup/spawn_time.cpp"
echo '{"cniVersion":"1.0.0","name":"n","type":"weir-none"}' >"$work/conf.json"
args=()
for p in weir-none weir-ipam-local weir-bridge-local; do
  [[ -n ${BASELINE:-} ]] && args+=("before-$p=$BASELINE/$p")
  args+=("$p=$bin/$p")
done
# As root, at real-time priority, so that other work on a shared machine delays every exec alike.
prio=()
[[ $(id -u) == 0 ]] && command -v chrt >/dev/null && prio=(chrt -f 50)
"${prio[@]}" "$work/spawn-time" --count "$count" --conf "$work/conf.json" \
  --env CNI_COMMAND=VERSION --env CNI_PATH=/usr/lib/cni "${args[@]}"
