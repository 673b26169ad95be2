// ipam/allocator against an in-memory store: order, requests, idempotency, exhaustion.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "ipam/allocator.hpp"
#include "lib/store/sqlite.hpp"
#include "tests/unit/ipam_testing.hpp"

namespace weir::ipam {
namespace {

using test::cidr;
using test::ip;

Range range(std::string_view subnet, std::optional<std::string_view> start = {},
            std::optional<std::string_view> end = {}) {
  RangeParams p{.subnet = cidr(subnet)};
  if (start) p.start = ip(*start);
  if (end) p.end = ip(*end);
  return make_range(p, "r").value();
}

class IpamAllocator : public ::testing::Test {
 protected:
  void SetUp() override { store_.emplace(store::SqliteStore::open_memory().value()); }

  // Allocates for container `cid` in one transaction; the transaction rolls back on failure.
  Expected<std::vector<Assigned>> alloc(const std::string& cid, std::vector<std::string> want = {},
                                        const std::string& ifname = "eth0") {
    AllocRequest req{.network = "n",
                     .sets = &sets_,
                     .order = order_,
                     .container_id = cid,
                     .ifname = ifname,
                     .netns = "/ns",
                     .now = 1};
    for (const auto& w : want) req.requested.push_back({ip(w), "runtimeConfig.ips[0]"});
    std::vector<Assigned> out;
    auto ok = store_->transact([&](store::Txn& t) -> Expected<void> {
      auto a = allocate(t, req);
      if (!a) return fail(a.error());
      out = *a;
      return {};
    });
    if (!ok) return fail(ok.error());
    return out;
  }
  std::string first(const std::string& cid) {
    auto a = alloc(cid);
    EXPECT_TRUE(a) << (a ? "" : a.error().msg);
    return a && !a->empty() ? a->front().address.str() : "";
  }
  void release(const std::string& cid) {
    ASSERT_TRUE(store_->transact([&](store::Txn& t) -> Expected<void> {
      auto n = t.release("n", cid, "eth0");
      if (!n) return fail(n.error());
      return {};
    }));
  }
  size_t lease_count() {
    size_t n = 0;
    EXPECT_TRUE(store_->view([&](store::Txn& t) -> Expected<void> {
      n = t.list_leases("n").value().size();
      return {};
    }));
    return n;
  }

