// The fuzzed entry points, shared by the libFuzzer binaries (WEIR_FUZZ=ON, clang) and by the
// unit test that replays the corpus with bounded mutations on every build (dns_fuzz_replay).
// Each checks invariants and traps when one breaks, so a fuzzer reports it as a crash.
#pragma once

#include <cstddef>
#include <cstdint>

namespace weir::dns::fuzz {

// One datagram or TCP message from a client, and one from an upstream: parse, respond over
// UDP and TCP for a known endpoint and for an outsider, relay, error replies.
int packet(const uint8_t* data, size_t size) noexcept;

// A zone update decoded from bytes (networks, endpoints with arbitrary names and addresses):
// build, then look every name and address up as every client.
int zone(const uint8_t* data, size_t size);

}  // namespace weir::dns::fuzz
