// Runs the fuzz entry points (tests/fuzz) on every build, without libFuzzer: the seed corpus,
// then a bounded number of seeded mutations of it. WEIR_FUZZ=ON builds the real fuzzers.
// What fails it: a broken invariant (the targets trap), a crash, a leak (the ASan build of
// scripts/test.sh runs it too), and a hang (the alarm below).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

#include "tests/fuzz/fuzz_targets.hpp"

namespace weir::dns {
namespace {

using Bytes = std::vector<uint8_t>;

std::vector<Bytes> corpus(const char* which) {
  std::vector<Bytes> out;
  const auto dir = std::filesystem::path(WEIR_SOURCE_DIR) / "tests/fuzz/corpus" / which;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream f(entry.path(), std::ios::binary);
    out.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  std::sort(out.begin(), out.end());  // directory order is not stable
  return out;
}

// libFuzzer's simplest mutations: flip, set, insert, erase, truncate, splice.
Bytes mutate(const Bytes& seed, const std::vector<Bytes>& all, std::mt19937& rng) {
  Bytes b = seed;
  const int steps = 1 + static_cast<int>(rng() % 4);
  for (int s = 0; s < steps; ++s) {
    const size_t pos = b.empty() ? 0 : rng() % b.size();
    switch (rng() % 6) {
      case 0:
        if (!b.empty()) b[pos] ^= static_cast<uint8_t>(1u << (rng() % 8));
        break;
      case 1:
        if (!b.empty()) b[pos] = static_cast<uint8_t>(rng());
        break;
      case 2:
        b.insert(b.begin() + static_cast<std::ptrdiff_t>(pos), static_cast<uint8_t>(rng()));
        break;
      case 3:
        if (!b.empty()) b.erase(b.begin() + static_cast<std::ptrdiff_t>(pos));
        break;
      case 4:
        b.resize(pos);
        break;
      case 5: {
        const Bytes& other = all[rng() % all.size()];
        if (!other.empty()) {
          const size_t from = rng() % other.size();
          b.insert(b.begin() + static_cast<std::ptrdiff_t>(pos),
                   other.begin() + static_cast<std::ptrdiff_t>(from), other.end());
        }
        break;
      }
    }
  }
  return b;
}

void replay(const char* which, int (*target)(const uint8_t*, size_t), int iterations) {
  // A replay takes well under a second (a few under ASan): one that has not ended after two
  // minutes hangs, and SIGALRM's default action ends the test process, failing the test.
  ::alarm(120);
  const auto seeds = corpus(which);
  ASSERT_FALSE(seeds.empty());
  for (const auto& s : seeds) target(s.data(), s.size());
  std::mt19937 rng(20240611);
  for (int i = 0; i < iterations; ++i) {
    const Bytes b = mutate(seeds[static_cast<size_t>(i) % seeds.size()], seeds, rng);
    target(b.data(), b.size());
  }
  ::alarm(0);
}

TEST(DnsFuzzReplay, Packet) {
  replay("packet", fuzz::packet, 20000);
}

TEST(DnsFuzzReplay, ZoneUpdate) {
  replay("zone", fuzz::zone, 3000);
}

}  // namespace
}  // namespace weir::dns
