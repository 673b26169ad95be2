// lib/store: the backend-neutral behaviour of a Store, the same test bodies on every backend:
// SQLite (in memory) and etcd (a throw-away etcd per suite, a key prefix per test; skipped without
// etcd). SQLite's file and index checks live in store_sqlite_test.cpp, etcd's own (hosts,
// conflicts, limits) in store_etcd_test.cpp.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <random>
#include <set>

#include "lib/store/etcd_store.hpp"
#include "lib/store/sqlite.hpp"
#include "tests/support/etcd_fixture.hpp"
#include "tests/unit/ipam_testing.hpp"

namespace weir::store {
namespace {

using test::cidr;
using test::ip;

Lease lease(std::string_view addr, std::string cid = "c1", std::string ifname = "eth0") {
  return {.network = "n",
          .range_set = 0,
          .address = ip(addr),
          .container_id = std::move(cid),
          .ifname = std::move(ifname),
          .netns = "/ns",
          .created = 7};
}

enum class Backend { kSqlite, kEtcd };

std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "sqlite" : "etcd";
}
void PrintTo(Backend b, std::ostream* os) {
  *os << (b == Backend::kSqlite ? "sqlite" : "etcd");
}

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  static void TearDownTestSuite() { etcd_.reset(); }

  void SetUp() override {
    if (GetParam() == Backend::kSqlite) {
      auto s = SqliteStore::open_memory();
      ASSERT_TRUE(s) << s.error().msg;
      sqlite_ = std::make_unique<SqliteStore>(std::move(*s));
      store_ = sqlite_.get();
      return;
    }
    WEIR_REQUIRE_ETCD();
    if (!etcd_) etcd_ = std::make_unique<test::EtcdCluster>();  // one per suite
    static std::atomic<int> tests{0};
    auto s = EtcdStore::open({.endpoints = etcd_->endpoints()},
                             {.prefix = "/weir-test/" + std::to_string(++tests), .host = "host-a"});
    ASSERT_TRUE(s) << s.error().msg;
    etcd_store_ = std::move(*s);
    store_ = etcd_store_.get();
  }

  // Runs fn in a write transaction and expects it to succeed.
  void write(const std::function<void(Txn&)>& fn) {
    auto ok = store_->transact([&](Txn& t) -> Expected<void> {
      fn(t);
      return {};
    });
    ASSERT_TRUE(ok) << ok.error().msg;
  }
  std::optional<net::IpAddr> first_free(std::string_view from, std::string_view to) {
    std::optional<net::IpAddr> out;
    write([&](Txn& t) { out = t.first_free("n", ip(from), ip(to)).value(); });
    return out;
  }
  // SQLite's run index matches its leases (etcd has no index to check).
  Expected<void> verify_index() { return sqlite_ ? sqlite_->verify() : Expected<void>{}; }
  // A record as the store gives it back: naming this host on a shared store.
  template <class Record>
  Record stamped(Record r) const {
    r.host = std::string(store_->host());
    return r;
  }

  static inline std::unique_ptr<test::EtcdCluster> etcd_;
  std::unique_ptr<SqliteStore> sqlite_;
  std::unique_ptr<EtcdStore> etcd_store_;
  Store* store_ = nullptr;
};

TEST_P(StoreTest, ClaimIsCreateIfAbsent) {
  write([&](Txn& t) {
    EXPECT_TRUE(t.claim(lease("10.0.0.2")).value());
    EXPECT_FALSE(t.claim(lease("10.0.0.2", "c2")).value());
    // The same address in another network is another lease.
    Lease other = lease("10.0.0.2", "c3");
    other.network = "m";
    EXPECT_TRUE(t.claim(other).value());
    auto got = t.get_lease("n", ip("10.0.0.2")).value();
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, stamped(lease("10.0.0.2")));
    EXPECT_FALSE(t.get_lease("n", ip("10.0.0.3")).value());
  });
}

