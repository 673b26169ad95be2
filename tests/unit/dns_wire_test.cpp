// The wire format: decoding hostile input, encoding with compression, and golden packets
// (queries captured from dig, replies computed by hand) through the responder.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "dns/responder.hpp"
#include "dns/wire.hpp"
#include "tests/unit/dns_testing.hpp"

namespace weir::dns {
namespace {

using testing::decode;
using ::testing::ElementsAre;
using testing::from_hex;
using testing::make_query;
using testing::to_hex;

std::expected<Message, WireError> parse_hex(std::string_view hex) {
  const auto bytes = from_hex(hex);
  return parse(bytes);
}

TEST(DnsName, FromTextValidatesAndLowercases) {
  auto n = Name::from_text("Web.FrontEnd.");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->text(), "web.frontend");
  EXPECT_EQ(n->labels(), 2u);
  EXPECT_TRUE(n->plain());
  EXPECT_TRUE(Name::from_text("")->empty());
  EXPECT_FALSE(Name::from_text("a..b"));
  EXPECT_FALSE(Name::from_text(".a"));
  EXPECT_FALSE(Name::from_text(std::string(64, 'a')));
  EXPECT_TRUE(Name::from_text(std::string(63, 'a')));
  std::string long_name;
  for (int i = 0; i < 64; ++i) long_name += "abc.";
  EXPECT_FALSE(Name::from_text(long_name));  // 256 bytes
}

TEST(DnsParse, ReadsHeaderQuestionAndOpt) {
  auto m = parse_hex(
      "ca31 0120 0001 0000 0000 0001 03776562 0866726f6e74656e64 00 0001 0001"
      " 00 0029 04d0 00 00 8000 000c 000a0008282b81235b131467");
  ASSERT_TRUE(m) << describe(m.error());
  EXPECT_EQ(m->header.id, 0xca31);
  EXPECT_FALSE(m->header.qr());
  EXPECT_EQ(m->question.name.text(), "web.frontend");
  EXPECT_EQ(m->question.type, kTypeA);
  EXPECT_EQ(m->question.klass, kClassIN);
  EXPECT_EQ(m->question_end, 30);
  EXPECT_TRUE(m->edns.present);
  EXPECT_EQ(m->edns.udp_size, 1232);
  EXPECT_TRUE(m->edns.dnssec_ok);
  EXPECT_EQ(m->edns.version, 0);
  EXPECT_EQ(m->edns.offset, 30);
  EXPECT_EQ(udp_limit(m->edns), 1232);
}

TEST(DnsParse, RejectsMalformed) {
  const std::string q = "1234 0100 0001 0000 0000 0000 ";
  const std::string qa = "1234 0100 0001 0000 0000 0001 03776562 00 0001 0001 ";
  struct Case {
    std::string hex;
    WireError want;
  } cases[] = {
      {"1234 0100 0001", WireError::kShort},
      {"1234 0100 0000 0000 0000 0000", WireError::kQdCount},
      {"1234 0100 0002 0000 0000 0000 00 0001 0001 00 0001 0001", WireError::kQdCount},
      {q + "03 7765", WireError::kTruncated},
      {q + "03776562 00 0001", WireError::kTruncated},
      {q + "03776562", WireError::kTruncated},
      {q + "c00c 0001 0001", WireError::kBadPointer},  // points at itself
      {q + "c010 0001 0001", WireError::kBadPointer},  // forward
      {q + "c002 0001 0001", WireError::kBadPointer},  // into the header
      {q + "c0", WireError::kTruncated},
      {q + "4103 0001 0001", WireError::kBadName},  // extended label type 01
      {q + "8003 0001 0001", WireError::kBadName},  // reserved label type 10
      // OPT twice, OPT not at the root, OPT in the answer section, options not tiling.
      {"1234 0100 0001 0000 0000 0002 03776562 00 0001 0001 00 0029 0200 00000000 0000"
       " 00 0029 0200 00000000 0000",
       WireError::kBadOpt},
      {qa + "c00c 0029 0200 00000000 0000", WireError::kBadOpt},
      {"1234 0100 0001 0001 0000 0000 03776562 00 0001 0001 00 0029 0200 00000000 0000",
       WireError::kBadOpt},
      {qa + "00 0029 0200 00000000 0003 000a00", WireError::kBadOpt},
      {qa + "00 0029 0200 00000000 0006 000a 0004 0000", WireError::kBadOpt},
      // A record whose RDATA runs past the end.
      {qa + "00 0010 0001 00000000 0005 00", WireError::kTruncated},
      // More records announced than present.
      {"1234 0100 0001 0000 0000 0003 03776562 00 0001 0001 00 0029 0200 00000000 0000",
       WireError::kTruncated},
  };
  for (const auto& c : cases) {
    auto m = parse_hex(c.hex);
    ASSERT_FALSE(m) << c.hex;
    EXPECT_EQ(m.error(), c.want) << c.hex << ": " << describe(m.error());
  }
}

TEST(DnsParse, NameOfMaximalLengthAndOneByteMore) {
  // 4 labels of 63 bytes = 4 * 64 + 1 = 257 wire bytes: too long; 3 of 63 + one of 61 = 255.
  auto build = [](size_t last) {
    std::string name;
    for (int i = 0; i < 3; ++i) name += std::string(63, 'a') + ".";
    name += std::string(last, 'b');
    return make_query(name, kTypeA);
  };
  auto ok = parse(build(61));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->question.name.text().size(), 253u);
  auto too_long = parse(build(62));
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error(), WireError::kBadName);
}

