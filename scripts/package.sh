#!/usr/bin/env bash
# Builds the weir Debian package on a fresh Debian 12, as root, from a checkout: installs the
# build dependencies, builds Release (no tests) in build-package, and runs cpack. Prints the
# .deb's path; install it with `apt-get install ./weir_*.deb` (or dpkg -i).
#
#   scripts/package.sh [OUT_DIR=.]
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-.}")

# cpack comes with cmake, dpkg-shlibdeps (the package's Depends) with build-essential.
./scripts/install-deps.sh

cmake -S . -B build-package -DCMAKE_BUILD_TYPE=Release -DWEIR_TESTS=OFF -DWEIR_WERROR=ON >/dev/null
cmake --build build-package -j"$(nproc)"
mkdir -p "$out"
(cd build-package && cpack -G DEB -B "$out" >/dev/null)
rm -rf "$out/_CPack_Packages"
ls "$out"/weir_*.deb
