// ipam/range: host-local's range rules at the edges of both families.
#include <gtest/gtest.h>

#include "ipam/range.hpp"
#include "tests/unit/ipam_testing.hpp"

namespace weir::ipam {
namespace {

using test::cidr;
using test::ip;

Range range(std::string_view subnet, std::optional<std::string_view> start = {},
            std::optional<std::string_view> end = {}, std::optional<std::string_view> gw = {}) {
  RangeParams p{.subnet = cidr(subnet)};
  if (start) p.start = ip(*start);
  if (end) p.end = ip(*end);
  if (gw) p.gateway = ip(*gw);
  auto r = make_range(p, "ipam.ranges[0][0]");
  EXPECT_TRUE(r) << subnet << ": " << (r ? "" : r.error().msg);
  return r.value_or(Range{});
}

cni::Error range_error(std::string_view subnet, std::optional<std::string_view> start = {},
                       std::optional<std::string_view> end = {},
                       std::optional<std::string_view> gw = {}) {
  RangeParams p{.subnet = cidr(subnet)};
  if (start) p.start = ip(*start);
  if (end) p.end = ip(*end);
  if (gw) p.gateway = ip(*gw);
  auto r = make_range(p, "ipam.ranges[0][0]");
  EXPECT_FALSE(r) << subnet;
  return r ? cni::Error{} : r.error();
}

TEST(IpamRange, V4DefaultsSkipNetworkGatewayAndBroadcast) {
  Range r = range("10.1.0.0/24");
  EXPECT_EQ(r.start, ip("10.1.0.1"));
  EXPECT_EQ(r.end, ip("10.1.0.254"));
  EXPECT_EQ(r.gateway, ip("10.1.0.1"));
  EXPECT_EQ(r.size(), 254u);
  EXPECT_EQ(r.capacity(), 253u);
  EXPECT_EQ(r.str(), "10.1.0.0/24");
  EXPECT_FALSE(r.contains(ip("10.1.0.0")));
  EXPECT_FALSE(r.contains(ip("10.1.0.255")));
  EXPECT_TRUE(r.contains(ip("10.1.0.254")));
  EXPECT_FALSE(r.contains(ip("fd00::1")));
}

TEST(IpamRange, V4SmallestSubnets) {
  Range r = range("10.1.0.0/30");  // .1 gateway, .2 the one host, .3 broadcast
  EXPECT_EQ(r.start, ip("10.1.0.1"));
  EXPECT_EQ(r.end, ip("10.1.0.2"));
  EXPECT_EQ(r.capacity(), 1u);
  for (auto small : {"10.1.0.0/31", "10.1.0.1/32"}) {
    auto e = range_error(small);
    EXPECT_EQ(e.code, cni::Code::kInvalidConfig);
    EXPECT_NE(e.msg.find("\"ipam.ranges[0][0].subnet\""), std::string::npos) << e.msg;
    EXPECT_NE(e.msg.find("too small"), std::string::npos) << e.msg;
  }
}

// Issue 13: subnets where no container address can be are the subnet's error, not the kernel's.
TEST(IpamRange, SubnetsTheKernelKeepsForItselfAreRefused) {
  const std::pair<const char*, const char*> kRefused[] = {
      {"0.0.0.0/0", "covers every IPv4 address"}, {"::/0", "covers every IPv6 address"},
      {"127.0.0.0/8", "loopback"},                {"127.3.0.0/16", "loopback"},
      {"0.0.0.0/1", "loopback"},                  {"224.0.0.0/24", "multicast"},
      {"239.255.0.0/16", "multicast"},            {"128.0.0.0/1", "multicast"},
      {"255.255.255.0/24", "broadcast"},          {"ff00::/8", "multicast"},
      {"ff02::/64", "multicast"},                 {"fe80::/64", "link-local"},
      {"::/64", "unspecified"}};
  for (const auto& [subnet, why] : kRefused) {
    auto e = range_error(subnet);
    EXPECT_EQ(e.code, cni::Code::kInvalidConfig) << subnet;
    EXPECT_NE(e.msg.find("\"ipam.ranges[0][0].subnet\": "), std::string::npos) << e.msg;
    EXPECT_NE(e.msg.find(why), std::string::npos) << e.msg;
  }
  // Linux routes these like any other: IPv4 link-local, class E, 0.0.0.0/8, ULA, documentation.
  for (const char* subnet : {"169.254.0.0/16", "240.0.0.0/24", "0.0.0.0/24", "fd00::/64", "2001:db8::/64", "10.0.0.0/8"}) {
    range(subnet);
  }
}

TEST(IpamRange, V6DefaultsKeepTheLastAddress) {
  Range r = range("fd00:1::/64");
  EXPECT_EQ(r.start, ip("fd00:1::1"));
  EXPECT_EQ(r.end, ip("fd00:1::ffff:ffff:ffff:ffff"));  // no broadcast in IPv6
  EXPECT_EQ(r.gateway, ip("fd00:1::1"));
  EXPECT_EQ(r.size(), UINT64_MAX);  // 2^64 - 1, saturated: exact
  Range big = range("fd00::/48");
  EXPECT_EQ(big.size(), UINT64_MAX);  // saturated
  EXPECT_EQ(big.capacity(), UINT64_MAX);
  Range r126 = range("fd00::/126");  // ::1 gateway, ::2 and ::3 hosts
  EXPECT_EQ(r126.end, ip("fd00::3"));
  EXPECT_EQ(r126.capacity(), 2u);
  for (auto small : {"fd00::/127", "fd00::1/128"}) {
    EXPECT_NE(range_error(small).msg.find("too small"), std::string::npos) << small;
  }
}

TEST(IpamRange, ExplicitStartAndEnd) {
  Range r = range("10.1.0.0/16", "10.1.2.0", "10.1.2.255");
  EXPECT_EQ(r.size(), 256u);
  EXPECT_EQ(r.capacity(), 256u);  // the gateway 10.1.0.1 lies outside the range
  EXPECT_EQ(r.str(), "10.1.0.0/16 (10.1.2.0-10.1.2.255)");
  // The network and broadcast addresses may be given explicitly (host-local allows it).
  Range whole = range("10.2.0.0/24", "10.2.0.0", "10.2.0.255", "10.2.0.1");
  EXPECT_EQ(whole.size(), 256u);
  Range one = range("10.3.0.0/24", "10.3.0.7", "10.3.0.7");
  EXPECT_EQ(one.size(), 1u);
  Range v6 = range("fd00::/120", "fd00::10", "fd00::1f", "fd00::1");
  EXPECT_EQ(v6.size(), 16u);
}

TEST(IpamRange, BadStartEndAndGatewayNameTheField) {
  struct Case {
    const char* subnet;
    std::optional<std::string_view> start, end, gw;
    const char* field;
    const char* words;
  } cases[] = {
      {"10.1.0.0/24", "10.1.1.5", {}, {}, "rangeStart", "outside the subnet"},
      {"10.1.0.0/24", {}, "10.1.1.5", {}, "rangeEnd", "outside the subnet"},
      {"10.1.0.0/24", "10.1.0.9", "10.1.0.8", {}, "rangeEnd", "before rangeStart"},
      {"10.1.0.0/24", "fd00::5", {}, {}, "rangeStart", "IPv6 address"},
      {"10.1.0.0/24", {}, {}, "fd00::1", "gateway", "IPv6 gateway"},
      {"fd00::/64", {}, {}, "10.0.0.1", "gateway", "IPv4 gateway"},
      {"10.1.0.1/24", {}, {}, {}, "subnet", "host bits set"},
      {"fd00::1/64", {}, {}, {}, "subnet", "host bits set"},
  };
  for (const auto& c : cases) {
    auto e = range_error(c.subnet, c.start, c.end, c.gw);
    EXPECT_EQ(e.code, cni::Code::kInvalidConfig);
    EXPECT_NE(e.msg.find(std::string("\"ipam.ranges[0][0].") + c.field + "\""), std::string::npos)
        << e.msg;
    EXPECT_NE(e.msg.find(c.words), std::string::npos) << e.msg;
  }
}

TEST(IpamRange, GatewayOutsideTheSubnetIsAllowed) {
  Range r = range("10.1.0.0/24", {}, {}, "10.9.9.9");
  EXPECT_EQ(r.gateway, ip("10.9.9.9"));
  EXPECT_EQ(r.capacity(), 254u);
}

TEST(IpamRangeSet, OverlapsAndFamilies) {
  EXPECT_TRUE(overlaps(range("10.1.0.0/24"), range("10.1.0.0/25")));
  // One subnet split in two disjoint ranges does not overlap.
  EXPECT_FALSE(overlaps(range("10.1.0.0/24", "10.1.0.1", "10.1.0.99"),
                        range("10.1.0.0/24", "10.1.0.100", "10.1.0.200")));
  EXPECT_FALSE(overlaps(range("10.1.0.0/24"), range("fd00::/64")));

  EXPECT_TRUE(check_range_set({range("10.1.0.0/24"), range("10.2.0.0/24")}, "s"));
  auto mixed = check_range_set({range("10.1.0.0/24"), range("fd00::/64")}, "ipam.ranges[0]");
  ASSERT_FALSE(mixed);
  EXPECT_NE(mixed.error().msg.find("\"ipam.ranges[0][1]\""), std::string::npos)
      << mixed.error().msg;
  auto over = check_range_set({range("10.1.0.0/24"), range("10.1.0.128/25")}, "ipam.ranges[0]");
  ASSERT_FALSE(over);
  EXPECT_NE(over.error().msg.find("overlap"), std::string::npos);
  EXPECT_FALSE(check_range_set({}, "ipam.ranges[0]"));
}

TEST(IpamRangeSet, FindAndGateways) {
  RangeSet set = {range("10.1.0.0/24"), range("10.2.0.0/24", {}, {}, "10.2.0.254")};
  EXPECT_EQ(find_range(set, ip("10.2.0.7")), &set[1]);
  EXPECT_EQ(find_range(set, ip("10.3.0.7")), nullptr);
  EXPECT_TRUE(is_gateway(set, ip("10.2.0.254")));
  EXPECT_FALSE(is_gateway(set, ip("10.2.0.1")));
  EXPECT_EQ(describe(set), "10.1.0.0/24, 10.2.0.0/24");
}

}  // namespace
}  // namespace weir::ipam
