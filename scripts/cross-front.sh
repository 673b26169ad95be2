#!/usr/bin/env bash
# Cross-builds the front ends of weir-bridge and weir-ipam (plugins/front) for aarch64, with
# weir_add_front_end (cmake/weir.cmake) as the real build uses it, in a project of those two
# alone: the rest of weir would need the target's libnl, SQLite... Then, where qemu-aarch64 runs,
# it runs the aarch64 weir-bridge for calls that need no agent and checks what it prints.
#
#   scripts/cross-front.sh [BUILD_DIR=build-cross-aarch64]
#
# CROSS_CXX: another compiler than aarch64-linux-gnu-g++.
# Exit 77 (skipped) where the cross compiler is missing (scripts/install-deps.sh installs it);
# non-zero when the cross build breaks or a call prints something else.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
arch=aarch64
cxx=${CROSS_CXX:-$arch-linux-gnu-g++}
build=$(realpath -m "${1:-$root/build-cross-$arch}")

if ! command -v "$cxx" >/dev/null; then
  echo "cross-front: skipped: no $cxx (apt-get install g++-aarch64-linux-gnu)" >&2
  exit 77
fi

# The top-level CMakeLists.txt's language settings and warnings, and the front ends.
mkdir -p "$build/project"
cat >"$build/project/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.25)
project(weir_front_cross LANGUAGES CXX)
set(CMAKE_CXX_STANDARD 23)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
add_compile_options(-Wall -Wextra -Wno-missing-field-initializers -Werror)
include("$root/cmake/weir.cmake")
weir_add_front_end(weir-bridge kBridge)
weir_add_front_end(weir-ipam kIpam)
EOF
cmake -S "$build/project" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_SYSTEM_NAME=Linux \
  -DCMAKE_SYSTEM_PROCESSOR=$arch -DCMAKE_CXX_COMPILER="$cxx" >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
bin=$build/bin
for b in weir-bridge weir-ipam; do
  info=$(readelf -h -l "$bin/$b")  # static: no INTERP (dynamic loader) program header
  [[ $info == *"Machine:"*"AArch64"* && $info != *INTERP* ]] ||
    { echo "cross-front: $bin/$b is not a static aarch64 executable:" >&2; echo "$info" >&2; exit 1; }
done
echo "cross-front: built $bin/weir-bridge and weir-ipam for $arch"

qemu=$(command -v qemu-$arch-static || command -v qemu-$arch || true)
work=$(mktemp -d /tmp/weir-cross-XXXXXX)
trap 'rm -rf "$work"' EXIT
# Whether qemu runs a static aarch64 program here at all (binfmt is not needed: it is called
# by name), so that a front end that crashes under it is not taken for a qemu that cannot run.
rc=0
if [[ -n $qemu ]] && echo 'int main() { return 7; }' | "$cxx" -static -x c++ -o "$work/probe" -; then
  "$qemu" "$work/probe" || rc=$?
fi
if [[ $rc != 7 ]]; then
  echo "cross-front: not run: no working qemu-$arch here (apt-get install qemu-user-static)" >&2
  exit 0
fi

failed=0
# check NAME EXPECTED_EXIT EXPECTED_OUTPUT ENV... < stdin: one call of the aarch64 weir-bridge.
check() {
  local name=$1 want_rc=$2 want=$3 got rc=0
  shift 3
  got=$(env -i PATH=/usr/bin:/bin "$@" "$qemu" "$bin/weir-bridge" 2>&1) || rc=$?
  if [[ $rc != "$want_rc" || $got != "$want" ]]; then
    printf 'cross-front: FAIL %s: exit %s, printed:\n%s\nwanted exit %s and:\n%s\n' \
      "$name" "$rc" "$got" "$want_rc" "$want" >&2
    failed=1
  else
    echo "cross-front: ok $name"
  fi
}
conf() { # dataDir
  printf '{"cniVersion":"1.0.0","name":"x","type":"weir-bridge","bridge":"x0","ipam":{"type":"weir-ipam","dataDir":"%s"}}' "$1"
}

# The front end's own answer: an agent.sock that is no socket (statx, its JSON, its error).
mkdir "$work/planted"
touch "$work/planted/agent.sock"
check planted-socket 1 "{\"cniVersion\":\"1.0.0\",\"code\":102,\"msg\":\"weir-bridge: weir-agent socket \\\"$work/planted/agent.sock\\\" is not a socket (a link?): not sending it the call (remove it; the data folder must be writable by root only)\"}" \
  CNI_COMMAND=ADD CNI_CONTAINERID=c1 CNI_IFNAME=eth0 <<<"$(conf "$work/planted")"

# No local binary next to it: the exec fails (readlink of /proc/self/exe, execve's errno).
check no-local 1 "{\"cniVersion\":\"1.0.0\",\"code\":5,\"msg\":\"weir-bridge: run \\\"$bin/weir-bridge-local\\\": No such file or directory\"}" \
  CNI_COMMAND=VERSION <<<"$(conf "$work/none")"

# The local binary (a stand-in) gets the call: stdin untouched for VERSION; for an ADD with no
# agent listening, the config it read, from memory (memfd) — a malformed one too.
cp "$bin/weir-bridge" "$work/weir-bridge"
bin=$work
# shellcheck disable=SC2016 # expanded by the stand-in
printf '#!/bin/sh\necho "local $CNI_COMMAND $CNI_CONTAINERID"\ncat\n' >"$work/weir-bridge-local"
chmod +x "$work/weir-bridge-local"
check version 0 "local VERSION 
$(conf "$work/none")" CNI_COMMAND=VERSION <<<"$(conf "$work/none")"
check add-no-agent 0 "local ADD c2
$(conf "$work/none")" CNI_COMMAND=ADD CNI_CONTAINERID=c2 CNI_IFNAME=eth0 <<<"$(conf "$work/none")"
check malformed 0 'local DEL c3
{"cniVersion":' CNI_COMMAND=DEL CNI_CONTAINERID=c3 CNI_IFNAME=eth0 <<<'{"cniVersion":'

((failed == 0)) || exit 1
echo "cross-front: the $arch weir-bridge ran under $(basename "$qemu") and answered as expected"
