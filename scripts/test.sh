#!/usr/bin/env bash
# Builds weir and runs every test: the unit tests under ASan+UBSan first, then the whole suite
# (unit + privileged) on the normal build. Run as root on Debian 12; installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
jobs=$(nproc)

# Unit tests under AddressSanitizer + UndefinedBehaviorSanitizer.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DWEIR_SANITIZE=ON -DWEIR_WERROR=ON >/dev/null
cmake --build build-asan -j"$jobs"
ctest --test-dir build-asan -L unit -j"$jobs" --output-on-failure

# Everything, on the build that ships.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEIR_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
if [[ $(id -u) -ne 0 ]]; then
  echo "note: not root, so the privileged tests will skip" >&2
fi
ctest --test-dir build -j"$jobs" --output-on-failure
