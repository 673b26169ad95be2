#!/usr/bin/env bash
# weir-bridge + weir-ipam against the reference bridge + host-local (Debian's
# containernetworking-plugins in /usr/lib/cni), side by side in one run: ADD and DEL latency
# (median, p90) over COUNT containers, then ADD latency of the 1st vs the SCALE-th container on
# one weir bridge. Everything happens in private netns that this script makes and removes: one
# "host" netns per setup, one netns per container. Needs root.
#
#   bench/bridge/run.sh [COUNT=200] [SCALE=1000] [BURST=64]
#   WEIR_BIN=/path/to/build/bin bench/bridge/run.sh      # default: build-bench/bin, built Release
#   BASELINE_BIN=/path/to/old/build/bin bench/bridge/run.sh   # adds a "base" setup: that build's
#                                                        # weir-bridge + weir-ipam, same config
#   EXTRA_BIN="NAME=/bin/dir NAME2=/other/dir" bench/bridge/run.sh   # more such setups, named so
#                                                        # (bench/bridge/runtimes.sh uses it)
#
# See bench/bridge/README.md for what is measured and how to read it.
set -euo pipefail

count=${1:-200}
scale=${2:-1000}
burst=${3:-64}
root=$(cd "$(dirname "$0")/../.." && pwd)
ref_dir=/usr/lib/cni

[[ $(id -u) == 0 ]] || { echo "run.sh: needs root (it creates network namespaces)" >&2; exit 1; }
[[ -x $ref_dir/bridge && -x $ref_dir/host-local ]] ||
  { echo "run.sh: $ref_dir/bridge and host-local missing (apt-get install containernetworking-plugins)" >&2; exit 1; }

if [[ -z ${WEIR_BIN:-} ]]; then
  build=$root/build-bench
  echo "building weir (Release) in $build ..." >&2
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DWEIR_TESTS=OFF -DWEIR_WERROR=OFF >/dev/null
  # weir-bridge and weir-ipam are front ends: the plugins themselves are the -local binaries
  # next to them (links to the weir executable), or weir-agent, which runs ADD and DEL on a store
  # it keeps open.
  targets=(weir-bridge weir-ipam weir)
  cmake --build "$build" -j"$(nproc)" --target "${targets[@]}" >/dev/null
  WEIR_BIN=$build/bin
fi

