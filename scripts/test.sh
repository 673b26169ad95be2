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

# The front ends cross-built for aarch64 and run under qemu (77: no cross compiler here).
rc=0
./scripts/cross-front.sh build-cross-aarch64 || rc=$?
if ((rc == 77)); then
  echo "note: the aarch64 front ends were not cross-built (see above)" >&2
elif ((rc != 0)); then
  exit "$rc"
fi

# Everything, on the build that ships.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEIR_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
if [[ $(id -u) -ne 0 ]]; then
  echo "note: not root, so the privileged tests will skip" >&2
fi
ctest --test-dir build -j"$jobs" --output-on-failure
