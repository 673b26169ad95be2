#!/usr/bin/env bash
# weir-ipam against the reference host-local (Debian's containernetworking-plugins): ADD+DEL
# latency with 0, 1,000, 10,000 and 60,000 existing leases in one /16, printed side by side.
# Builds weir (Release) in build-bench-ipam unless WEIR_BUILD points at a build folder (without
# -Werror: GCC 12 at -O3 reports a false -Wrestrict in lib/cni, as bench/bridge notes).
#
#   bench/ipam/run.sh [weir-ipam-bench options: --runs 50 --slow-runs 10 --sizes 0,1000,…]
#   BASELINE_BIN=/path/to/old/build/bin bench/ipam/run.sh   # adds a "base" group: that build's
#                                                         # weir-ipam, measured like weir's
#   bench/ipam/run.sh --etcd /usr/bin/etcd --sizes 0,1000,10000   # adds an "etcd" group: weir-ipam
#                                 # on an etcd store (a member the bench starts and stops itself)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
[[ -x /usr/lib/cni/host-local ]] ||
  { echo "run.sh: /usr/lib/cni/host-local missing (apt-get install containernetworking-plugins)" >&2; exit 1; }

build=${WEIR_BUILD:-}
if [[ -z $build ]]; then
  build=$root/build-bench-ipam
  echo "building weir-ipam (Release) in $build ..." >&2
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DWEIR_TESTS=OFF -DWEIR_WERROR=OFF >/dev/null
  # weir-cluster: what weir-ipam-local hands an etcd network's call to (--etcd).
  cmake --build "$build" -j"$(nproc)" --target weir-ipam weir weir-cluster weir-ipam-bench >/dev/null
fi
base=()
if [[ -n ${BASELINE_BIN:-} ]]; then
  [[ -x $BASELINE_BIN/weir-ipam ]] || { echo "run.sh: $BASELINE_BIN/weir-ipam missing" >&2; exit 1; }
  base=(--base "$BASELINE_BIN/weir-ipam")
fi
# On a shared machine other work delays every exec; as root, run the benchmark (and so both
# plugins, which inherit it) at real-time priority. RT_PRIO= disables it.
prio=()
if [[ $(id -u) == 0 && -n ${RT_PRIO-50} ]] && command -v chrt >/dev/null; then
  prio=(chrt -f "${RT_PRIO-50}")
fi
exec "${prio[@]}" "$build/bench/weir-ipam-bench" --weir "$build/bin/weir-ipam" "${base[@]}" "$@"
