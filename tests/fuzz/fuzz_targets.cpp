#include "tests/fuzz/fuzz_targets.hpp"

#include <algorithm>
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "dns/responder.hpp"
#include "dns/wire.hpp"
#include "dns/zone.hpp"

namespace weir::dns::fuzz {

namespace {

#define FUZZ_CHECK(cond)           \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

net::IpAddr ip(const char* s) {
  return *net::IpAddr::parse(s);
}

const Zone& packet_zone() {
  static const std::shared_ptr<const Zone> zone = [] {
    std::vector<ZoneNetwork> nets{
        {.name = "frontend",
         .subnets = {*net::Cidr::parse("10.1.0.0/24"), *net::Cidr::parse("fd01::/64")},
         .listen = {ip("10.1.0.1")},
         .upstreams = {{ip("127.0.0.1"), 53}},
         .links = {7}},
        {.name = "backend",
         .domain = "backend.internal",
         .subnets = {*net::Cidr::parse("10.2.0.0/24")},
         .listen = {ip("10.2.0.1")},
         .links = {8},
         .forward = false},  // internal
    };
    std::vector<ZoneEndpoint> eps{
        {.network = "frontend",
         .container_id = "aaaaaaaaaaaa0001",
         .names = {"web"},
         .aliases = {"www", "lb"},
         .ips = {ip("10.1.0.2"), ip("fd01::2")}},
        {.network = "backend",
         .container_id = "aaaaaaaaaaaa0001",
         .names = {"web"},
         .ips = {ip("10.2.0.2")}},
        {.network = "frontend",
         .container_id = "bbbbbbbbbbbb0002",
         .names = {"a", "b"},
         .aliases = {"lb"},
         .ips = {ip("10.1.0.3")}},
        {.network = "backend",
         .container_id = "cccccccccccc0003",
         .names = {"db"},
         .ips = {ip("10.2.0.3")}},
    };
    return *build_zone(nets, eps);
  }();
  return *zone;
}

// A reply of ours must be a well-formed message within the limit, for the question asked.
void check_reply(const Outcome& o, std::span<const uint8_t> query, std::span<const uint8_t> reply) {
  FUZZ_CHECK(o.size <= o.limit || (o.rcode == Rcode::kFormErr && o.size == kHeaderSize));
  FUZZ_CHECK(o.size >= kHeaderSize);
  const auto h = parse_header(reply);
  FUZZ_CHECK(h && h->qr());
  FUZZ_CHECK(h->id == get16(query.data()));
  if (h->qdcount == 0) return;  // FORMERR: header only
  auto r = parse(reply);
  FUZZ_CHECK(r.has_value());
  auto q = parse(query);
  FUZZ_CHECK(q.has_value());
  FUZZ_CHECK(r->question.name == q->question.name);
  FUZZ_CHECK(r->question.type == q->question.type);
}

}  // namespace

int packet(const uint8_t* data, size_t size) noexcept {
  const std::span<const uint8_t> in(data, size);
  const Zone& zone = packet_zone();
  static Responder responder;
  static std::vector<uint8_t> out(kMaxMessage);

  if (auto m = parse(in)) {
    FUZZ_CHECK(m->question_end <= size);
    FUZZ_CHECK(!m->edns.present || m->edns.offset + kOptSize <= size);
    FUZZ_CHECK(m->question.name.text().size() <= kMaxNameText);
  }
  // Who asks, and whether it may get records (`member`) and recursion (`recurse`).
  struct Asker {
    Client client;
    bool member;
    bool recurse;
  };
  const Asker askers[] = {
      {{ip("10.1.0.2"), ip("10.1.0.1"), {}, 7}, true, true},  // a known endpoint on two networks
      {{ip("10.1.0.2"), ip("10.1.0.1"), {}, 0}, true, true},  // the same over TCP
      {{ip("192.168.9.9"), ip("10.2.0.1"), {}, 8}, false, false},  // an outsider
      {{ip("10.1.0.2"), ip("10.1.0.1"), {}, 3}, false, false},  // spoofed, from another link
      {{ip("10.1.0.1"), ip("10.1.0.1"), {}, 0}, false, false},  // the host, its own gateway
      {{ip("10.2.0.3"), ip("10.1.0.1"), {}, 7}, false, false},  // another network's container
      {{ip("10.2.0.3"), ip("10.2.0.1"), {}, 8}, true, false},   // on an internal network only
      {{ip("127.0.0.1"), ip("127.0.0.11"), "bbbbbbbbbbbb0002"}, true, true},
  };
  for (const auto& [c, member, recurse] : askers) {
    for (Transport t : {Transport::kUdp, Transport::kTcp}) {
      const Outcome o = responder.respond(&zone, c, t, in, out);
      if (!recurse) FUZZ_CHECK(o.action != Outcome::Action::kForward);
      if (!member) FUZZ_CHECK(o.kind == Kind::kRefuse);
      if (o.action == Outcome::Action::kReply) {
        check_reply(o, in, std::span<const uint8_t>(out.data(), o.size));
      } else if (o.action == Outcome::Action::kForward) {
        FUZZ_CHECK(!o.upstreams.empty());
        FUZZ_CHECK(parse(in).has_value());
      }
    }
  }
  // The same bytes as an upstream's answer.
  for (size_t limit : {size_t{12}, size_t{512}, size_t{1232}, kMaxMessage}) {
    const size_t n = relay_reply(in, 0xbeef, limit, out);
    FUZZ_CHECK(n <= limit || n == size);
    if (n) FUZZ_CHECK(get16(out.data()) == 0xbeef);
  }
  const size_t n = error_reply(in, Rcode::kServFail, out);
  if (n) FUZZ_CHECK(parse(std::span<const uint8_t>(out.data(), n)).has_value());
  return 0;
}

namespace {

// Pulls small values out of the fuzzer's bytes; zeros once they run out.
class Bytes {
 public:
  Bytes(const uint8_t* d, size_t n) : d_(d), n_(n) {}
  uint8_t u8() { return i_ < n_ ? d_[i_++] : 0; }
  bool flag() { return u8() & 1; }
  std::string text() {
    // Mostly valid name characters, sometimes not.
    static constexpr char kAlphabet[] = "abcXYZ019-_.. \x01\xff";
    const size_t len = u8() % 70;
    std::string s;
    for (size_t i = 0; i < len; ++i) s += kAlphabet[u8() % (sizeof(kAlphabet) - 1)];
    return s;
  }
  net::IpAddr addr() {
    if (flag()) return net::IpAddr::v4(0x0a000000u | u8() << 8 | u8());
    uint8_t b[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, u8(), u8()};
    return net::IpAddr::from_bytes(net::Family::kV6, b);
  }

