// The DNS wire format (RFC 1035 section 4, EDNS(0) per RFC 6891), as much of it as a stub
// responder needs: decode a message's header, its one question and its OPT record; encode
// answers with name compression into a caller's buffer. Nothing here allocates or throws:
// this is the packet path.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string_view>

namespace weir::dns {

// Resource record types and classes we name (RFC 1035 3.2.2, RFC 3596, RFC 6891).
inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kTypeNS = 2;
inline constexpr uint16_t kTypeCNAME = 5;
inline constexpr uint16_t kTypeSOA = 6;
inline constexpr uint16_t kTypePTR = 12;
inline constexpr uint16_t kTypeMX = 15;
inline constexpr uint16_t kTypeTXT = 16;
inline constexpr uint16_t kTypeAAAA = 28;
inline constexpr uint16_t kTypeSRV = 33;
inline constexpr uint16_t kTypeOPT = 41;
inline constexpr uint16_t kTypeANY = 255;
inline constexpr uint16_t kClassIN = 1;
inline constexpr uint16_t kClassANY = 255;

// Header flag bits (RFC 1035 4.1.1, RFC 4035 for AD/CD).
inline constexpr uint16_t kFlagQR = 0x8000;
inline constexpr uint16_t kFlagAA = 0x0400;
inline constexpr uint16_t kFlagTC = 0x0200;
inline constexpr uint16_t kFlagRD = 0x0100;
inline constexpr uint16_t kFlagRA = 0x0080;
inline constexpr uint16_t kFlagAD = 0x0020;
inline constexpr uint16_t kFlagCD = 0x0010;
inline constexpr uint16_t kOpcodeMask = 0x7800;  // 4 bits at 11..14; QUERY = 0

enum class Rcode : uint16_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNxDomain = 3,
  kNotImp = 4,
  kRefused = 5,
  kBadVers = 16,  // extended (RFC 6891 9): upper 8 bits travel in the OPT TTL
};

inline constexpr size_t kHeaderSize = 12;
inline constexpr size_t kMaxNameText = 253;  // presentation form, no trailing dot
inline constexpr size_t kMaxNameWire = 255;
inline constexpr size_t kMaxLabel = 63;
// Without EDNS a UDP message is at most 512 bytes (RFC 1035 4.2.1). With EDNS we honour the
// client's size up to 1232, the DNS Flag Day 2020 value that avoids IP fragmentation.
inline constexpr uint16_t kMinUdpPayload = 512;
inline constexpr uint16_t kMaxUdpPayload = 1232;
inline constexpr size_t kMaxMessage = 65535;  // TCP: 2-byte length prefix (RFC 1035 4.2.2)
inline constexpr size_t kOptSize = 11;        // an OPT record without options

// A domain name in presentation form, lowercased (RFC 4343: comparisons are ASCII
// case-insensitive), without the trailing dot; "" is the root. Fixed storage: parsing a name
// never allocates. A name with a label that has '.' or bytes outside printable ASCII keeps
// plain() false: it can never equal one of weir's names, so it is only ever forwarded.
class Name {
 public:
  Name() = default;
  // Validates and lowercases "web.frontend" or "web.frontend."; nullopt when too long, with
  // an empty label, a label over 63 bytes, or a non-printable byte.
  static std::optional<Name> from_text(std::string_view text) noexcept;

  std::string_view text() const noexcept { return {buf_.data(), len_}; }
  size_t labels() const noexcept { return labels_; }
  bool plain() const noexcept { return plain_; }
  bool empty() const noexcept { return len_ == 0; }

  friend bool operator==(const Name& a, const Name& b) noexcept {
    return a.plain_ == b.plain_ && a.text() == b.text();
  }

 private:
  friend class Reader;
  std::array<char, kMaxNameText + 2> buf_{};
  uint8_t len_ = 0;
  uint8_t labels_ = 0;
  bool plain_ = true;
};

struct Header {
  uint16_t id = 0;
  uint16_t flags = 0;
  uint16_t qdcount = 0;
  uint16_t ancount = 0;
  uint16_t nscount = 0;
  uint16_t arcount = 0;

  bool qr() const noexcept { return flags & kFlagQR; }
  uint8_t opcode() const noexcept { return static_cast<uint8_t>((flags & kOpcodeMask) >> 11); }
  Rcode rcode() const noexcept { return static_cast<Rcode>(flags & 0x000f); }
};

struct Question {
  Name name;
  uint16_t type = 0;
  uint16_t klass = 0;
};