TEST_P(StoreTest, ReleaseByAttachmentIsIdempotent) {
  write([](Txn& t) {
    ASSERT_TRUE(t.claim(lease("10.0.0.2")).value());
    ASSERT_TRUE(t.claim(lease("fd00::2")).value());
    ASSERT_TRUE(t.claim(lease("10.0.0.3", "c1", "eth1")).value());
    EXPECT_EQ(t.leases_of("n", "c1", "eth0").value().size(), 2u);
    EXPECT_EQ(t.release("n", "c1", "eth0").value(), 2);
    EXPECT_EQ(t.release("n", "c1", "eth0").value(), 0);
    EXPECT_EQ(t.list_leases("n").value().size(), 1u);
    EXPECT_TRUE(t.release_address("n", ip("10.0.0.3")).value());
    EXPECT_FALSE(t.release_address("n", ip("10.0.0.3")).value());
    EXPECT_TRUE(t.list_leases("").value().empty());
  });
  ASSERT_TRUE(verify_index());
}

TEST_P(StoreTest, FirstFreeFollowsRunsOfLeases) {
  write([](Txn& t) {
    for (auto a : {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.5", "10.0.0.6"}) {
      ASSERT_TRUE(t.claim(lease(a, a)).value());
    }
  });
  EXPECT_EQ(first_free("10.0.0.1", "10.0.0.254"), ip("10.0.0.4"));
  EXPECT_EQ(first_free("10.0.0.0", "10.0.0.254"), ip("10.0.0.0"));
  EXPECT_EQ(first_free("10.0.0.5", "10.0.0.254"), ip("10.0.0.7"));
  EXPECT_EQ(first_free("10.0.0.5", "10.0.0.6"), std::nullopt);
  EXPECT_EQ(first_free("10.0.0.3", "10.0.0.3"), std::nullopt);
  EXPECT_EQ(first_free("10.0.0.4", "10.0.0.4"), ip("10.0.0.4"));
  // IPv6 keys never mix with IPv4 ones.
  EXPECT_EQ(first_free("a00:1::", "a00:1::ff"), ip("a00:1::"));
  EXPECT_EQ(first_free("10.0.0.9", "10.0.0.1"), std::nullopt);  // empty interval
  ASSERT_TRUE(verify_index());
}

TEST_P(StoreTest, RunsMergeAndSplit) {
  // Fill 1..5 out of order (merging on both sides), then free the middle (splitting).
  write([](Txn& t) {
    for (auto a : {"10.0.0.1", "10.0.0.3", "10.0.0.5", "10.0.0.2", "10.0.0.4"}) {
      ASSERT_TRUE(t.claim(lease(a, a)).value());
    }
  });
  ASSERT_TRUE(verify_index());
  EXPECT_EQ(first_free("10.0.0.1", "10.0.0.9"), ip("10.0.0.6"));
  write([](Txn& t) { ASSERT_TRUE(t.release_address("n", ip("10.0.0.3")).value()); });
  ASSERT_TRUE(verify_index());
  EXPECT_EQ(first_free("10.0.0.1", "10.0.0.9"), ip("10.0.0.3"));
  EXPECT_EQ(first_free("10.0.0.4", "10.0.0.9"), ip("10.0.0.6"));
  write([](Txn& t) {
    ASSERT_TRUE(t.release_address("n", ip("10.0.0.1")).value());
    ASSERT_TRUE(t.release_address("n", ip("10.0.0.5")).value());
  });
  ASSERT_TRUE(verify_index());
  EXPECT_EQ(first_free("10.0.0.2", "10.0.0.9"), ip("10.0.0.3"));
}

TEST_P(StoreTest, EdgesOfTheAddressSpace) {
  write([](Txn& t) {
    for (auto a : {"0.0.0.0", "0.0.0.1", "255.255.255.254", "255.255.255.255",
                   "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}) {
      ASSERT_TRUE(t.claim(lease(a, "x")).value()) << a;
    }
  });
  ASSERT_TRUE(verify_index());
  EXPECT_EQ(first_free("0.0.0.0", "255.255.255.255"), ip("0.0.0.2"));
  EXPECT_EQ(first_free("255.255.255.254", "255.255.255.255"), std::nullopt);
  EXPECT_EQ(first_free("::", "::1"), ip("::1"));
  write([](Txn& t) {
    ASSERT_TRUE(t.release_address("n", ip("255.255.255.255")).value());
    ASSERT_TRUE(t.release_address("n", ip("0.0.0.0")).value());
  });
  ASSERT_TRUE(verify_index());
  EXPECT_EQ(first_free("255.255.255.254", "255.255.255.255"), ip("255.255.255.255"));
}

// The run index against a plain set, under random claims and releases.
TEST_P(StoreTest, RandomClaimsAndReleasesMatchAModel) {
  std::mt19937 rng(42);
  std::set<uint32_t> model;
  const uint32_t base = 0x0a000000;
  for (int round = 0; round < 40; ++round) {
    write([&](Txn& t) {
      for (int i = 0; i < 25; ++i) {
        uint32_t off = rng() % 64;
        net::IpAddr a = net::IpAddr::v4(base + off);
        if (rng() % 3 != 0) {
          EXPECT_EQ(t.claim(lease(a.str(), "c" + std::to_string(off))).value(),
                    model.insert(off).second);
        } else {
          EXPECT_EQ(t.release_address("n", a).value(), model.erase(off) == 1);
        }
      }
      uint32_t from = rng() % 64;
      auto got = t.first_free("n", net::IpAddr::v4(base + from), net::IpAddr::v4(base + 63));
      uint32_t want = from;
      while (want < 64 && model.contains(want)) ++want;
      EXPECT_EQ(got.value(),
                want < 64 ? std::optional(net::IpAddr::v4(base + want)) : std::nullopt);
      EXPECT_EQ(t.count_leases("n", net::IpAddr::v4(base), net::IpAddr::v4(base + 63)).value(),
                model.size());
    });
  }
  ASSERT_TRUE(verify_index());
}

TEST_P(StoreTest, FailedTransactionWritesNothing) {
  auto r = store_->transact([](Txn& t) -> Expected<void> {
    EXPECT_TRUE(t.claim(lease("10.0.0.2")).value());
    return fail(cni::internal("boom"));
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().msg, "boom");
  write([](Txn& t) { EXPECT_TRUE(t.list_leases("").value().empty()); });
  ASSERT_TRUE(verify_index());
}

TEST_P(StoreTest, ViewRefusesWrites) {
  auto r = store_->view([](Txn& t) -> Expected<void> {
    auto c = t.claim(lease("10.0.0.2"));
    if (!c) return fail(c.error());
    return {};
  });
  ASSERT_FALSE(r);
  write([](Txn& t) { EXPECT_TRUE(t.list_leases("").value().empty()); });
}

TEST_P(StoreTest, NetworksCursorsAndMeta) {
  write([](Txn& t) {
    NetworkRecord n{
        .name = "b", .subnets = {cidr("172.18.0.0/16"), cidr("fd00::/64")}, .created = 5};
    ASSERT_TRUE(t.put_network(n));
    ASSERT_TRUE(t.put_network({.name = "a", .subnets = {}, .created = 1}));
    EXPECT_EQ(t.get_network("b").value(), n);
    EXPECT_FALSE(t.get_network("c").value());
    auto all = t.list_networks().value();
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].name, "a");
    ASSERT_TRUE(t.del_network("a"));
    ASSERT_TRUE(t.del_network("a"));
    EXPECT_EQ(t.list_networks().value().size(), 1u);

    EXPECT_FALSE(t.get_cursor("b", 0).value());
    ASSERT_TRUE(t.set_cursor("b", 0, ip("172.18.0.9")));
    ASSERT_TRUE(t.set_cursor("b", 1, ip("fd00::9")));
    ASSERT_TRUE(t.set_cursor("b", 0, ip("172.18.0.10")));
    EXPECT_EQ(t.get_cursor("b", 0).value(), ip("172.18.0.10"));
    EXPECT_EQ(t.get_cursor("b", 1).value(), ip("fd00::9"));

    EXPECT_FALSE(t.get_meta("k").value());
    ASSERT_TRUE(t.put_meta("k", "v1"));
    ASSERT_TRUE(t.put_meta("k", "v2"));
    EXPECT_EQ(t.get_meta("k").value(), "v2");
  });
}

TEST_P(StoreTest, EndpointsWithNamesAndAliases) {
  Endpoint e{.network = "n",
             .container_id = "c1",
             .ifname = "eth0",
             .netns = "/ns",
             .mac = "02:42:ac:11:00:02",
             .host_ifname = "veth1",
             .ips = {cidr("172.17.0.2/16"), cidr("fd00::2/64")},
             .names = {"web"},
             .aliases = {"www", "Front"},
             .extra = R"({"ports":[80]})",
             .created = 3};
  write([&](Txn& t) {
    ASSERT_TRUE(t.put_endpoint(e));
    Endpoint e2 = e;
    e2.container_id = "c2";
    e2.names = {"db"};
    e2.aliases = {"www"};
    ASSERT_TRUE(t.put_endpoint(e2));
    EXPECT_EQ(t.get_endpoint("n", "c1", "eth0").value(), stamped(e));
    EXPECT_EQ(t.endpoints_named("n", "www").value().size(), 2u);
    EXPECT_EQ(t.endpoints_named("n", "FRONT").value().size(), 1u);  // DNS is case-insensitive
    EXPECT_TRUE(t.endpoints_named("m", "www").value().empty());
    // Replacing an endpoint replaces its names.
    e2.aliases = {};
    ASSERT_TRUE(t.put_endpoint(e2));
    EXPECT_EQ(t.endpoints_named("n", "www").value().size(), 1u);
    EXPECT_EQ(t.list_endpoints("n").value().size(), 2u);
    ASSERT_TRUE(t.del_endpoint("n", "c1", "eth0"));
    ASSERT_TRUE(t.del_endpoint("n", "c1", "eth0"));
    EXPECT_TRUE(t.endpoints_named("n", "web").value().empty());
    EXPECT_EQ(t.list_endpoints("").value().size(), 1u);
    EXPECT_TRUE(t.has_endpoints("n").value());
    EXPECT_FALSE(t.has_endpoints("m").value());
    EXPECT_TRUE(t.has_endpoints("").value()) << "any network";
    ASSERT_TRUE(t.del_endpoint("n", "c2", "eth0"));
    EXPECT_FALSE(t.has_endpoints("n").value());
    EXPECT_FALSE(t.has_endpoints("").value());
  });
}

// Names that need escaping in etcd keys ('/' and '%', and names that are prefixes of others)
// come back whole and in the SQLite backend's order.
TEST_P(StoreTest, NamesWithSlashesAndPercentSignsKeepTheirOrder) {
  const std::vector<std::string> nets = {"a-b", "a/b", "a", "a%2Fb", "a%b", "ab"};
  write([&](Txn& t) {
    for (const auto& n : nets) {
      ASSERT_TRUE(t.put_network({.name = n, .subnets = {cidr("10.9.0.0/24")}, .created = 1}));
      Lease l = lease("10.9.0.5", "c/" + n, "eth/0");
      l.network = n;
      ASSERT_TRUE(t.claim(l).value()) << n;
      ASSERT_TRUE(t.put_endpoint(
          {.network = n, .container_id = "c/" + n, .ifname = "eth/0", .names = {"x/" + n}}));
    }
  });
  std::vector<std::string> sorted = nets;
  std::ranges::sort(sorted);
  write([&](Txn& t) {
    auto networks = t.list_networks().value();
    ASSERT_EQ(networks.size(), nets.size());
    auto leases = t.list_leases("").value();
    ASSERT_EQ(leases.size(), nets.size());
    auto endpoints = t.list_endpoints("").value();
    ASSERT_EQ(endpoints.size(), nets.size());
    for (size_t i = 0; i < sorted.size(); ++i) {
      EXPECT_EQ(networks[i].name, sorted[i]);
      EXPECT_EQ(leases[i].network, sorted[i]);
      EXPECT_EQ(leases[i].container_id, "c/" + sorted[i]);
      EXPECT_EQ(endpoints[i].network, sorted[i]);
    }
    for (const auto& n : nets) {
      // One network's records only, not those of a network whose name it begins.
      EXPECT_EQ(t.list_leases(n).value().size(), 1u) << n;
      EXPECT_EQ(t.list_endpoints(n).value().size(), 1u) << n;
      EXPECT_EQ(t.leases_of(n, "c/" + n, "eth/0").value().size(), 1u) << n;
      EXPECT_EQ(t.endpoints_named(n, "X/" + n).value().size(), 1u) << n;
      EXPECT_TRUE(t.get_lease(n, ip("10.9.0.5")).value()) << n;
    }
    EXPECT_EQ(t.release("a", "c/a", "eth/0").value(), 1);
    EXPECT_EQ(t.list_leases("").value().size(), nets.size() - 1);
    EXPECT_EQ(t.leases_of("a/b", "c/a/b", "eth/0").value().size(), 1u);
  });
}

// A transaction reads what it wrote before committing it, on every read path.
TEST_P(StoreTest, ReadsSeeTheTransactionsOwnWrites) {
  write([](Txn& t) {
    for (auto a : {"10.0.0.1", "10.0.0.2", "10.0.0.3"}) ASSERT_TRUE(t.claim(lease(a, a)).value());
    ASSERT_TRUE(
        t.put_endpoint({.network = "n", .container_id = "c1", .ifname = "eth0", .names = {"web"}}));
  });
  write([](Txn& t) {
    ASSERT_TRUE(t.release_address("n", ip("10.0.0.2")).value());
    EXPECT_EQ(t.first_free("n", ip("10.0.0.1"), ip("10.0.0.9")).value(), ip("10.0.0.2"));
    EXPECT_EQ(t.count_leases("n", ip("10.0.0.0"), ip("10.0.0.255")).value(), 2u);
    ASSERT_TRUE(t.claim(lease("10.0.0.4", "c4")).value());
    ASSERT_TRUE(t.claim(lease("10.0.0.2", "c2")).value());
    EXPECT_FALSE(t.claim(lease("10.0.0.4", "c5")).value());
    EXPECT_EQ(t.first_free("n", ip("10.0.0.1"), ip("10.0.0.9")).value(), ip("10.0.0.5"));
    EXPECT_EQ(t.count_leases("n", ip("10.0.0.0"), ip("10.0.0.255")).value(), 4u);
    EXPECT_EQ(t.leases_of("n", "c4", "eth0").value().size(), 1u);
    EXPECT_EQ(t.get_lease("n", ip("10.0.0.2")).value()->container_id, "c2");
    EXPECT_EQ(t.list_leases("n").value().size(), 4u);
    ASSERT_TRUE(t.del_endpoint("n", "c1", "eth0"));
    EXPECT_FALSE(t.has_endpoints("n").value());
    EXPECT_TRUE(t.endpoints_named("n", "web").value().empty());
    ASSERT_TRUE(
        t.put_endpoint({.network = "n", .container_id = "c9", .ifname = "eth0", .names = {"db"}}));
    EXPECT_TRUE(t.has_endpoints("").value());
    EXPECT_EQ(t.endpoints_named("n", "DB").value().size(), 1u);
    ASSERT_TRUE(t.set_cursor("n", 0, ip("10.0.0.4")));
    EXPECT_EQ(t.get_cursor("n", 0).value(), ip("10.0.0.4"));
  });
  ASSERT_TRUE(verify_index());
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values(Backend::kSqlite, Backend::kEtcd),
                         backend_name);

}  // namespace
}  // namespace weir::store