 private:
  const uint8_t* d_;
  size_t n_;
  size_t i_ = 0;
};

}  // namespace

int zone(const uint8_t* data, size_t size) {
  Bytes b(data, size);
  std::vector<ZoneNetwork> nets(b.u8() % 4);
  for (auto& n : nets) {
    n.name = b.flag() ? b.text() : std::string("n") + static_cast<char>('0' + b.u8() % 4);
    if (b.flag()) n.domain = b.text();
    const net::IpAddr base = b.addr();
    n.subnets.push_back(net::Cidr(base, b.u8() % (base.bits() + 1)).network());
    n.listen.push_back(b.addr());
    if (b.flag()) n.ttl = b.u8();
    if (b.flag()) n.upstreams.push_back({b.addr(), 53});
    // Derived, not read, so that the corpus keeps its meaning: links 1 or 2, and some
    // networks internal.
    n.links = {1 + static_cast<int>(n.name.size() % 2)};
    n.forward = n.name.size() % 3 != 0;
  }
  std::vector<ZoneEndpoint> eps(b.u8() % 8);
  for (auto& e : eps) {
    e.network = nets.empty() || b.flag() ? b.text() : nets[b.u8() % nets.size()].name;
    e.container_id =
        b.flag() ? b.text() : std::string("container") + static_cast<char>('0' + b.u8() % 4);
    for (int i = b.u8() % 3; i > 0; --i) e.names.push_back(b.flag() ? b.text() : "web");
    for (int i = b.u8() % 3; i > 0; --i) e.aliases.push_back(b.flag() ? b.text() : "lb");
    for (int i = b.u8() % 3; i > 0; --i) e.ips.push_back(b.addr());
  }
  ZoneOptions options;
  options.skip_invalid_endpoints = b.flag();
  options.ttl = b.u8();
  auto built = build_zone(nets, eps, options);
  if (!built) return 0;
  const Zone& z = **built;

  Lookup l;
  std::vector<std::string> names = {"web", "lb", "example.com", ""};
  for (const auto& e : eps) {
    for (const auto& n : e.names) names.push_back(n);
    for (const auto& n : e.aliases) names.push_back(n + "." + e.network);
    for (const auto& a : e.ips) names.push_back(reverse_name(a));
  }
  std::vector<Client> clients;
  std::vector<Client> strangers;  // arrived on no network's link: never anything but REFUSED
  for (const auto& e : eps) {
    for (const auto& a : e.ips) {
      const net::IpAddr local = nets.empty() ? a : nets[0].listen[0];
      for (int link : {0, 1, 2}) clients.push_back({a, local, {}, link});
      strangers.push_back({a, local, {}, 99});
    }
  }
  clients.push_back({ip("10.0.0.1"), ip("10.0.0.2"), {}});
  const bool any_forward =
      std::any_of(nets.begin(), nets.end(), [](const ZoneNetwork& n) { return n.forward; });
  for (const auto& c : strangers) {
    for (const auto& text : names) {
      auto name = Name::from_text(text);
      if (!name) continue;
      z.lookup(c, *name, kTypeA, l);
      FUZZ_CHECK(l.kind == Kind::kRefuse && !l.recursion);
    }
  }
  for (const auto& c : clients) {
    for (const auto& text : names) {
      auto name = Name::from_text(text);
      if (!name) continue;
      for (uint16_t qtype : {kTypeA, kTypeAAAA, kTypePTR, kTypeANY}) {
        z.lookup(c, *name, qtype, l);
        FUZZ_CHECK(l.count <= kMaxAnswers);
        if (l.kind == Kind::kAnswer) {
          FUZZ_CHECK(l.count > 0);
          for (size_t i = 0; i < l.count && !l.ptr; ++i) {
            if (qtype == kTypeA) FUZZ_CHECK(l.addrs[i].is_v4());
            if (qtype == kTypeAAAA) FUZZ_CHECK(!l.addrs[i].is_v4());
          }
          for (size_t i = 0; i < l.count && l.ptr; ++i)
            FUZZ_CHECK(Name::from_text(l.names[i]).has_value());
        }
        if (l.kind == Kind::kForward) FUZZ_CHECK(l.recursion && any_forward);
      }
    }
  }
  return 0;
}

}  // namespace weir::dns::fuzz
