#!/usr/bin/env bash
# The include graph between weir's folders, and the check that no folder includes one above it.
#
# Layers, lowest first: a folder may include its own files and those of lower layers; folders of
# one layer (listed on one line) include each other neither. tests/ and bench/ may include
# anything; nothing includes them. This list is the layer order, written once (CMakeLists.txt
# adds the folders in this order).
#
#   scripts/layers.sh [ROOT]    prints "from -> to (includes)" per edge, then any violation;
#                               exit 1 if there is one. ROOT defaults to the repository.
set -euo pipefail

LAYERS=(
  "lib/net"
  "lib/cni"
  "lib/netns lib/etcd"
  "lib/store"
  "lib/netlink"
  "lib/firewall"
  "agent/proto"
  "agent/client"
  "dns"
  "ipam"
  "plugins/common"
  "plugins/bridge plugins/host plugins/macvlan plugins/none plugins/front"
  "agent"
  "tools/weirctl"
  "multicall"
)

root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"

# "<folder> <rank>" per line, for awk.
table=$(for i in "${!LAYERS[@]}"; do for f in ${LAYERS[$i]}; do echo "$f $i"; done; done)

# Every product source (not tests, bench, build folders), with the includes it quotes.
mapfile -t files < <(find lib agent dns ipam plugins tools multicall -type f \( -name '*.cpp' -o -name '*.hpp' \) | sort)
grep -H -o '^#include "[^"]*"' "${files[@]}" | sed 's/:#include "/ /; s/"$//' |
  awk -v table="$table" '
    BEGIN {
      n = split(table, rows, "\n")
      for (i = 1; i <= n; i++) { split(rows[i], f, " "); rank[f[1]] = f[2] }
    }
    # The deepest listed folder holding path ("agent/proto/x.hpp" is agent/proto, "agent/x.hpp" agent).
    function folder(path,    parts, k, d, best) {
      k = split(path, parts, "/")
      best = ""
      d = ""
      for (i2 = 1; i2 < k; i2++) {
        d = (d == "" ? parts[i2] : d "/" parts[i2])
        if (d in rank) best = d
      }
      return best
    }
    {
      from = folder($1); to = folder($2)
      if (from == "") { print "unlisted folder of " $1 > "/dev/stderr"; bad++; next }
      if (to == "") {
        if ($2 ~ /^(tests|bench)\//) { bad_edge[from " -> " $2] = $1 }
        next  # a header of a library (<...> style spelled "..."), not ours
      }
      if (from == to) next
      edges[from " -> " to]++
      if (rank[to] > rank[from]) bad_edge[from " -> " to] = $1 " includes " $2 " (upward)"
      else if (rank[to] == rank[from]) bad_edge[from " -> " to] = $1 " includes " $2 " (same layer)"
    }
    END {
      for (e in edges) printf "%-40s %d\n", e, edges[e] | "sort"
      close("sort")
      for (e in bad_edge) { print "layer violation: " e ": " bad_edge[e] > "/dev/stderr"; bad++ }
      if (bad) exit 1
      print "layers: ok (" length(edges) " edges between folders, none upward)"
    }'
