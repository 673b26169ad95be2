// Replays a fuzz target's seed corpus (tests/fuzz/corpus/<which>) without libFuzzer, then a
// bounded number of seeded mutations of it: for the unit tests (tests/unit/*_fuzz_replay_test),
// which every build runs, under ASan+UBSan too. What fails a replay: a broken invariant (the
// targets trap), a crash, a leak, and a hang (the alarm below).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

namespace weir::fuzz {

using Bytes = std::vector<uint8_t>;

inline std::vector<Bytes> corpus(const char* which) {
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
inline Bytes mutate(const Bytes& seed, const std::vector<Bytes>& all, std::mt19937& rng) {
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

// Every seed once, then `iterations` mutations. Returns the number of seeds.
inline size_t replay(const char* which, int (*target)(const uint8_t*, size_t), int iterations) {
  // A replay takes seconds at most (under ASan): one that has not ended after two minutes
  // hangs, and SIGALRM's default action ends the test process, failing the test.
  ::alarm(120);
  const auto seeds = corpus(which);
  for (const auto& s : seeds) target(s.data(), s.size());
  std::mt19937 rng(20240611);
  for (int i = 0; i < iterations && !seeds.empty(); ++i) {
    const Bytes b = mutate(seeds[static_cast<size_t>(i) % seeds.size()], seeds, rng);
    target(b.data(), b.size());
  }
  ::alarm(0);
  return seeds.size();
}

}  // namespace weir::fuzz
