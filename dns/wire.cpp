#include "dns/wire.hpp"

#include <cstring>

namespace weir::dns {

namespace {

char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

// A label byte that weir's names may contain; anything else makes the name non-plain.
bool printable(uint8_t c) noexcept {
  return c > 0x20 && c < 0x7f && c != '.';
}

}  // namespace

// Decodes names and records out of one packet. Friend of Name so it can fill it in place.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> p) noexcept : p_(p.data()), len_(p.size()) {}

  // Reads the name at pos (following compression pointers) into *out (may be null: skip).
  std::optional<WireError> name(size_t& pos, Name* out) const noexcept {
    size_t p = pos;
    bool jumped = false;
    int hops = 0;
    size_t wire_len = 1;  // the terminating root label
    if (out) *out = Name{};
    for (;;) {
      if (p >= len_) return WireError::kTruncated;
      const uint8_t b = p_[p];
      if (b == 0) {
        if (!jumped) pos = p + 1;
        return std::nullopt;
      }
      if ((b & 0xC0) == 0xC0) {
        if (p + 1 >= len_) return WireError::kTruncated;
        const size_t target = static_cast<size_t>(b & 0x3F) << 8 | p_[p + 1];
        // Only backwards, never into the header: that also rules out pointer loops save for
        // chains through earlier pointers, which the hop limit ends.
        if (target >= p || target < kHeaderSize || ++hops > 64) return WireError::kBadPointer;
        if (!jumped) pos = p + 2;
        jumped = true;
        p = target;
        continue;
      }
      if (b & 0xC0) return WireError::kBadName;  // 0x40 / 0x80 label types (RFC 6891 5)
      if (p + 1 + b > len_) return WireError::kTruncated;
      wire_len += 1 + b;
      if (wire_len > kMaxNameWire) return WireError::kBadName;
      if (out) {
        if (out->len_) out->buf_[out->len_++] = '.';
        for (size_t i = 0; i < b; ++i) {
          const uint8_t c = p_[p + 1 + i];
          if (!printable(c)) out->plain_ = false;
          out->buf_[out->len_++] = lower(static_cast<char>(c));
        }
        ++out->labels_;
      }
      p += 1 + b;
    }
  }

  bool has(size_t pos, size_t n) const noexcept { return pos <= len_ && n <= len_ - pos; }
  uint16_t u16(size_t pos) const noexcept { return get16(p_ + pos); }
  uint32_t u32(size_t pos) const noexcept {
    return static_cast<uint32_t>(u16(pos)) << 16 | u16(pos + 2);
  }

 private:
  const uint8_t* p_;
  size_t len_;
};

std::optional<Name> Name::from_text(std::string_view text) noexcept {
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  if (text.size() > kMaxNameText) return std::nullopt;
  Name n;
  if (text.empty()) return n;
  size_t label = 0;
  for (char c : text) {
    if (c == '.') {
      if (label == 0) return std::nullopt;
      label = 0;
      ++n.labels_;
    } else {
      if (!printable(static_cast<uint8_t>(c))) return std::nullopt;
      if (++label > kMaxLabel) return std::nullopt;
    }
    n.buf_[n.len_++] = lower(c);
  }
  if (label == 0) return std::nullopt;
  ++n.labels_;
  return n;
}

std::string_view describe(WireError e) noexcept {
  switch (e) {
    case WireError::kShort:
      return "shorter than a header";
    case WireError::kTruncated:
      return "truncated record";
    case WireError::kBadName:
      return "malformed name";
    case WireError::kBadPointer:
      return "bad compression pointer";
    case WireError::kQdCount:
      return "not exactly one question";
    case WireError::kBadOpt:
      return "malformed OPT record";
  }
  return "malformed";
}

std::optional<Header> parse_header(std::span<const uint8_t> packet) noexcept {
  if (packet.size() < kHeaderSize) return std::nullopt;
  const uint8_t* p = packet.data();
  return Header{get16(p), get16(p + 2), get16(p + 4), get16(p + 6), get16(p + 8), get16(p + 10)};
}

