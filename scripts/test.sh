#!/usr/bin/env bash
# Builds weir and runs every test: the unit tests under ASan+UBSan first, then the whole suite
# (unit + privileged) on the normal build. Run as root on Debian 12; installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
jobs=$(nproc)

# Habits (issue 14): the format of the C++ lines changed since main (on main: in the last
# commit; scripts/format-check.sh says which). Checked first, failed last, so that a finding
# does not hide the tests' results.
format_rc=0
./scripts/format-check.sh || format_rc=$?

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

# Habits (issue 14): ThreadSanitizer on what runs threads: the DNS server (its tests), and
# weir-agent — DnsService syncing while dns::Server workers answer and the ReaperThread deletes
# veths — driven by the embedded DNS tests (root; they skip without it). Only those targets are
# built. Every process of this build, agents and plugins included, stops at its first race and
# writes its report to build-tsan/tsan/ (cmake/tsan_options.cpp): a race fails this step even
# where the test that caused it cannot see it.
tsan_tests=(dns_unit_test dns_server_test dns_agent_test)
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEIR_TSAN=ON -DWEIR_WERROR=ON >/dev/null
cmake --build build-tsan -j"$jobs" --target weir weir-bridge weir-ipam "${tsan_tests[@]}"
rm -rf build-tsan/tsan && mkdir build-tsan/tsan
suites=$(for t in "${tsan_tests[@]}"; do
  "$(find build-tsan/tests -type f -name "$t")" --gtest_list_tests | grep -v '^ ' | sed 's/\.$//'
done | sort -u | paste -sd'|')
# A second try for a test that fails: some hold a DNS answer to a time bound, which TSan's
# slowdown can miss on a loaded machine. A race is still found: its report stays in tsan/.
tsan_rc=0
ctest --test-dir build-tsan -R "^($suites)\." -j"$jobs" --output-on-failure \
  --repeat until-pass:2 || tsan_rc=$?
if compgen -G 'build-tsan/tsan/report.*' >/dev/null; then
  cat build-tsan/tsan/report.* >&2
  echo "ThreadSanitizer found races: build-tsan/tsan/" >&2
  exit 1
fi
((tsan_rc == 0)) || exit "$tsan_rc"

# Everything, on the build that ships.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEIR_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
if [[ $(id -u) -ne 0 ]]; then
  echo "note: not root, so the privileged tests will skip" >&2
fi
ctest --test-dir build -j"$jobs" --output-on-failure

if ((format_rc != 0)); then
  echo "format-check failed (see its output at the top); every test passed" >&2
  exit "$format_rc"
fi
