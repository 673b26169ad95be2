#!/usr/bin/env bash
# The demo: builds weir, installs it into a temporary prefix, and runs throw-away containers
# on weir networks with weirctl, saying what it does. Leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "installing build dependencies (Debian packages)"
./scripts/install-deps.sh

say "building weir"
cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEIR_TESTS=OFF >/dev/null
cmake --build build-demo -j"$(nproc)"

prefix=$(mktemp -d /tmp/weir-demo.XXXXXX)
cleanup() { rm -rf "$prefix"; }
trap cleanup EXIT

say "installing into $prefix (plugins in $prefix/libexec/cni, configs in $prefix/net.d)"
cmake --install build-demo --prefix "$prefix" >/dev/null
mkdir -p "$prefix/net.d"
cp conf/none.conflist "$prefix/net.d/"
export CNI_PATH="$prefix/libexec/cni" NETCONFPATH="$prefix/net.d"
weirctl=("$prefix/bin/weirctl" --cache-dir "$prefix/cache")

say "network configs: $(ls "$prefix/net.d")"
cat "$prefix/net.d/none.conflist"

say "weirctl run loopback-only: a throw-away container with only its loopback"
"${weirctl[@]}" run loopback-only --name demo -- sh -c 'echo "inside the container:"; ip -brief addr; ping -c1 -W1 127.0.0.1 | tail -1'

say "done: the container's netns and cache entry are gone"
ls "$prefix/cache/results" 2>/dev/null | wc -l | xargs echo "cached attachments left:"
