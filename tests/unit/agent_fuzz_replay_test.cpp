// Runs the plugin<->agent protocol's fuzz entry points (tests/fuzz/proto_targets.hpp) on every
// build, without libFuzzer: each seed of their corpus, then seeded mutations of them.
// WEIR_FUZZ=ON builds the real fuzzers (tests/fuzz/CMakeLists.txt).
#include <gtest/gtest.h>

#include "tests/fuzz/proto_targets.hpp"
#include "tests/fuzz/replay.hpp"

namespace weir::agent::proto {
namespace {

// The front end's JSON reader against nlohmann::json, and its choice of agent against the
// plugins' own data dir.
TEST(AgentFuzzReplay, JsonReader) {
  EXPECT_GT(weir::fuzz::replay("json", fuzz::json, 10000), 10u);
}

// decode_head, decode_body and decode_reply on any bytes; encode_call and encode_done read back.
TEST(AgentFuzzReplay, Frame) {
  EXPECT_GT(weir::fuzz::replay("frame", fuzz::frame, 10000), 5u);
}

}  // namespace
}  // namespace weir::agent::proto