// The OPT pseudo-record of RFC 6891 6.1.
struct Edns {
  bool present = false;
  uint16_t udp_size = 0;  // the requestor's payload size, as sent
  uint8_t ext_rcode = 0;  // upper 8 bits of a 12-bit rcode
  uint8_t version = 0;
  bool dnssec_ok = false;  // the DO bit, echoed (RFC 3225 3)
  uint16_t offset = 0;     // where the OPT record starts in the message (for patching udp_size)
};

// A decoded message: everything of it a responder and a forwarder look at.
struct Message {
  Header header;
  Question question;
  Edns edns;
  // The question's wire bytes are [kHeaderSize, question_end): a reply copies them verbatim,
  // keeping the asker's letter case (resolvers that randomise case, "0x20", check it).
  uint16_t question_end = 0;
};

enum class WireError : uint8_t {
  kShort,       // fewer than 12 bytes: not even a header; drop
  kTruncated,   // a record or name runs past the end
  kBadName,     // label too long, name over 255 bytes, reserved label type
  kBadPointer,  // compression pointer forward, to itself, or a loop
  kQdCount,     // not exactly one question
  kBadOpt,      // OPT not at the root, or more than one
};
std::string_view describe(WireError e) noexcept;

// Decodes the header, the single question and the OPT record (if any) of a query or a reply.
std::expected<Message, WireError> parse(std::span<const uint8_t> packet) noexcept;

// Reads only the header; nullopt when the packet is shorter than 12 bytes.
std::optional<Header> parse_header(std::span<const uint8_t> packet) noexcept;

// The UDP payload limit for an answer: 512 without EDNS, the client's size clamped to
// [512, 1232] with it.
uint16_t udp_limit(const Edns& edns) noexcept;

// Big-endian helpers over raw buffers.
inline uint16_t get16(const uint8_t* p) noexcept {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
inline void put16(uint8_t* p, uint16_t v) noexcept {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// Writes a message into a caller's buffer, never past `limit` bytes. Every put returns false
// (and leaves the writer unchanged) when the item does not fit, so a caller can stop at the
// first answer that would overflow and set TC. Names are compressed (RFC 1035 4.1.4) against
// the names written before them.
class Writer {
 public:
  Writer(std::span<uint8_t> buf, size_t limit) noexcept
      : buf_(buf.data()), limit_(limit < buf.size() ? limit : buf.size()) {}

  size_t size() const noexcept { return pos_; }
  size_t limit() const noexcept { return limit_; }
  size_t room() const noexcept { return limit_ - pos_; }
  uint8_t* data() noexcept { return buf_; }

  bool put_header(const Header& h) noexcept;
  bool put_u16(uint16_t v) noexcept;
  bool put_u32(uint32_t v) noexcept;
  bool put_bytes(std::span<const uint8_t> bytes) noexcept;
  // A name in presentation form (must be valid, e.g. from Name or a validated zone name).
  bool put_name(std::string_view name) noexcept;
  // Records the labels of an (uncompressed) name already in the buffer at `offset` as
  // compression targets: used for the question copied verbatim from a query.
  void remember_name(size_t offset) noexcept;

  // A resource record whose owner is the question name (a pointer to offset 12).
  bool put_address_rr(uint16_t type, uint32_t ttl, const uint8_t* addr, size_t len) noexcept;
  bool put_ptr_rr(uint32_t ttl, std::string_view target) noexcept;
  // The OPT pseudo-record: our payload size, the extended rcode bits, DO echoed.
  bool put_opt(uint16_t udp_size, uint8_t ext_rcode, bool dnssec_ok) noexcept;

  // Shrinks the limit (to keep room for a record that must come last, like OPT).
  void reserve_tail(size_t n) noexcept { limit_ = n < limit_ ? limit_ - n : 0; }
  void release_tail(size_t n, size_t cap) noexcept { limit_ = limit_ + n < cap ? limit_ + n : cap; }

  void set_counts(uint16_t an, uint16_t ns, uint16_t ar) noexcept;
  void set_flags(uint16_t flags) noexcept;

 private:
  struct Mark {
    size_t pos;
    size_t targets;
  };
  Mark mark() const noexcept { return {pos_, ntargets_}; }
  void rollback(Mark m) noexcept {
    pos_ = m.pos;
    ntargets_ = m.targets;
  }
  // Offset of an earlier name whose labels equal `suffix` (case-insensitive), or 0.
  uint16_t find_suffix(std::string_view suffix) const noexcept;

  uint8_t* buf_;
  size_t limit_;
  size_t pos_ = 0;
  static constexpr size_t kMaxTargets = 64;
  std::array<uint16_t, kMaxTargets> targets_{};  // offsets of labels written so far
  size_t ntargets_ = 0;
};

}  // namespace weir::dns
