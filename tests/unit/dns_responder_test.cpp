// The responder: EDNS(0) sizes, truncation, TCP limits, SERVFAIL paths.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "dns/responder.hpp"
#include "tests/unit/dns_testing.hpp"

namespace weir::dns {
namespace {

using testing::decode;
using testing::make_query;

net::IpAddr ip(std::string_view s) {
  return *net::IpAddr::parse(s);
}

// One network, one name ("many") with 100 IPv4 and 100 IPv6 addresses.
std::shared_ptr<const Zone> big_zone() {
  std::vector<ZoneNetwork> nets{
      {.name = "big",
       .subnets = {*net::Cidr::parse("10.0.0.0/16"), *net::Cidr::parse("fd00::/64")},
       .listen = {ip("10.0.0.1")}}};
  std::vector<ZoneEndpoint> eps;
  for (int i = 0; i < 100; ++i) {
    auto v6 = ip("fd00::100").plus(static_cast<uint64_t>(i));
    eps.push_back({.network = "big",
                   .container_id = "c" + std::to_string(i),
                   .aliases = {"many"},
                   .ips = {net::IpAddr::v4(0x0a000100u + i), v6}});
  }
  auto z = build_zone(nets, eps);
  EXPECT_TRUE(z) << z.error().msg;
  return *z;
}

struct Result {
  Outcome outcome;
  std::vector<uint8_t> bytes;
};

Result ask(const Zone* zone, const std::vector<uint8_t>& q, Transport t = Transport::kUdp,
           std::string_view from = "10.0.1.0") {
  Responder r;
  std::vector<uint8_t> out(kMaxMessage);
  Result res;
  res.outcome = r.respond(zone, Client{ip(from), ip("10.0.0.1"), {}}, t, q, out);
  res.bytes.assign(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(res.outcome.size));
  return res;
}

TEST(DnsResponder, TruncatesAt512WithoutEdns) {
  const auto zone = big_zone();
  const auto r = ask(zone.get(), make_query("many", kTypeA));
  ASSERT_EQ(r.outcome.action, Outcome::Action::kReply);
  EXPECT_LE(r.bytes.size(), 512u);
  EXPECT_TRUE(r.outcome.truncated);
  auto d = decode(r.bytes);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->has(kFlagTC));
  EXPECT_TRUE(d->has(kFlagAA));
  EXPECT_EQ(d->answers.size(), (512u - 12 - 10) / 16);  // complete records only
  EXPECT_TRUE(d->additional.empty());
}

TEST(DnsResponder, HonoursTheClientsEdnsSizeUpToTheCap) {
  const auto zone = big_zone();
  struct Case {
    uint16_t asked;
    size_t limit;
  } cases[] = {{100, 512}, {512, 512}, {1000, 1000}, {1232, 1232}, {4096, 1232}, {65535, 1232}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.asked);
    const auto r =
        ask(zone.get(), make_query("many", kTypeAAAA, {.edns = true, .udp_size = c.asked}));
    EXPECT_EQ(r.outcome.limit, c.limit);
    EXPECT_LE(r.bytes.size(), c.limit);
    EXPECT_GT(r.bytes.size(), c.limit - 40);  // filled up to the limit
    auto d = decode(r.bytes);
    ASSERT_TRUE(d);
    EXPECT_TRUE(d->has(kFlagTC));
    EXPECT_EQ(d->answers.size(), (c.limit - 12 - 10 - kOptSize) / 28);
    ASSERT_EQ(d->additional.size(), 1u);  // the OPT always survives truncation
    EXPECT_EQ(d->additional[0].type, kTypeOPT);
    EXPECT_EQ(d->additional[0].klass, kMaxUdpPayload);
  }
}

TEST(DnsResponder, TcpCarriesEverything) {
  const auto zone = big_zone();
  const auto r = ask(zone.get(), make_query("many", kTypeANY), Transport::kTcp);
  auto d = decode(r.bytes);
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->has(kFlagTC));
  EXPECT_EQ(d->answers.size(), kMaxAnswers);  // 200 records, capped per answer
  EXPECT_EQ(r.outcome.limit, kMaxMessage);
}

TEST(DnsResponder, FitsWithoutTruncation) {
  const auto zone = big_zone();
  std::vector<ZoneNetwork> nets{{.name = "n", .subnets = {*net::Cidr::parse("10.0.0.0/16")},
                                 .listen = {ip("10.0.0.1")}}};
  std::vector<ZoneEndpoint> eps{
      {.network = "n", .container_id = "c", .names = {"one"}, .ips = {ip("10.0.0.5")}}};
  auto small = build_zone(nets, eps);
  ASSERT_TRUE(small);
  const auto r = ask(small->get(), make_query("one.n", kTypeA, {.edns = true}));
  EXPECT_FALSE(r.outcome.truncated);
  auto d = decode(r.bytes);
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->has(kFlagTC));
  ASSERT_EQ(d->answers.size(), 1u);
  EXPECT_EQ(d->answers[0].name, "one.n");
  EXPECT_EQ(d->answers[0].ttl, kDefaultTtl);
}

TEST(DnsResponder, ServfailWithoutZoneOrUpstreams) {
  auto r = ask(nullptr, make_query("web", kTypeA));
  ASSERT_EQ(r.outcome.action, Outcome::Action::kReply);
  EXPECT_EQ(decode(r.bytes)->rcode(), 2);
  std::vector<ZoneNetwork> nets{{.name = "n", .subnets = {*net::Cidr::parse("10.0.0.0/16")},
                                 .listen = {ip("10.0.0.1")}}};
  auto zone = build_zone(nets, {});
  ASSERT_TRUE(zone);
  r = ask(zone->get(), make_query("example.com", kTypeA));
  ASSERT_EQ(r.outcome.action, Outcome::Action::kReply);
  auto d = decode(r.bytes);
  EXPECT_EQ(d->rcode(), 2);
  EXPECT_TRUE(d->has(kFlagRA));
}

TEST(DnsResponder, ForwardsWithTheClientsLimit) {
  const auto zone = testing::fixture_zone();
  Responder responder;
  std::vector<uint8_t> out(kMaxMessage);
  const auto q = make_query("example.com", kTypeA, {.edns = true, .udp_size = 4096});
  const auto o = responder.respond(zone.get(), Client{ip("10.1.0.3"), ip("10.1.0.1"), {}},
                                   Transport::kUdp, q, out);
  ASSERT_EQ(o.action, Outcome::Action::kForward);
  EXPECT_EQ(o.limit, kMaxUdpPayload);
  EXPECT_EQ(o.upstreams.size(), 2u);
}

}  // namespace
}  // namespace weir::dns