  std::optional<store::SqliteStore> store_;
  std::vector<RangeSet> sets_ = {{range("10.0.0.0/29")}};  // .2-.6 (.1 gateway, .7 broadcast)
  Order order_ = Order::kRoundRobin;
};

TEST_F(IpamAllocator, RoundRobinDoesNotReuseAFreedAddressAtOnce) {
  EXPECT_EQ(first("a"), "10.0.0.2");
  EXPECT_EQ(first("b"), "10.0.0.3");
  release("a");
  EXPECT_EQ(first("c"), "10.0.0.4");
  EXPECT_EQ(first("d"), "10.0.0.5");
  EXPECT_EQ(first("e"), "10.0.0.6");
  EXPECT_EQ(first("f"), "10.0.0.2");  // wrapped around, skipping the gateway .1
  auto full = alloc("g");
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, cni::Code::kNotAvailable);
  EXPECT_NE(full.error().msg.find("range set 0 (10.0.0.0/29)"), std::string::npos)
      << full.error().msg;
  EXPECT_EQ(lease_count(), 5u);
  ASSERT_TRUE(store_->verify());
}

TEST_F(IpamAllocator, LowestReusesTheLowestFree) {
  order_ = Order::kLowest;
  EXPECT_EQ(first("a"), "10.0.0.2");
  EXPECT_EQ(first("b"), "10.0.0.3");
  EXPECT_EQ(first("c"), "10.0.0.4");
  release("b");
  EXPECT_EQ(first("d"), "10.0.0.3");
  EXPECT_EQ(first("e"), "10.0.0.5");
}

TEST_F(IpamAllocator, RoundRobinWalksEveryRangeOfASet) {
  sets_ = {{range("10.0.0.0/24", "10.0.0.10", "10.0.0.11"),
            range("10.0.1.0/24", "10.0.1.20", "10.0.1.21")}};
  EXPECT_EQ(first("a"), "10.0.0.10");
  EXPECT_EQ(first("b"), "10.0.0.11");
  EXPECT_EQ(first("c"), "10.0.1.20");
  release("a");
  EXPECT_EQ(first("d"), "10.0.1.21");
  EXPECT_EQ(first("e"), "10.0.0.10");  // wraps to the first range
  EXPECT_FALSE(alloc("f"));
}

TEST_F(IpamAllocator, GatewayInsideAnExplicitRangeIsSkipped) {
  RangeParams p{.subnet = cidr("10.0.0.0/24"),
                .start = ip("10.0.0.1"),
                .end = ip("10.0.0.3"),
                .gateway = ip("10.0.0.2")};
  sets_ = {{make_range(p, "r").value()}};
  EXPECT_EQ(first("a"), "10.0.0.1");
  EXPECT_EQ(first("b"), "10.0.0.3");
  EXPECT_FALSE(alloc("c"));
}

TEST_F(IpamAllocator, DualStackGetsOneAddressPerSet) {
  sets_ = {{range("10.0.0.0/24")}, {range("fd00::/64")}};
  auto a = alloc("a");
  ASSERT_TRUE(a) << a.error().msg;
  ASSERT_EQ(a->size(), 2u);
  EXPECT_EQ((*a)[0].address, ip("10.0.0.2"));
  EXPECT_EQ((*a)[0].range.gateway, ip("10.0.0.1"));
  EXPECT_EQ((*a)[1].address, ip("fd00::2"));
  EXPECT_EQ((*a)[1].range_set, 1);
}

TEST_F(IpamAllocator, SameAttachmentKeepsItsAddress) {
  EXPECT_EQ(first("a"), "10.0.0.2");
  EXPECT_EQ(first("a"), "10.0.0.2");
  EXPECT_EQ(alloc("a", {}, "eth1").value().front().address, ip("10.0.0.3"));
  EXPECT_EQ(alloc("a", {"10.0.0.2"}).value().front().address, ip("10.0.0.2"));
  auto other = alloc("a", {"10.0.0.5"});
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, cni::Code::kInvalidConfig);
  EXPECT_EQ(lease_count(), 2u);
}

TEST_F(IpamAllocator, RequestedAddresses) {
  EXPECT_EQ(alloc("a", {"10.0.0.5"}).value().front().address, ip("10.0.0.5"));
  EXPECT_EQ(first("b"), "10.0.0.6");  // round-robin goes on after the requested one

  auto taken = alloc("c", {"10.0.0.5"});
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, cni::Code::kAddressInUse);
  EXPECT_NE(taken.error().msg.find("\"a\""), std::string::npos) << taken.error().msg;

  auto gateway = alloc("c", {"10.0.0.1"});
  ASSERT_FALSE(gateway);
  EXPECT_EQ(gateway.error().code, cni::Code::kInvalidConfig);
  EXPECT_NE(gateway.error().msg.find("gateway"), std::string::npos);

  for (auto outside : {"10.0.0.7", "10.0.0.0", "10.9.0.1", "fd00::5"}) {
    auto r = alloc("c", {outside});
    ASSERT_FALSE(r) << outside;
    EXPECT_EQ(r.error().code, cni::Code::kInvalidConfig);
    EXPECT_NE(r.error().msg.find("\"runtimeConfig.ips[0]\""), std::string::npos) << r.error().msg;
    EXPECT_NE(r.error().msg.find("outside"), std::string::npos) << r.error().msg;
  }
  auto two = alloc("c", {"10.0.0.3", "10.0.0.4"});
  ASSERT_FALSE(two);
  EXPECT_EQ(two.error().code, cni::Code::kInvalidConfig);
  EXPECT_EQ(lease_count(), 2u);  // nothing written by the failures
}

TEST_F(IpamAllocator, FailureInALaterSetLeavesNothing) {
  sets_ = {{range("10.0.0.0/24")}, {range("fd00::/126")}};  // the v6 set has 2 addresses
  ASSERT_TRUE(alloc("a"));
  ASSERT_TRUE(alloc("b"));
  auto c = alloc("c");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, cni::Code::kNotAvailable);
  EXPECT_NE(c.error().msg.find("range set 1"), std::string::npos);
  EXPECT_EQ(lease_count(), 4u);  // c's IPv4 lease was rolled back
  ASSERT_TRUE(store_->verify());
}

