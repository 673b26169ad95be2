// The zone: lookups from fixture files (scope, rotation, case, NODATA, NXDOMAIN, PTR,
// forwarding), validation of updates, resolv.conf.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "dns/resolv.hpp"
#include "dns/zone.hpp"
#include "dns/zone_json.hpp"
#include "tests/unit/dns_testing.hpp"

namespace weir::dns {
namespace {

// prefix + n, appended: GCC 12 -O3 warns falsely (-Wrestrict) on "literal" + std::string&&.
std::string numbered(std::string prefix, uint32_t n) { return prefix.append(std::to_string(n)); }

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAreArray;

net::IpAddr ip(std::string_view s) {
  return *net::IpAddr::parse(s);
}

Client client_at(std::string_view addr, std::string_view local = "10.1.0.1",
                 std::string_view container = {}) {
  return Client{ip(addr), ip(local), container};
}

Lookup lookup(const Zone& zone, const Client& c, std::string_view qname, uint16_t qtype) {
  Lookup l;
  zone.lookup(c, *Name::from_text(qname), qtype, l);
  return l;
}

std::vector<std::string> addrs_of(const Lookup& l) {
  std::vector<std::string> out;
  for (size_t i = 0; i < l.count; ++i) {
    out.push_back(l.ptr ? std::string(l.names[i]) : l.addrs[i].str());
  }
  return out;
}

TEST(DnsZone, FixtureLookups) {
  const auto zone = testing::fixture_zone();
  const auto cases =
      nlohmann::json::parse(testing::read_text(testing::golden_path("lookups.json")));
  ASSERT_GT(cases.size(), 30u);
  for (const auto& c : cases) {
    const std::string qname = c.at("qname");
    SCOPED_TRACE(c.value("why", std::string{}) + " [" + c.at("client").get<std::string>() +
                 " asks " + qname + " " + c.at("qtype").get<std::string>() + "]");
    const std::string container = c.value("container", std::string{});
    const Client cl = client_at(c.at("client").get<std::string>(),
                                c.value("local", std::string("10.1.0.1")), container);
    const Lookup l = lookup(*zone, cl, qname, testing::qtype_of(c.at("qtype").get<std::string>()));
    EXPECT_EQ(to_string(l.kind), c.at("kind").get<std::string>());
    if (c.contains("addrs")) {
      EXPECT_FALSE(l.ptr);
      EXPECT_THAT(addrs_of(l),
                  UnorderedElementsAreArray(c.at("addrs").get<std::vector<std::string>>()));
    }
    if (c.contains("names")) {
      EXPECT_TRUE(l.ptr);
      EXPECT_THAT(addrs_of(l),
                  UnorderedElementsAreArray(c.at("names").get<std::vector<std::string>>()));
    }
    if (c.contains("ttl")) {
      EXPECT_EQ(l.ttl, c.at("ttl").get<uint32_t>());
    }
    if (c.contains("recursion")) {
      EXPECT_EQ(l.recursion, c.at("recursion").get<bool>());
    }
    if (c.contains("upstreams")) {
      std::vector<std::string> ups;
      for (const auto& u : l.upstreams) ups.push_back(u.str());
      EXPECT_EQ(ups, c.at("upstreams").get<std::vector<std::string>>());
    }
  }
}

TEST(DnsZone, SharedNamesRotatePerReply) {
  const auto zone = testing::fixture_zone();
  const Client c = client_at("10.1.0.3");
  std::set<std::string> firsts;
  std::vector<std::string> previous;
  for (int i = 0; i < 4; ++i) {
    const auto got = addrs_of(lookup(*zone, c, "lb", kTypeA));
    ASSERT_EQ(got.size(), 2u);
    EXPECT_NE(got, previous);  // each reply starts one further
    firsts.insert(got[0]);
    previous = got;
  }
  EXPECT_EQ(firsts, (std::set<std::string>{"10.1.0.2", "10.1.0.3"}));
}

TEST(DnsZone, RotationIsSafeAcrossThreads) {
  const auto zone = testing::fixture_zone();
  std::vector<std::thread> threads;
  std::atomic<int> answers{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      Lookup l;
      const auto name = *Name::from_text("lb");
      for (int i = 0; i < 10000; ++i) {
        zone->lookup(client_at("10.1.0.3"), name, kTypeA, l);
        if (l.kind == Kind::kAnswer && l.count == 2) answers.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(answers.load(), 40000);
}

TEST(DnsZone, ScopeOf) {
  const auto zone = testing::fixture_zone();
  auto scope = zone->scope_of(client_at("10.1.0.2"));
  EXPECT_THAT(scope.networks, ElementsAre("backend", "frontend"));
  EXPECT_TRUE(scope.recursion);
  scope = zone->scope_of(client_at("10.2.0.77", "10.2.0.1"));  // a member the store lacks
  EXPECT_THAT(scope.networks, ElementsAre("backend"));
  EXPECT_TRUE(scope.recursion);
  // Strangers see nothing: outside every subnet, or asking another network's gateway.
  scope = zone->scope_of(client_at("192.168.5.5", "10.2.0.1"));
  EXPECT_TRUE(scope.networks.empty());
  EXPECT_FALSE(scope.recursion);
  scope = zone->scope_of(client_at("10.2.0.77", "192.168.0.1"));
  EXPECT_TRUE(scope.networks.empty());
  scope = zone->scope_of(client_at("10.2.0.3", "10.1.0.1"));
  EXPECT_TRUE(scope.networks.empty());
  EXPECT_FALSE(scope.recursion);
  scope = zone->scope_of(client_at("127.0.0.1", "127.0.0.11", "no-such-container"));
  EXPECT_TRUE(scope.networks.empty());
  EXPECT_FALSE(scope.recursion);
}

// Issue 13, items 7 and 8: a datagram is a member's only when it arrived on the network's own
// link; the host asking its own gateway is not a member either.
TEST(DnsZone, OnlyMembersOnTheNetworksOwnLinkAreAnswered) {
  std::vector<ZoneNetwork> nets{{.name = "n",
                                 .subnets = {*net::Cidr::parse("10.7.0.0/24")},
                                 .listen = {ip("10.7.0.1")},
                                 .links = {7}}};
  std::vector<ZoneEndpoint> eps{
      {.network = "n", .container_id = "c", .names = {"x"}, .ips = {ip("10.7.0.2")}}};
  auto zone = build_zone(nets, eps, {.host_upstreams = {*SocketAddr::parse("192.0.2.53")}});
  ASSERT_TRUE(zone) << zone.error().msg;
  auto from = [](std::string_view addr, int ifindex) {
    Client c = client_at(addr, "10.7.0.1");
    c.ifindex = ifindex;
    return c;
  };
  for (std::string_view addr : {"10.7.0.2", "10.7.0.99"}) {  // known, and not known yet
    SCOPED_TRACE(addr);
    EXPECT_EQ(lookup(**zone, from(addr, 7), "x", kTypeA).kind, Kind::kAnswer);
    EXPECT_EQ(lookup(**zone, from(addr, 7), "example.com", kTypeA).kind, Kind::kForward);
    // Over TCP the transport does not say: the handshake proved the route.
    EXPECT_EQ(lookup(**zone, from(addr, 0), "x", kTypeA).kind, Kind::kAnswer);
    // The same source, arrived elsewhere (spoofed from another interface, or sent by a host
    // process over lo): nothing.
    for (int elsewhere : {1, 8}) {
      const Lookup l = lookup(**zone, from(addr, elsewhere), "x", kTypeA);
      EXPECT_EQ(l.kind, Kind::kRefuse);
      EXPECT_FALSE(l.recursion);
      EXPECT_EQ(lookup(**zone, from(addr, elsewhere), "example.com", kTypeA).kind,
                Kind::kRefuse);
    }
  }
  // The gateway's own address (a host process): over lo, or over TCP where the link is not
  // known.
  EXPECT_EQ(lookup(**zone, from("10.7.0.1", 1), "x", kTypeA).kind, Kind::kRefuse);
  EXPECT_EQ(lookup(**zone, from("10.7.0.1", 0), "example.com", kTypeA).kind, Kind::kRefuse);
}

// Issue 13, item 5 (Moby CVE-2024-29018): an internal network's containers get the names of
// their networks, and nothing forwarded.
TEST(DnsZone, InternalNetworksForwardNothing) {
  std::vector<ZoneNetwork> nets{
      {.name = "sealed",
       .subnets = {*net::Cidr::parse("10.8.0.0/24")},
       .listen = {ip("10.8.0.1")},
       .upstreams = {*SocketAddr::parse("10.8.0.53")},  // its own: never used either
       .forward = false},
      {.name = "open", .subnets = {*net::Cidr::parse("10.9.0.0/24")}, .listen = {ip("10.9.0.1")}},
  };
  std::vector<ZoneEndpoint> eps{
      {.network = "sealed", .container_id = "in", .names = {"vault"}, .ips = {ip("10.8.0.2")}},
      {.network = "sealed", .container_id = "both", .names = {"gate"}, .ips = {ip("10.8.0.3")}},
      {.network = "open", .container_id = "both", .names = {"gate"}, .ips = {ip("10.9.0.3")}},
  };
  auto zone = build_zone(nets, eps, {.host_upstreams = {*SocketAddr::parse("192.0.2.53")}});
  ASSERT_TRUE(zone) << zone.error().msg;
  const Client inside = client_at("10.8.0.2", "10.8.0.1");
  EXPECT_THAT(addrs_of(lookup(**zone, inside, "gate", kTypeA)), ElementsAre("10.8.0.3"));
  EXPECT_EQ(lookup(**zone, inside, "nosuch.sealed", kTypeA).kind, Kind::kNxDomain);
  for (std::string_view name : {"example.com", "8.8.8.8.in-addr.arpa", "gate.open"}) {
    SCOPED_TRACE(name);
    const Lookup l = lookup(**zone, inside, name, kTypeA);
    EXPECT_NE(l.kind, Kind::kForward);
    EXPECT_FALSE(l.recursion);
  }
  EXPECT_EQ(lookup(**zone, inside, "example.com", kTypeA).kind, Kind::kRefuse);
  EXPECT_FALSE(zone.value()->scope_of(client_at("10.8.0.77", "10.8.0.1")).recursion);
  // A container also on a network that reaches out may recurse through either gateway, to
  // the upstreams of the network that forwards.
  for (const Client& c : {client_at("10.8.0.3", "10.8.0.1"), client_at("10.9.0.3", "10.9.0.1")}) {
    const Lookup l = lookup(**zone, c, "example.com", kTypeA);
    ASSERT_EQ(l.kind, Kind::kForward);
    ASSERT_EQ(l.upstreams.size(), 1u);
    EXPECT_EQ(l.upstreams[0].str(), "192.0.2.53:53");
  }
}

TEST(DnsZone, OverlappingSubnetsPickTheNetworkThatWasAsked) {
  // Two isolated networks reuse 10.9.0.0/24; the same address is a different container on each.
  ZoneNetwork a{
      .name = "a", .subnets = {*net::Cidr::parse("10.9.0.0/24")}, .listen = {ip("10.9.0.1")}};
  ZoneNetwork b{
      .name = "b", .subnets = {*net::Cidr::parse("10.9.0.0/24")}, .listen = {ip("10.9.0.254")}};
  std::vector<ZoneNetwork> nets{a, b};
  std::vector<ZoneEndpoint> eps{
      {.network = "a", .container_id = "c-on-a", .names = {"x"}, .ips = {ip("10.9.0.5")}},
      {.network = "b", .container_id = "c-on-b", .names = {"y"}, .ips = {ip("10.9.0.5")}},
  };
  auto zone = build_zone(nets, eps);
  ASSERT_TRUE(zone) << zone.error().msg;
  EXPECT_EQ(lookup(**zone, client_at("10.9.0.5", "10.9.0.254"), "y", kTypeA).kind, Kind::kAnswer);
  EXPECT_EQ(lookup(**zone, client_at("10.9.0.5", "10.9.0.254"), "x.a", kTypeA).kind,
            Kind::kNxDomain);
  EXPECT_EQ(lookup(**zone, client_at("10.9.0.5", "10.9.0.1"), "x", kTypeA).kind, Kind::kAnswer);
}

TEST(DnsZone, ManyAddressesAreCapped) {
  std::vector<ZoneNetwork> nets{{.name = "big", .subnets = {*net::Cidr::parse("10.0.0.0/16")},
                                 .listen = {ip("10.0.0.1")}}};
  std::vector<ZoneEndpoint> eps;
  for (int i = 0; i < 300; ++i) {
    eps.push_back({.network = "big",
                   .container_id = numbered("c", static_cast<uint32_t>(i)),
                   .aliases = {"all"},
                   .ips = {net::IpAddr::v4(0x0a000000u + 10 + i)}});
  }
  auto zone = build_zone(nets, eps);
  ASSERT_TRUE(zone);
  const auto l = lookup(**zone, client_at("10.0.0.10", "10.0.0.1"), "all", kTypeA);
  EXPECT_EQ(l.kind, Kind::kAnswer);
  EXPECT_EQ(l.count, kMaxAnswers);
}

TEST(DnsZone, TenThousandReplicasUnderOneAlias) {
  // Building stays O(n log n) when one name has very many records (a quadratic dedup here
  // once took seconds).
  std::vector<ZoneNetwork> nets{{.name = "big", .subnets = {*net::Cidr::parse("10.0.0.0/8")},
                                 .listen = {ip("10.0.0.1")}}};
  std::vector<ZoneEndpoint> eps;
  for (uint32_t i = 0; i < 10000; ++i) {
    eps.push_back({.network = "big",
                   .container_id = numbered("000000000000", i),
                   .names = {numbered("r", i)},
                   .aliases = {"svc"},
                   .ips = {net::IpAddr::v4(0x0a000000u + 2 + i)}});
  }
  auto zone = build_zone(nets, eps);
  ASSERT_TRUE(zone);
  EXPECT_EQ(lookup(**zone, client_at("10.0.0.2", "10.0.0.1"), "svc", kTypeA).count, kMaxAnswers);
  // All 10,000 share the short id "000000000000": one name, 10,000 records.
  EXPECT_EQ(lookup(**zone, client_at("10.0.0.2", "10.0.0.1"), "000000000000.big", kTypeA).count,
            kMaxAnswers);
}

TEST(DnsZone, BuildRejectsBadInput) {
  const ZoneNetwork good{.name = "n", .subnets = {*net::Cidr::parse("10.0.0.0/24")}};
  auto err = [](std::vector<ZoneNetwork> nets, std::vector<ZoneEndpoint> eps, ZoneOptions o = {}) {
    auto z = build_zone(nets, eps, o);
    EXPECT_FALSE(z);
    return z ? std::string() : z.error().msg;
  };
  EXPECT_THAT(err({{.name = ""}}, {}), HasSubstr("not a DNS name"));
  EXPECT_THAT(err({{.name = "bad name"}}, {}), HasSubstr("\"bad name\""));
  EXPECT_THAT(err({{.name = "n", .domain = "a..b"}}, {}), HasSubstr("domain \"a..b\""));
  EXPECT_THAT(err({good, good}, {}), HasSubstr("listed twice"));
  EXPECT_THAT(err({{.name = "n", .ttl = 0x80000000u}}, {}), HasSubstr("TTL"));
  EXPECT_THAT(err({good}, {{.network = "nope", .container_id = "c", .names = {"a"}}}),
              HasSubstr("unknown network"));
  EXPECT_THAT(err({good}, {{.network = "n", .container_id = "", .names = {"a"}}}),
              HasSubstr("no container id"));
  EXPECT_THAT(err({good}, {{.network = "n", .container_id = "c", .names = {"with space"}}}),
              HasSubstr("name \"with space\""));
  EXPECT_THAT(
      err({good}, {{.network = "n", .container_id = "c", .aliases = {std::string(64, 'x')}}}),
      HasSubstr("not a DNS name"));
  auto e = build_zone(std::vector<ZoneNetwork>{{.name = ""}}, {});
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, cni::Code::kInvalidConfig);
}

TEST(DnsZone, SkipInvalidEndpointsKeepsTheRest) {
  std::vector<ZoneNetwork> nets{{.name = "n", .subnets = {*net::Cidr::parse("10.0.0.0/24")},
                                 .listen = {ip("10.0.0.1")}}};
  std::vector<ZoneEndpoint> eps{
      {.network = "n", .container_id = "good", .names = {"ok"}, .ips = {ip("10.0.0.2")}},
      {.network = "n", .container_id = "bad", .names = {"not ok"}, .ips = {ip("10.0.0.3")}},
      {.network = "gone", .container_id = "orphan", .names = {"x"}, .ips = {ip("10.0.0.4")}},
  };
  auto zone = build_zone(nets, eps, {.skip_invalid_endpoints = true});
  ASSERT_TRUE(zone) << zone.error().msg;
  EXPECT_EQ((*zone)->skipped().size(), 2u);
  EXPECT_EQ(lookup(**zone, client_at("10.0.0.2", "10.0.0.1"), "ok", kTypeA).kind, Kind::kAnswer);
  // The skipped endpoint's address is not a known endpoint, but it is in the subnet.
  EXPECT_EQ(lookup(**zone, client_at("10.0.0.3", "10.0.0.1"), "ok", kTypeA).kind, Kind::kAnswer);
}

TEST(DnsZone, EmptyZoneForwardsNothingAndAnswersNothing) {
  auto zone = build_zone({}, {});
  ASSERT_TRUE(zone);
  EXPECT_EQ(lookup(**zone, client_at("10.0.0.2"), "example.com", kTypeA).kind, Kind::kRefuse);
  EXPECT_EQ((*zone)->name_count(), 0u);
}

TEST(DnsZone, NoUpstreamsStillForwardsWithAnEmptyList) {
  std::vector<ZoneNetwork> nets{{.name = "n", .subnets = {*net::Cidr::parse("10.0.0.0/24")},
                                 .listen = {ip("10.0.0.1")}}};
  auto zone = build_zone(nets, {});
  ASSERT_TRUE(zone);
  const auto l = lookup(**zone, client_at("10.0.0.2", "10.0.0.1"), "example.com", kTypeA);
  EXPECT_EQ(l.kind, Kind::kForward);
  EXPECT_TRUE(l.upstreams.empty());  // the responder answers SERVFAIL
}

TEST(DnsZone, ReverseNames) {
  EXPECT_EQ(parse_reverse("4.3.2.1.in-addr.arpa"), ip("1.2.3.4"));
  EXPECT_EQ(reverse_name(ip("10.1.0.2")), "2.0.1.10.in-addr.arpa");
  EXPECT_EQ(parse_reverse(reverse_name(ip("fd01::2"))), ip("fd01::2"));
  EXPECT_EQ(reverse_name(ip("fd01::2")),
            "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.d.f.ip6.arpa");
  for (const char* bad : {"3.2.1.in-addr.arpa", "5.4.3.2.1.in-addr.arpa", "256.3.2.1.in-addr.arpa",
                          "04.3.2.1.in-addr.arpa", "a.3.2.1.in-addr.arpa", "in-addr.arpa",
                          "1.ip6.arpa", "4.3.2.1.in-addr.arpa.example"}) {
    EXPECT_FALSE(parse_reverse(bad)) << bad;
  }
}

TEST(DnsResolvConf, FirstThreeNameservers) {
  const auto got = parse_resolv_conf(
      "# comment\n"
      "search example.com\n"
      "nameserver 10.255.255.53\n"
      "nameserver fe80::1%eth0\n"
      "nameserver not-an-address\n"
      "nameserver ::1\n"
      "options edns0\n"
      "nameserver 1.1.1.1\n"
      "nameserver 8.8.8.8\n");
  std::vector<std::string> s;
  for (const auto& a : got) s.push_back(a.str());
  EXPECT_THAT(s, ElementsAre("10.255.255.53:53", "[::1]:53", "1.1.1.1:53"));
  auto missing = read_resolv_conf("/nonexistent/resolv.conf");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().sys_errno, ENOENT);
}

TEST(DnsSocketAddr, ParsesAndPrints) {
  EXPECT_EQ(SocketAddr::parse("10.0.0.1")->str(), "10.0.0.1:53");
  EXPECT_EQ(SocketAddr::parse("10.0.0.1:5353")->str(), "10.0.0.1:5353");
  EXPECT_EQ(SocketAddr::parse("::1")->str(), "[::1]:53");
  EXPECT_EQ(SocketAddr::parse("[fd00::1]:99")->str(), "[fd00::1]:99");
  for (const char* bad :
       {"", "10.0.0.1:", "10.0.0.1:70000", "[::1", "[::1]x", "host:53", "10.0.0.1:5x"}) {
    EXPECT_FALSE(SocketAddr::parse(bad)) << bad;
  }
}

TEST(DnsZoneJson, ReportsBadFixtures) {
  EXPECT_EQ(parse_zone_json("[").error().code, cni::Code::kDecodeFailure);
  EXPECT_THAT(
      parse_zone_json(R"({"networks":[{"name":"n","subnets":["10.0.0.0/33"]}]})").error().msg,
      HasSubstr("bad subnet"));
  EXPECT_THAT(parse_zone_json(R"({"endpoints":[{"network":"n"}]})").error().msg,
              HasSubstr("DNS zone"));
  EXPECT_THAT(parse_zone_json(R"({"upstreams":["x"]})").error().msg, HasSubstr("bad server"));
}

}  // namespace
}  // namespace weir::dns
