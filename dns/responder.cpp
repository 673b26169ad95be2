#include "dns/responder.hpp"

#include <cstring>

namespace weir::dns {

namespace {

// The flags a reply keeps from its query: opcode, RD, CD (RFC 1035 4.1.1, RFC 4035 3.2.2).
uint16_t echoed(uint16_t query_flags) noexcept {
  return query_flags & (kOpcodeMask | kFlagRD | kFlagCD);
}

// Header + question (+ OPT when the query had one); no records.
size_t header_only(const Message& m, std::span<const uint8_t> query, uint16_t flags, Rcode rcode,
                   std::span<uint8_t> out, size_t limit) noexcept {
  Writer w(out, limit);
  const uint16_t rc = static_cast<uint16_t>(rcode);
  if (!w.put_header({m.header.id, static_cast<uint16_t>(flags | (rc & 0xf)), 1, 0, 0, 0})) return 0;
  if (!w.put_bytes(query.subspan(kHeaderSize, m.question_end - kHeaderSize))) return 0;
  if (m.edns.present) {
    if (!w.put_opt(kMaxUdpPayload, static_cast<uint8_t>(rc >> 4), m.edns.dnssec_ok)) return 0;
    w.set_counts(0, 0, 1);
  }
  return w.size();
}

}  // namespace

Outcome Responder::respond(const Zone* zone, const Client& client, Transport transport,
                           std::span<const uint8_t> query, std::span<uint8_t> out) noexcept {
  Outcome o;
  const auto header = parse_header(query);
  if (!header) {
    o.error = WireError::kShort;
    return o;
  }
  if (header->qr()) return o;  // a response: answering it could start a loop

  auto parsed = parse(query);
  if (!parsed) {
    // FORMERR with the bare header: the question itself may be what is broken.
    o.error = parsed.error();
    o.rcode = Rcode::kFormErr;
    Writer w(out, kMinUdpPayload);
    if (!w.put_header({header->id,
                       static_cast<uint16_t>(kFlagQR | echoed(header->flags) |
                                             static_cast<uint16_t>(Rcode::kFormErr)),
                       0, 0, 0, 0})) {
      return o;
    }
    o.action = Outcome::Action::kReply;
    o.size = w.size();
    return o;
  }
  const Message& m = *parsed;
  o.limit = transport == Transport::kTcp ? static_cast<uint16_t>(kMaxMessage) : udp_limit(m.edns);
  const size_t cap = o.limit < out.size() ? o.limit : out.size();
  const uint16_t base = kFlagQR | echoed(m.header.flags);

  auto reply_rcode = [&](Rcode rc, uint16_t extra) {
    o.rcode = rc;
    o.size = header_only(m, query, base | extra, rc, out, cap);
    o.action = o.size ? Outcome::Action::kReply : Outcome::Action::kDrop;
    return o;
  };

  if (m.header.opcode() != 0) return reply_rcode(Rcode::kNotImp, 0);
  if (m.edns.present && m.edns.version != 0)
    return reply_rcode(Rcode::kBadVers, 0);  // RFC 6891 6.1.3
  if (!zone) return reply_rcode(Rcode::kServFail, 0);
  if (m.question.klass != kClassIN && m.question.klass != kClassANY) {
    return reply_rcode(Rcode::kRefused, 0);  // CHAOS "version.bind" and friends: not served
  }

  Lookup& l = lookup_;
  zone->lookup(client, m.question.name, m.question.type, l);
  o.kind = l.kind;
  const uint16_t ra = l.recursion ? kFlagRA : 0;
  switch (l.kind) {
    case Kind::kRefuse:
      return reply_rcode(Rcode::kRefused, ra);
    case Kind::kForward:
      if (l.upstreams.empty()) return reply_rcode(Rcode::kServFail, ra);
      o.action = Outcome::Action::kForward;
      o.upstreams = l.upstreams;
      return o;
    case Kind::kNxDomain:
      return reply_rcode(Rcode::kNxDomain, kFlagAA | ra);
    case Kind::kNoData:
      return reply_rcode(Rcode::kNoError, kFlagAA | ra);
    case Kind::kAnswer:
      break;
  }

  Writer w(out, cap);
  if (!w.put_header({m.header.id, static_cast<uint16_t>(base | kFlagAA | ra), 1, 0, 0, 0}) ||
      !w.put_bytes(query.subspan(kHeaderSize, m.question_end - kHeaderSize))) {
    return o;
  }
  w.remember_name(kHeaderSize);
  if (m.edns.present) w.reserve_tail(kOptSize);
  uint16_t ancount = 0;
  for (size_t i = 0; i < l.count; ++i) {
    bool ok;
    if (l.ptr) {
      ok = w.put_ptr_rr(l.ttl, l.names[i]);
    } else {
      const net::IpAddr& ip = l.addrs[i];
      ok = w.put_address_rr(ip.is_v4() ? kTypeA : kTypeAAAA, l.ttl, ip.data(), ip.size());
    }
    if (!ok) {
      o.truncated = true;
      break;
    }
    ++ancount;
  }
  uint16_t arcount = 0;
  if (m.edns.present) {
    w.release_tail(kOptSize, cap);
    if (w.put_opt(kMaxUdpPayload, 0, m.edns.dnssec_ok)) arcount = 1;
  }
  w.set_counts(ancount, 0, arcount);
  if (o.truncated) w.set_flags(static_cast<uint16_t>(base | kFlagAA | ra | kFlagTC));
  o.action = Outcome::Action::kReply;
  o.size = w.size();
  return o;
}

size_t error_reply(std::span<const uint8_t> query, Rcode rcode, std::span<uint8_t> out) noexcept {
  auto m = parse(query);
  if (!m) return 0;
  return header_only(*m, query, kFlagQR | kFlagRA | echoed(m->header.flags), rcode, out,
                     kMinUdpPayload);
}

size_t relay_reply(std::span<const uint8_t> reply, uint16_t client_id, size_t limit,
                   std::span<uint8_t> out) noexcept {
  if (reply.size() < kHeaderSize || out.size() < kHeaderSize) return 0;
  if (reply.size() <= limit && reply.size() <= out.size()) {
    std::memcpy(out.data(), reply.data(), reply.size());
    put16(out.data(), client_id);
    return reply.size();
  }
  auto m = parse(reply);
  if (!m) return 0;
  Writer w(out, limit);
  if (!w.put_header({client_id, static_cast<uint16_t>(m->header.flags | kFlagTC), 1, 0, 0, 0}) ||
      !w.put_bytes(reply.subspan(kHeaderSize, m->question_end - kHeaderSize))) {
    return 0;
  }
  return w.size();
}

}  // namespace weir::dns
