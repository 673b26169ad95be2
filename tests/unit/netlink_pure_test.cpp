// The parts of lib/netlink that need no kernel: names, modes, sysctl keys. No root needed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <set>
#include <string>

#include "lib/netlink/netlink.hpp"

namespace weir {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

TEST(VethName, IsStableShortAndDistinct) {
  const std::string a = netlink::veth_name("ctr1", "eth0");
  EXPECT_EQ(a, netlink::veth_name("ctr1", "eth0"));
  EXPECT_EQ(a.size(), 12u);
  EXPECT_THAT(a, MatchesRegex("veth[0-9a-f]{8}"));
  // FNV-1a-32 of "ctr1/eth0", pinned: a changed hash would orphan every existing host veth.
  EXPECT_EQ(a, "veth05102965");
  EXPECT_NE(a, netlink::veth_name("ctr1", "eth1"));
  EXPECT_NE(a, netlink::veth_name("ctr2", "eth0"));
  // The separator keeps ("ab", "c") and ("a", "bc") apart.
  EXPECT_NE(netlink::veth_name("ab", "c"), netlink::veth_name("a", "bc"));
  std::set<std::string> names;
  for (int i = 0; i < 1000; ++i) names.insert(netlink::veth_name(std::to_string(i), "eth0"));
  EXPECT_EQ(names.size(), 1000u);
  for (const auto& n : names) EXPECT_TRUE(netlink::is_veth_name(n)) << n;
  for (const char* other : {"veth0", "vethABCDEF01", "veth0123456g", "eth005102965", "veth051029650"}) {
    EXPECT_FALSE(netlink::is_veth_name(other)) << other;
  }
}

TEST(MacvlanMode, ParsesTheFourModes) {
  for (const char* text : {"bridge", "private", "vepa", "passthru"}) {
    auto m = netlink::parse_macvlan_mode(text);
    ASSERT_TRUE(m) << text;
    EXPECT_EQ(netlink::to_string(*m), text);
  }
  auto bad = netlink::parse_macvlan_mode("Bridge");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, cni::Code::kInvalidConfig);
  EXPECT_THAT(bad.error().msg, HasSubstr("\"Bridge\""));
}

TEST(SysctlPath, DotsBecomeSlashesUnlessSlashesAreUsed) {
  EXPECT_EQ(netlink::sysctl_path("net.ipv4.ip_forward").value_or(""),
            "/proc/sys/net/ipv4/ip_forward");
  EXPECT_EQ(netlink::sysctl_path("net/ipv4/conf/eth0.100/arp_notify").value_or(""),
            "/proc/sys/net/ipv4/conf/eth0.100/arp_notify");
  for (const char* bad : {"", "/net/ipv4/ip_forward", "net/../../etc/passwd", "net..ipv4",
                          "net/ipv4/", ".net", "net/./ipv4"}) {
    auto p = netlink::sysctl_path(bad);
    ASSERT_FALSE(p) << bad;
    EXPECT_EQ(p.error().code, cni::Code::kInvalidConfig) << bad;
    EXPECT_EQ(p.error().sys_errno, EINVAL) << bad;
  }
}

}  // namespace
}  // namespace weir