TEST_F(IpamAllocator, FirstExhausted) {
  sets_ = {{range("10.0.0.0/24")}, {range("10.1.0.0/30")}};
  auto exhausted = [&] {
    std::optional<int> out;
    EXPECT_TRUE(store_->view([&](store::Txn& t) -> Expected<void> {
      out = first_exhausted(t, "n", sets_).value();
      return {};
    }));
    return out;
  };
  EXPECT_EQ(exhausted(), std::nullopt);
  ASSERT_TRUE(alloc("a"));
  EXPECT_EQ(exhausted(), 1);
  release("a");
  EXPECT_EQ(exhausted(), std::nullopt);
}

TEST_F(IpamAllocator, CursorOutsideTheRangesRestartsAtTheStart) {
  ASSERT_TRUE(
      store_->transact([](store::Txn& t) { return t.set_cursor("n", 0, ip("192.168.9.9")); }));
  EXPECT_EQ(first("a"), "10.0.0.2");
  ASSERT_TRUE(store_->transact([](store::Txn& t) { return t.set_cursor("n", 0, ip("10.0.0.6")); }));
  EXPECT_EQ(first("b"), "10.0.0.3");  // after the last address: wraps to the start
}

TEST_F(IpamAllocator, LargeV6RangeStartsNearTheEndAndWraps) {
  sets_ = {{range("fd00::/64", "fd00::ffff:ffff:ffff:fffe")}};
  EXPECT_EQ(first("a"), "fd00::ffff:ffff:ffff:fffe");
  EXPECT_EQ(first("b"), "fd00::ffff:ffff:ffff:ffff");
  EXPECT_FALSE(alloc("c"));
}

// Allocation cost does not depend on how many leases exist: a dense block of leases in front of
// the cursor is skipped in one index lookup.
TEST_F(IpamAllocator, DenseLeasesAreSkippedInOneStep) {
  sets_ = {{range("10.0.0.0/16")}};
  order_ = Order::kLowest;
  ASSERT_TRUE(store_->transact([](store::Txn& t) -> Expected<void> {
    net::IpAddr a = ip("10.0.0.2");
    for (int i = 0; i < 20000; ++i, a = a.next()) {
      auto ok = t.claim({.network = "n",
                         .address = a,
                         .container_id = "x" + std::to_string(i),
                         .ifname = "eth0",
                         .netns = "/ns"});
      if (!ok) return fail(ok.error());
    }
    return {};
  }));
  EXPECT_EQ(first("a"), net::IpAddr::parse("10.0.0.2")->plus(20000).str());
}

// The rule: the cost of an ADD or DEL must not grow with the number of leases. A query
// that walked the leases (a bad plan, a missing index) would be hundreds of times slower with
// 50,000 of them; the bound is loose so that a busy machine does not fail it.
TEST_F(IpamAllocator, AddAndDelCostDoesNotGrowWithLeases) {
  sets_ = {{range("10.0.0.0/16")}};
  auto median_us = [&] {
    std::vector<double> t;
    for (int i = 0; i < 101; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      EXPECT_TRUE(alloc("probe"));
      release("probe");
      t.push_back(
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  };
  const double empty = median_us();
  ASSERT_TRUE(store_->transact([](store::Txn& t) -> Expected<void> {
    net::IpAddr a = ip("10.0.128.0");
    for (int i = 0; i < 50000; ++i, a = a.next()) {
      auto ok = t.claim({.network = "n",
                         .address = a,
                         .container_id = "x" + std::to_string(i),
                         .ifname = "eth0",
                         .netns = "/ns"});
      if (!ok) return fail(ok.error());
    }
    return {};
  }));
  const double full = median_us();
  EXPECT_LT(full, 10 * empty + 200)
      << "median ADD+DEL " << empty << " us with no leases, " << full << " us with 50,000";
}

}  // namespace
}  // namespace weir::ipam
