// ipam/pool: Docker's default pools, skipping host routes and other networks; and the network
// record that keeps a network on its pool.
#include <gtest/gtest.h>

#include "ipam/ipam.hpp"
#include "ipam/pool.hpp"
#include "tests/unit/ipam_testing.hpp"

namespace weir::ipam {
namespace {

using test::cidr;

std::vector<net::Cidr> cidrs(std::initializer_list<const char*> list) {
  std::vector<net::Cidr> out;
  for (auto s : list) out.push_back(cidr(s));
  return out;
}

TEST(IpamPool, DockerOrder) {
  auto pools = default_pools();
  ASSERT_EQ(pools.size(), 15u + 16u);
  EXPECT_EQ(pools[0], cidr("172.17.0.0/16"));
  EXPECT_EQ(pools[14], cidr("172.31.0.0/16"));
  EXPECT_EQ(pools[15], cidr("192.168.0.0/20"));
  EXPECT_EQ(pools[16], cidr("192.168.16.0/20"));
  EXPECT_EQ(pools.back(), cidr("192.168.240.0/20"));
}

TEST(IpamPool, FirstFreeWhenNothingIsUsed) {
  EXPECT_EQ(choose_pool({}, {}), cidr("172.17.0.0/16"));
}

TEST(IpamPool, SkipsOverlappingHostRoutes) {
  // A route inside the pool, a route covering it, a route with host bits in its destination.
  EXPECT_EQ(choose_pool(cidrs({"172.17.5.0/24"}), {}), cidr("172.18.0.0/16"));
  EXPECT_EQ(choose_pool(cidrs({"172.16.0.0/14"}), {}), cidr("172.20.0.0/16"));
  EXPECT_EQ(choose_pool(cidrs({"172.17.0.1/32", "172.18.9.9/16"}), {}), cidr("172.19.0.0/16"));
  EXPECT_EQ(choose_pool(cidrs({"172.16.0.0/12", "192.168.1.0/24"}), {}), cidr("192.168.16.0/20"));
  // Routes that do not touch the pools change nothing.
  EXPECT_EQ(choose_pool(cidrs({"10.0.0.0/8", "192.168.0.0/24"}), cidrs({"172.17.0.0/16"})),
            cidr("172.18.0.0/16"));
}

TEST(IpamPool, SkipsOtherNetworksAndRunsOut) {
  EXPECT_EQ(choose_pool({}, cidrs({"172.17.0.0/16", "172.18.0.0/24"})), cidr("172.19.0.0/16"));
  EXPECT_EQ(choose_pool(cidrs({"172.16.0.0/12", "192.168.0.0/16"}), {}), std::nullopt);
}

// Through the verbs: pools come from (fake) host routes, are recorded, and stay.
class IpamPoolNetwork : public ::testing::Test {
 protected:
  Seams seams(std::vector<net::Cidr> routes) {
    Seams s = test::quiet_seams();
    s.host_routes = [routes, this]() -> Expected<std::vector<net::Cidr>> {
      ++route_reads_;
      return routes;
    };
    return s;
  }
  cni::Call call(const std::string& network, const std::string& cid) {
    return test::make_call(
        {{"name", network}, {"ipam", {{"type", "weir-ipam"}, {"dataDir", tmp_.path()}}}},
        {.container_id = cid});
  }
  test::TempDir tmp_;
  int route_reads_ = 0;
};

TEST_F(IpamPoolNetwork, NetworksGetDistinctPoolsAndKeepThem) {
  auto s = seams(cidrs({"172.17.0.0/16", "10.0.0.0/8"}));
  auto a = add(call("alpha", "c1"), s);
  ASSERT_TRUE(a) << a.error().msg;
  EXPECT_EQ(a->ips.at(0).address.str(), "172.18.0.2/16");
  EXPECT_EQ(a->ips.at(0).gateway, test::ip("172.18.0.1"));
  auto b = add(call("beta", "c1"), s);
  ASSERT_TRUE(b) << b.error().msg;
  EXPECT_EQ(b->ips.at(0).address.str(), "172.19.0.2/16");
  EXPECT_EQ(route_reads_, 2);

  // alpha keeps its pool, even once the host has a route over it, and asks no more.
  auto s2 = seams(cidrs({"172.16.0.0/12"}));
  auto a2 = add(call("alpha", "c2"), s2);
  ASSERT_TRUE(a2) << a2.error().msg;
  EXPECT_EQ(a2->ips.at(0).address.str(), "172.18.0.3/16");
  EXPECT_EQ(route_reads_, 2);

  // A new network now lands in 192.168.0.0/16.
  auto g = add(call("gamma", "c1"), s2);
  ASSERT_TRUE(g) << g.error().msg;
  EXPECT_EQ(g->ips.at(0).address.str(), "192.168.0.2/20");
}

TEST_F(IpamPoolNetwork, ConfiguredRangesAreAvoidedToo) {
  auto s = seams({});
  auto fixed = test::make_call(
      {{"name", "fixed"},
       {"ipam", {{"ranges", {{{{"subnet", "172.17.0.0/24"}}}}}, {"dataDir", tmp_.path()}}}});
  ASSERT_TRUE(add(fixed, s));
  auto p = add(call("pooled", "c1"), s);
  ASSERT_TRUE(p) << p.error().msg;
  EXPECT_EQ(p->ips.at(0).address.str(), "172.18.0.2/16");
}

TEST_F(IpamPoolNetwork, NoPoolLeftIsCode50) {
  auto s = seams(cidrs({"172.16.0.0/12", "192.168.0.0/16"}));
  auto r = add(call("alpha", "c1"), s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, cni::Code::kNotAvailable);
  auto st = status(call("alpha", "c1"), s);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, cni::Code::kNotAvailable);
  EXPECT_TRUE(status(call("alpha", "c1"), seams({})));  // STATUS records nothing
}

}  // namespace
}  // namespace weir::ipam
