// The responder: one query in, one decision out — a reply written into the caller's buffer,
// "forward this to these upstreams", or "drop". No sockets, no clock, no allocation: the
// server does the I/O around it, and tests and fuzzers call it directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "dns/wire.hpp"
#include "dns/zone.hpp"

namespace weir::dns {

enum class Transport : uint8_t { kUdp, kTcp };

struct Outcome {
  enum class Action : uint8_t {
    kReply,    // send out[0, size)
    kForward,  // ask `upstreams`, relay the answer (relay_reply), SERVFAIL when all fail
    kDrop,     // send nothing: not a query (a response, or shorter than a header)
  };
  Action action = Action::kDrop;
  size_t size = 0;
  Rcode rcode = Rcode::kNoError;
  Kind kind = Kind::kRefuse;                // what the zone said (for statistics)
  bool truncated = false;                   // TC set: the answer did not fit the client's limit
  std::optional<WireError> error;           // why the query was malformed (FORMERR or drop)
  uint16_t limit = kMinUdpPayload;          // the client's answer size limit on this transport
  std::span<const SocketAddr> upstreams{};  // kForward; views into the zone
};

// Holds the per-thread scratch of a lookup (a few KiB), so keep one per worker thread.
class Responder {
 public:
  // `out` must hold at least kMaxUdpPayload bytes for UDP and kMaxMessage for TCP. A null
  // zone (none set yet) answers SERVFAIL.
  Outcome respond(const Zone* zone, const Client& client, Transport transport,
                  std::span<const uint8_t> query, std::span<uint8_t> out) noexcept;

 private:
  Lookup lookup_;
};

// A reply with only the header and the question of `query` (which must parse) and `rcode`:
// SERVFAIL when forwarding failed. Returns its size, 0 when the query does not parse.
size_t error_reply(std::span<const uint8_t> query, Rcode rcode, std::span<uint8_t> out) noexcept;

// An upstream's reply made the client's: the client's id, and when bigger than `limit` cut
// to header + question with TC set (RFC 2181 9) so the client retries over TCP.
size_t relay_reply(std::span<const uint8_t> reply, uint16_t client_id, size_t limit,
                   std::span<uint8_t> out) noexcept;

}  // namespace weir::dns
