#include <gtest/gtest.h>

#include "lib/net/addr.hpp"

namespace weir::net {
namespace {

IpAddr ip(const char* s) { return *IpAddr::parse(s); }
Cidr cidr(const char* s) { return *Cidr::parse(s); }

TEST(IpAddr, ParsesAndPrints) {
  EXPECT_EQ(ip("10.1.2.3").str(), "10.1.2.3");
  EXPECT_EQ(ip("FD00::0001").str(), "fd00::1");
  EXPECT_TRUE(ip("::ffff:1.2.3.4").family() == Family::kV6);
  for (const char* bad : {"", "1.2.3", "1.2.3.256", "10.0.0.1/24", "fd00:::1", " 1.2.3.4"}) {
    EXPECT_FALSE(IpAddr::parse(bad)) << bad;
  }
}

TEST(IpAddr, ArithmeticCarriesAcrossBytes) {
  EXPECT_EQ(ip("10.0.0.255").next(), ip("10.0.1.0"));
  EXPECT_EQ(ip("10.0.1.0").prev(), ip("10.0.0.255"));
  EXPECT_EQ(ip("255.255.255.255").next(), ip("0.0.0.0"));
  EXPECT_EQ(ip("fd00::ffff").plus(1), ip("fd00::1:0"));
  EXPECT_EQ(ip("fd00::1:0").minus(0xffff), ip("fd00::1"));
  EXPECT_EQ(ip("fd00::").minus(1), ip("fcff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
  EXPECT_EQ(ip("10.0.1.5").distance_from(ip("10.0.0.0")), 261u);
  EXPECT_EQ(ip("fd00::1:0:0:0:0").distance_from(ip("fd00::")), UINT64_MAX);
  EXPECT_EQ(ip("fd00::ffff:ffff:ffff:ffff").distance_from(ip("fd00::")), UINT64_MAX);
  EXPECT_EQ(ip("10.0.0.0").v4_host_order(), 0x0a000000u);
  EXPECT_EQ(IpAddr::v4(0x0a000001), ip("10.0.0.1"));
}

TEST(Cidr, Edges) {
  EXPECT_EQ(cidr("10.1.2.3/16").network().str(), "10.1.0.0/16");
  EXPECT_EQ(cidr("10.1.2.3/16").last(), ip("10.1.255.255"));
  EXPECT_TRUE(cidr("10.1.2.3/16").has_host_bits());
  EXPECT_EQ(cidr("10.0.0.1/32").size(), 1u);
  EXPECT_EQ(cidr("10.0.0.0/31").size(), 2u);
  EXPECT_EQ(cidr("0.0.0.0/0").size(), uint64_t{1} << 32);
  EXPECT_EQ(cidr("fd00::/64").size(), UINT64_MAX);
  EXPECT_EQ(cidr("fd00::/127").last(), ip("fd00::1"));
  EXPECT_EQ(cidr("fd00::5/128").first(), ip("fd00::5"));
  EXPECT_TRUE(cidr("10.0.0.0/8").contains(ip("10.255.0.1")));
  EXPECT_FALSE(cidr("10.0.0.0/8").contains(ip("11.0.0.1")));
  EXPECT_FALSE(cidr("10.0.0.0/8").contains(ip("::a00:1")));
  EXPECT_TRUE(cidr("10.0.0.0/8").overlaps(cidr("10.2.0.0/16")));
  EXPECT_TRUE(cidr("10.2.0.0/16").overlaps(cidr("10.0.0.0/8")));
  EXPECT_FALSE(cidr("10.2.0.0/16").overlaps(cidr("10.3.0.0/16")));
  for (const char* bad : {"10.0.0.0", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/", "fd00::/129", "10.0.0.0/8x"}) {
    EXPECT_FALSE(Cidr::parse(bad)) << bad;
  }
}

TEST(Mac, ParsesAndPrints) {
  EXPECT_EQ(Mac::parse("AA:bb:0c:DD:ee:0F")->str(), "aa:bb:0c:dd:ee:0f");
  EXPECT_TRUE(Mac::parse("00:00:00:00:00:00")->is_zero());
  for (const char* bad : {"", "aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:fg", "aabb.ccdd.eeff", "aa:bb:cc:dd:ee:ff:00"}) {
    EXPECT_FALSE(Mac::parse(bad)) << bad;
  }
}

}  // namespace
}  // namespace weir::net