TEST(DnsParse, PointerChainsEnd) {
  // Additional records that point at each other backwards are fine; a chain that revisits
  // itself is cut by the backward-only rule.
  auto m = parse_hex(
      "1234 0100 0001 0000 0000 0002 03776562 00 0001 0001"
      " c00c 0010 0001 00000000 0000"
      " c015 0010 0001 00000000 0000");
  ASSERT_TRUE(m) << describe(m.error());
}

TEST(DnsParse, NonPrintableLabelsAreNotPlain) {
  auto m = parse_hex("1234 0100 0001 0000 0000 0000 03 612e62 00 0001 0001");  // label "a.b"
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->question.name.plain());
  auto n = parse_hex("1234 0100 0001 0000 0000 0000 02 6100 00 0001 0001");  // "a\0"
  ASSERT_TRUE(n);
  EXPECT_FALSE(n->question.name.plain());
}

TEST(DnsWriter, CompressesAgainstEarlierNames) {
  std::array<uint8_t, 512> buf{};
  Writer w(buf, buf.size());
  ASSERT_TRUE(w.put_header({1, kFlagQR, 1, 2, 0, 0}));
  const auto q = make_query("6.0.1.10.in-addr.arpa", kTypePTR);
  ASSERT_TRUE(w.put_bytes(std::span<const uint8_t>(q).subspan(12)));
  w.remember_name(12);
  ASSERT_TRUE(w.put_ptr_rr(5, "mixed.frontend"));
  ASSERT_TRUE(w.put_ptr_rr(5, "second.frontend"));
  ASSERT_TRUE(w.put_ptr_rr(5, "x.in-addr.arpa"));
  w.set_counts(3, 0, 0);
  const std::span<const uint8_t> out(buf.data(), w.size());
  // The question is [12, 39); the first target's "frontend" label starts at 39 + 12 + 6 = 57
  // (0x39), and the second target points there.
  EXPECT_THAT(to_hex(out.subspan(39 + 12 + 16)), ::testing::StartsWith("c00c000c000100000005000906"
                                                                       "7365636f6e64"
                                                                       "c039"));
  auto d = decode(out);
  ASSERT_TRUE(d);
  EXPECT_THAT(d->data(), ElementsAre("mixed.frontend", "second.frontend", "x.in-addr.arpa"));
  // The last target compresses to "x" + a pointer into the question.
  EXPECT_EQ(to_hex(out.subspan(out.size() - 4)), "0178c015");
}

