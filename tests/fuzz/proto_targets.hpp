// The fuzzed entry points of the plugin<->agent protocol (agent/proto), shared by the libFuzzer
// binaries (WEIR_FUZZ=ON, clang) and by the unit test that replays their corpus on every build
// (agent_fuzz_replay_test). Each checks invariants and traps when one breaks, so a fuzzer
// reports it as a crash. Only the public functions of json.hpp, route.hpp and frame.hpp are
// called, so that the targets outlive changes inside them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace weir::agent::proto::fuzz {

// A network config as the front end reads it, against nlohmann::json (what -local and the agent
// read it with): the same verdict but for json.hpp's documented differences, the same members
// and decoded strings, and no agent picked (kBridge, kIpam) for a data dir other than the one
// the plugin itself (lib/cni + its dataDir rules) would open.
int json(const uint8_t* data, size_t size);

// The bytes as a call or a reply, as the agent or the front end receives them (decode_head,
// decode_body, decode_reply: no read outside them, no field outside them); and as the
// material of a call and a reply, encoded and decoded back unchanged.
int frame(const uint8_t* data, size_t size);

}  // namespace weir::agent::proto::fuzz