std::expected<Message, WireError> parse(std::span<const uint8_t> packet) noexcept {
  auto header = parse_header(packet);
  if (!header) return std::unexpected(WireError::kShort);
  if (packet.size() > kMaxMessage) return std::unexpected(WireError::kTruncated);
  Message m;
  m.header = *header;
  if (m.header.qdcount != 1) return std::unexpected(WireError::kQdCount);
  const Reader r(packet);
  size_t pos = kHeaderSize;
  if (auto e = r.name(pos, &m.question.name)) return std::unexpected(*e);
  if (!r.has(pos, 4)) return std::unexpected(WireError::kTruncated);
  m.question.type = r.u16(pos);
  m.question.klass = r.u16(pos + 2);
  pos += 4;
  m.question_end = static_cast<uint16_t>(pos);

  // Walk answer, authority and additional records: only to find the OPT record, which must
  // be in the additional section, owned by the root, and unique (RFC 6891 6.1.1).
  const size_t before_additional = size_t{m.header.ancount} + m.header.nscount;
  const size_t total = before_additional + m.header.arcount;
  for (size_t i = 0; i < total; ++i) {
    const size_t start = pos;
    if (auto e = r.name(pos, nullptr)) return std::unexpected(*e);
    if (!r.has(pos, 10)) return std::unexpected(WireError::kTruncated);
    const uint16_t type = r.u16(pos);
    const uint16_t klass = r.u16(pos + 2);
    const uint32_t ttl = r.u32(pos + 4);
    const uint16_t rdlen = r.u16(pos + 8);
    pos += 10;
    if (!r.has(pos, rdlen)) return std::unexpected(WireError::kTruncated);
    if (type == kTypeOPT) {
      if (i < before_additional || m.edns.present || packet[start] != 0) {
        return std::unexpected(WireError::kBadOpt);
      }
      // Options are {code, length, data}; they must tile the RDATA exactly.
      size_t o = pos;
      while (o < pos + rdlen) {
        if (o + 4 > pos + rdlen) return std::unexpected(WireError::kBadOpt);
        const uint16_t olen = r.u16(o + 2);
        if (o + 4 + olen > pos + rdlen) return std::unexpected(WireError::kBadOpt);
        o += 4 + olen;
      }
      m.edns.present = true;
      m.edns.udp_size = klass;
      m.edns.ext_rcode = static_cast<uint8_t>(ttl >> 24);
      m.edns.version = static_cast<uint8_t>(ttl >> 16);
      m.edns.dnssec_ok = ttl & 0x8000;
      m.edns.offset = static_cast<uint16_t>(start);
    }
    pos += rdlen;
  }
  return m;
}

uint16_t udp_limit(const Edns& edns) noexcept {
  if (!edns.present || edns.udp_size <= kMinUdpPayload) return kMinUdpPayload;
  return edns.udp_size < kMaxUdpPayload ? edns.udp_size : kMaxUdpPayload;
}

bool Writer::put_header(const Header& h) noexcept {
  if (room() < kHeaderSize) return false;
  uint8_t* p = buf_ + pos_;
  put16(p, h.id);
  put16(p + 2, h.flags);
  put16(p + 4, h.qdcount);
  put16(p + 6, h.ancount);
  put16(p + 8, h.nscount);
  put16(p + 10, h.arcount);
  pos_ += kHeaderSize;
  return true;
}

bool Writer::put_u16(uint16_t v) noexcept {
  if (room() < 2) return false;
  put16(buf_ + pos_, v);
  pos_ += 2;
  return true;
}

bool Writer::put_u32(uint32_t v) noexcept {
  if (room() < 4) return false;
  put16(buf_ + pos_, static_cast<uint16_t>(v >> 16));
  put16(buf_ + pos_ + 2, static_cast<uint16_t>(v));
  pos_ += 4;
  return true;
}

bool Writer::put_bytes(std::span<const uint8_t> bytes) noexcept {
  if (room() < bytes.size()) return false;
  if (!bytes.empty()) std::memcpy(buf_ + pos_, bytes.data(), bytes.size());
  pos_ += bytes.size();
  return true;
}

void Writer::remember_name(size_t offset) noexcept {
  size_t p = offset;
  while (p < pos_ && buf_[p] != 0 && (buf_[p] & 0xC0) == 0 && p < 0x4000) {
    if (ntargets_ < kMaxTargets) targets_[ntargets_++] = static_cast<uint16_t>(p);
    p += 1 + buf_[p];
  }
}