work=$(mktemp -d /tmp/weir-bench-XXXXXX)
hosts=()
cleanup() {
  for h in "${hosts[@]}"; do ip netns del "$h" 2>/dev/null || true; done
  # Container netns of an aborted run.
  for n in $(ip netns list | awk '/^wb-[0-9]+-/{print $1}'); do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

g++ -O2 -std=c++20 -o "$work/cni-time" "$root/bench/bridge/cni_time.cpp"

# weir: conf/bridge.conflist's plugin (the default network: ipMasq, isDefaultGateway, hairpin,
# portMappings capability), store in a private folder. The reference: the same network as the
# reference plugins spell it.
weir_conf() { # name dns
  cat <<EOF
{"cniVersion":"1.0.0","name":"$1","type":"weir-bridge","bridge":"weir0","isGateway":true,
 "isDefaultGateway":true,"ipMasq":true,"hairpinMode":true,"embeddedDNS":$2,
 "capabilities":{"portMappings":true,"ips":true,"mac":true,"aliases":true},
 "ipam":{"type":"weir-ipam","ranges":[[{"subnet":"172.17.0.0/16","gateway":"172.17.0.1"}]],
         "dataDir":"$work/$1"}}
EOF
}
ref_conf() { # name ipMasq
  cat <<EOF
{"cniVersion":"1.0.0","name":"$1","type":"bridge","bridge":"cni0","isGateway":true,
 "isDefaultGateway":true,"ipMasq":$2,"hairpinMode":true,
 "ipam":{"type":"host-local","ranges":[[{"subnet":"172.17.0.0/16","gateway":"172.17.0.1"}]],
         "dataDir":"$work/$1"}}
EOF
}

setups=()
add_setup() { # name conf-text plugin cni-path
  local host=wb-host-$$-$1
  ip netns add "$host"
  hosts+=("$host")
  printf '%s\n' "$2" >"$work/$1.json"
  setups+=(--setup "$1" "/var/run/netns/$host" "$3" "$work/$1.json" "$4")
}
add_setup weir "$(weir_conf weir false)" "$WEIR_BIN/weir-bridge" "$WEIR_BIN"
if [[ -n ${BASELINE_BIN:-} ]]; then
  add_setup base "$(weir_conf base false)" "$BASELINE_BIN/weir-bridge" "$BASELINE_BIN"
fi
for extra in ${EXTRA_BIN:-}; do
  add_setup "${extra%%=*}" "$(weir_conf "${extra%%=*}" false)" "${extra#*=}/weir-bridge" "${extra#*=}"
done
if [[ -x $WEIR_BIN/weir-agent ]]; then
  add_setup weir-dns "$(weir_conf weir-dns true)" "$WEIR_BIN/weir-bridge" "$WEIR_BIN"
else
  echo "note: $WEIR_BIN/weir-agent not built: no embeddedDNS row" >&2
fi
add_setup ref "$(ref_conf ref false)" "$ref_dir/bridge" "$ref_dir"
add_setup ref-masq "$(ref_conf ref-masq true)" "$ref_dir/bridge" "$ref_dir"

echo "timing $count ADDs and DELs per setup, interleaved; then $scale containers on one weir bridge;" \
  "then $burst ADDs at once per setup ..." >&2
"$work/cni-time" --out "$work" --count "$count" --scale "$scale" --burst "$burst" "${setups[@]}"

# q FILE P: the P-th percentile (nearest rank) in milliseconds.
q() { sort -n "$1" | awk -v p="$2" '{v[NR]=$1} END{i=int((p/100)*NR+0.999999); if(i<1)i=1; printf "%.2f", v[i]/1000}'; }
nth() { sed -n "${2}p" "$1" | awk '{printf "%.2f", $1/1000}'; }
med_range() { sed -n "${2},${3}p" "$1" | sort -n | awk '{v[NR]=$1} END{printf "%.2f", v[int((NR+1)/2)]/1000}'; }

names=()
for ((i = 0; i < ${#setups[@]}; i += 6)); do names+=("${setups[i+1]}"); done
wa=$(q "$work/weir.add.txt" 50)
wd=$(q "$work/weir.del.txt" 50)
echo
echo "ADD/DEL latency over $count containers per setup ($(nproc) cores, $(uname -r)), milliseconds"
printf '%-10s %10s %10s %10s %10s %12s %12s %16s\n' setup "ADD p50" "ADD p90" "DEL p50" "DEL p90" "ADD ×weir" "DEL ×weir" "veth gone p50"
for n in "${names[@]}"; do
  a50=$(q "$work/$n.add.txt" 50); a90=$(q "$work/$n.add.txt" 90)
  d50=$(q "$work/$n.del.txt" 50); d90=$(q "$work/$n.del.txt" 90)
  printf '%-10s %10s %10s %10s %10s %12s %12s %16s\n' "$n" "$a50" "$a90" "$d50" "$d90" \
    "$(awk -v a="$a50" -v b="$wa" 'BEGIN{printf "%.1f", a/b}')" \
    "$(awk -v a="$d50" -v b="$wd" 'BEGIN{printf "%.1f", a/b}')" \
    "$(q "$work/$n.delgone.txt" 50)"
done
echo "(veth gone: DEL plus the wait for weir's background link deletes; the reference deletes in DEL)"
if [[ -s $work/weir.scale.txt ]]; then
  n=$(wc -l <"$work/weir.scale.txt")
  echo
  echo "weir ADD on one bridge, milliseconds: 1st (creates the bridge and the table) vs ${n}th"
  printf '%-28s %s\n' "1st" "$(nth "$work/weir.scale.txt" 1)"
  printf '%-28s %s\n' "median of 2nd..11th" "$(med_range "$work/weir.scale.txt" 2 11)"
  printf '%-28s %s\n' "median of last 10" "$(med_range "$work/weir.scale.txt" $((n - 9)) "$n")"
  printf '%-28s %s\n' "${n}th" "$(nth "$work/weir.scale.txt" "$n")"
fi
if [[ -s $work/weir.burst.txt ]]; then
  wb=$(awk '{printf "%.1f", $1/1000}' "$work/weir.burst.txt")
  echo
  echo "$burst ADDs at once per setup (a runtime starting many containers), milliseconds from the first"
  echo "spawn to the last reap"
  for n in "${names[@]}"; do
    b=$(awk '{printf "%.1f", $1/1000}' "$work/$n.burst.txt")
    printf '%-10s %10s %8sx weir\n' "$n" "$b" "$(awk -v a="$b" -v w="$wb" 'BEGIN{printf "%.1f", a/w}')"
  done
fi
