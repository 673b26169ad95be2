// Runs the DNS fuzz entry points (tests/fuzz) on every build, without libFuzzer: the seed
// corpus, then a bounded number of seeded mutations of it (tests/fuzz/replay.hpp). WEIR_FUZZ=ON
// builds the real fuzzers. What fails it: a broken invariant (the targets trap), a crash, a
// leak (the ASan build of scripts/test.sh runs it too), and a hang.
#include <gtest/gtest.h>

#include "tests/fuzz/fuzz_targets.hpp"
#include "tests/fuzz/replay.hpp"

namespace weir::dns {
namespace {

TEST(DnsFuzzReplay, Packet) {
  EXPECT_GT(weir::fuzz::replay("packet", fuzz::packet, 20000), 0u);
}

TEST(DnsFuzzReplay, ZoneUpdate) {
  EXPECT_GT(weir::fuzz::replay("zone", fuzz::zone, 3000), 0u);
}

}  // namespace
}  // namespace weir::dns