uint16_t Writer::find_suffix(std::string_view suffix) const noexcept {
  for (size_t t = 0; t < ntargets_; ++t) {
    size_t p = targets_[t];
    std::string_view rest = suffix;
    bool match = true;
    int hops = 0;
    for (;;) {
      while ((buf_[p] & 0xC0) == 0xC0 && hops++ < 64)
        p = static_cast<size_t>(buf_[p] & 0x3F) << 8 | buf_[p + 1];
      const uint8_t len = buf_[p];
      if (len == 0 || (len & 0xC0)) {
        match = rest.empty() && len == 0;
        break;
      }
      const size_t dot = rest.find('.');
      const std::string_view label = rest.substr(0, dot);
      if (label.size() != len) {
        match = false;
        break;
      }
      for (size_t i = 0; i < len; ++i) {
        if (lower(static_cast<char>(buf_[p + 1 + i])) != lower(label[i])) {
          match = false;
          break;
        }
      }
      if (!match) break;
      rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
      p += 1 + len;
    }
    if (match) return targets_[t];
  }
  return 0;
}

bool Writer::put_name(std::string_view name) noexcept {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  const Mark m = mark();
  size_t start = 0;
  while (start < name.size()) {
    const std::string_view suffix = name.substr(start);
    if (uint16_t off = find_suffix(suffix)) {
      if (!put_u16(static_cast<uint16_t>(0xC000 | off))) {
        rollback(m);
        return false;
      }
      return true;
    }
    size_t dot = suffix.find('.');
    if (dot == std::string_view::npos) dot = suffix.size();
    if (dot == 0 || dot > kMaxLabel || room() < 1 + dot) {
      rollback(m);
      return false;
    }
    if (pos_ < 0x4000 && ntargets_ < kMaxTargets)
      targets_[ntargets_++] = static_cast<uint16_t>(pos_);
    buf_[pos_++] = static_cast<uint8_t>(dot);
    std::memcpy(buf_ + pos_, suffix.data(), dot);
    pos_ += dot;
    start += dot + 1;
  }
  if (room() < 1) {
    rollback(m);
    return false;
  }
  buf_[pos_++] = 0;
  return true;
}

bool Writer::put_address_rr(uint16_t type, uint32_t ttl, const uint8_t* addr, size_t len) noexcept {
  if (room() < 12 + len) return false;
  put_u16(0xC000 | kHeaderSize);
  put_u16(type);
  put_u16(kClassIN);
  put_u32(ttl);
  put_u16(static_cast<uint16_t>(len));
  std::memcpy(buf_ + pos_, addr, len);
  pos_ += len;
  return true;
}

bool Writer::put_ptr_rr(uint32_t ttl, std::string_view target) noexcept {
  const Mark m = mark();
  if (room() < 12) return false;
  put_u16(0xC000 | kHeaderSize);
  put_u16(kTypePTR);
  put_u16(kClassIN);
  put_u32(ttl);
  const size_t rdlen_at = pos_;
  put_u16(0);
  if (!put_name(target)) {
    rollback(m);
    return false;
  }
  put16(buf_ + rdlen_at, static_cast<uint16_t>(pos_ - rdlen_at - 2));
  return true;
}

bool Writer::put_opt(uint16_t udp_size, uint8_t ext_rcode, bool dnssec_ok) noexcept {
  if (room() < kOptSize) return false;
  buf_[pos_++] = 0;  // root owner
  put_u16(kTypeOPT);
  put_u16(udp_size);
  put_u32(static_cast<uint32_t>(ext_rcode) << 24 | (dnssec_ok ? 0x8000u : 0u));
  put_u16(0);
  return true;
}

void Writer::set_counts(uint16_t an, uint16_t ns, uint16_t ar) noexcept {
  if (pos_ < kHeaderSize) return;
  put16(buf_ + 6, an);
  put16(buf_ + 8, ns);
  put16(buf_ + 10, ar);
}

void Writer::set_flags(uint16_t flags) noexcept {
  if (pos_ >= kHeaderSize) put16(buf_ + 2, flags);
}

}  // namespace weir::dns