TEST(DnsWriter, NeverWritesPastTheLimitAndRollsBack) {
  std::array<uint8_t, 64> buf{};
  Writer w(buf, 40);
  ASSERT_TRUE(w.put_header({}));
  ASSERT_TRUE(w.put_name("abc.def"));  // 9 bytes: 21
  const uint8_t addr[4] = {1, 2, 3, 4};
  EXPECT_FALSE(w.put_address_rr(kTypeA, 5, addr, 4) && w.put_address_rr(kTypeA, 5, addr, 4));
  EXPECT_LE(w.size(), 40u);
  const size_t before = w.size();
  EXPECT_FALSE(w.put_name("a-very-long-label-that-does-not-fit.example"));
  EXPECT_EQ(w.size(), before);
  EXPECT_FALSE(w.put_ptr_rr(5, "another-name-too-long.example"));
  EXPECT_EQ(w.size(), before);
}

TEST(DnsReplies, RelayRestoresIdAndTruncatesToTheLimit) {
  // An upstream answer with two A records (as sent with our id 0xbeef).
  const auto reply = from_hex(
      "beef 8180 0001 0002 0000 0000 07 6578616d706c65 03 636f6d 00 0001 0001"
      " c00c 0001 0001 0000003c 0004 5db8d822 c00c 0001 0001 0000003c 0004 5db8d823");
  std::array<uint8_t, 512> out{};
  size_t n = relay_reply(reply, 0x1234, 512, out);
  ASSERT_EQ(n, reply.size());
  EXPECT_EQ(to_hex(std::span(out.data(), 2)), "1234");
  EXPECT_EQ(to_hex(std::span(out.data() + 2, n - 2)), to_hex(std::span(reply).subspan(2)));
  n = relay_reply(reply, 0x1234, 40, out);
  auto d = decode(std::span(out.data(), n));
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->has(kFlagTC));
  EXPECT_EQ(d->id, 0x1234);
  EXPECT_EQ(d->qname, "example.com");
  EXPECT_TRUE(d->answers.empty());
}

TEST(DnsReplies, ErrorReplyKeepsTheQuestion) {
  const auto q = make_query("example.com", kTypeAAAA, {.id = 77, .edns = true});
  std::array<uint8_t, 512> out{};
  const size_t n = error_reply(q, Rcode::kServFail, out);
  auto d = decode(std::span(out.data(), n));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->id, 77);
  EXPECT_EQ(d->rcode(), 2);
  EXPECT_TRUE(d->has(kFlagQR));
  EXPECT_TRUE(d->has(kFlagRD));
  EXPECT_EQ(d->qname, "example.com");
  EXPECT_EQ(d->qtype, kTypeAAAA);
  ASSERT_EQ(d->additional.size(), 1u);
  EXPECT_EQ(d->additional[0].type, kTypeOPT);
  EXPECT_EQ(error_reply(from_hex("0001"), Rcode::kServFail, out), 0u);
}

// Golden packets: every reply in packets.json was computed by hand from RFC 1035/6891.
TEST(DnsGolden, PacketsThroughTheResponder) {
  const auto cases =
      nlohmann::json::parse(testing::read_text(testing::golden_path("packets.json")));
  ASSERT_FALSE(cases.empty());
  for (const auto& c : cases) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    auto zone = testing::fixture_zone();  // fresh: rotation starts at zero
    Responder responder;
    const auto query = from_hex(c.at("query").get<std::string>());
    const Client client{*net::IpAddr::parse(c.at("client").get<std::string>()),
                        *net::IpAddr::parse(c.at("local").get<std::string>()),
                        {}};
    std::vector<uint8_t> out(kMaxUdpPayload);
    const Outcome o = responder.respond(zone.get(), client, Transport::kUdp, query, out);
    const auto want = from_hex(c.at("reply").get<std::string>());
    if (c.contains("forward")) {
      ASSERT_EQ(o.action, Outcome::Action::kForward);
      std::vector<std::string> ups;
      for (const auto& u : o.upstreams) ups.push_back(u.str());
      EXPECT_EQ(ups, c.at("forward").get<std::vector<std::string>>());
    } else if (want.empty()) {
      EXPECT_EQ(o.action, Outcome::Action::kDrop);
    } else {
      ASSERT_EQ(o.action, Outcome::Action::kReply);
      EXPECT_EQ(to_hex(std::span(out.data(), o.size)), to_hex(want));
      // The independent decoder reads every golden reply.
      EXPECT_TRUE(decode(std::span(out.data(), o.size)));
    }
  }
}

}  // namespace
}  // namespace weir::dns
