#!/usr/bin/env bash
# scripts/layers.sh passes on the tree, and fails on a copy of it with an upward include (lib/
# including the daemon) and with one between folders of one layer (bridge including host).
set -euo pipefail
src=$1
"$src/scripts/layers.sh" "$src" >/dev/null

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weir-layers-$$-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
check_fails() {  # file, include, expected message
  rm -rf "$tmp/tree" && mkdir "$tmp/tree"
  (cd "$src" && tar cf - lib agent dns ipam plugins tools multicall scripts/layers.sh) | tar xf - -C "$tmp/tree"
  echo "#include \"$2\"" >>"$tmp/tree/$1"
  if "$tmp/tree/scripts/layers.sh" "$tmp/tree" >/dev/null 2>"$tmp/err"; then
    echo "layers.sh passed with $1 including $2" >&2
    exit 1
  fi
  grep -q "$3" "$tmp/err" || { echo "unexpected message:" >&2; cat "$tmp/err" >&2; exit 1; }
}
check_fails lib/net/addr.cpp agent/plugin_host.hpp "lib/net -> agent (upward)\|lib/net -> agent:"
check_fails plugins/bridge/config.cpp plugins/host/config.hpp "plugins/bridge -> plugins/host"
check_fails dns/zone.cpp tests/support/process.hpp "dns -> tests/support/process.hpp"
echo "layers_test: ok"
