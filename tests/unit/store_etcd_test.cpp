// lib/store: what only the etcd backend has: hosts sharing one store (claims racing from two
// hosts, conflicts re-run, meta per host, presence on etcd leases), etcd's limits, the layout
// version, and what an allocation costs in requests. A throw-away etcd per suite
// (tests/support/etcd_fixture.hpp), a key prefix per test; skipped without etcd.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "lib/store/etcd_store.hpp"
#include "tests/support/etcd_fixture.hpp"
#include "tests/unit/ipam_testing.hpp"

namespace weir::store {
namespace {

using test::cidr;
using test::ip;

Lease lease(const net::IpAddr& addr, std::string cid, std::string ifname = "eth0") {
  return {.network = "n",
          .range_set = 0,
          .address = addr,
          .container_id = std::move(cid),
          .ifname = std::move(ifname),
          .netns = "/ns",
          .created = 7};
}

// A loopback port nobody listens on (bound, then closed).
int dead_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  ::close(fd);
  return ntohs(sa.sin_port);
}

class StoreEtcd : public ::testing::Test {
 protected:
  static void TearDownTestSuite() { etcd_.reset(); }
  void SetUp() override {
    WEIR_REQUIRE_ETCD();
    if (!etcd_) etcd_ = std::make_unique<test::EtcdCluster>();
    static std::atomic<int> tests{0};
    prefix_ = "/weir-etcd-test/" + std::to_string(++tests);
  }
  std::unique_ptr<EtcdStore> open(const std::string& host, EtcdOptions options = {}) {
    options.prefix = prefix_;
    options.host = host;
    auto s = EtcdStore::open({.endpoints = etcd_->endpoints()}, options);
    EXPECT_TRUE(s) << s.error().msg;
    return s ? std::move(*s) : nullptr;
  }
  static inline std::unique_ptr<test::EtcdCluster> etcd_;
  std::string prefix_;
};

// Two hosts (four stores each, one per thread) allocate from one /26 at once, as the allocator
// does: first_free, then claim, in one transaction. Every address is leased once, all of them
// are, and the only failure is "no free address".
TEST_F(StoreEtcd, HostsClaimingConcurrentlyNeverShareAnAddress) {
  constexpr int kThreads = 8;
  constexpr int kClaims = 50;
  const net::IpAddr lo = ip("10.1.0.1");
  const net::IpAddr hi = ip("10.1.0.62");
  std::vector<std::unique_ptr<EtcdStore>> stores;
  for (int i = 0; i < kThreads; ++i) {
    // An attempt fails only when another transaction committed a key it read, after it read:
    // here a claim in the range, and each failed attempt needs a new one. 62 claims fit, so 63
    // attempts always suffice (16 ran out in 4 runs of 10 of this herd; the default is 64).
    stores.push_back(open(i % 2 ? "host-b" : "host-a", {.max_attempts = 63}));
    ASSERT_TRUE(stores.back());
  }
  std::atomic<int> claimed{0}, full{0}, attempts{0}, most{0};
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < kClaims; ++k) {
        bool got = false;
        int runs = 0;
        auto ok = stores[i]->transact([&](Txn& t) -> Expected<void> {
          ++attempts;
          ++runs;
          got = false;
          auto free = t.first_free("n", lo, hi);
          if (!free) return fail(free.error());
          if (!*free) return {};
          auto c = t.claim(lease(**free, "t" + std::to_string(i) + "-" + std::to_string(k)));
          if (!c) return fail(c.error());
          if (!*c) return fail(cni::internal("free address " + (*free)->str() + " is taken"));
          got = true;
          return {};
        });
        for (int m = most; runs > m && !most.compare_exchange_weak(m, runs);) {
        }
        if (!ok) {
          errors[i] += ok.error().msg + "\n";
        } else if (got) {
          ++claimed;
        } else {
          ++full;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i) EXPECT_EQ(errors[i], "") << "thread " << i;
  EXPECT_EQ(claimed.load(), 62);
  EXPECT_EQ(full.load(), kThreads * kClaims - 62);
  std::vector<Lease> leases;
  ASSERT_TRUE(stores[0]->view([&](Txn& t) -> Expected<void> {
    leases = t.list_leases("n").value();
    EXPECT_EQ(t.count_leases("n", lo, hi).value(), 62u);
    EXPECT_FALSE(t.first_free("n", lo, hi).value());
    return {};
  }));
  std::set<net::IpAddr> addresses;
  std::map<std::string, int> per_host;
  for (const auto& l : leases) {
    EXPECT_TRUE(addresses.insert(l.address).second) << l.address.str() << " twice";
    ++per_host[l.host];
  }
  EXPECT_EQ(addresses.size(), 62u);
  EXPECT_EQ(per_host["host-a"] + per_host["host-b"], 62);
  std::cout << "[          ] " << kThreads * kClaims << " transactions ran their callback "
            << attempts.load() << " times, one of them " << most.load() << " times\n";
}

// A transaction whose read changed before it committed runs again, and commits on fresh reads.
TEST_F(StoreEtcd, ConflictingTransactionRunsAgain) {
  auto a = open("host-a");
  auto b = open("host-b");
  ASSERT_TRUE(a && b);
  int runs = 0;
  auto ok = a->transact([&](Txn& t) -> Expected<void> {
    ++runs;
    auto n = t.get_network("n");
    if (!n) return fail(n.error());
    if (runs == 1) {
      EXPECT_FALSE(*n);
      // Another host writes what this transaction read.
      EXPECT_TRUE(b->transact([](Txn& tb) { return tb.put_network({.name = "n", .created = 2}); }));
    } else {
      EXPECT_TRUE(*n);
    }
    int64_t created = *n ? (*n)->created + 1 : 1;
    return t.put_network({.name = "n", .created = created});
  });
  ASSERT_TRUE(ok) << ok.error().msg;
  EXPECT_EQ(runs, 2);
  ASSERT_TRUE(b->view([](Txn& t) -> Expected<void> {
    EXPECT_EQ(t.get_network("n").value()->created, 3);
    return {};
  }));
  // A view commits nothing, so it never runs again.
  runs = 0;
  ASSERT_TRUE(a->view([&](Txn& t) -> Expected<void> {
    ++runs;
    EXPECT_TRUE(t.get_network("n").value());
    EXPECT_TRUE(b->transact([](Txn& tb) { return tb.del_network("n"); }));
    return {};
  }));
  EXPECT_EQ(runs, 1);
}

TEST_F(StoreEtcd, KeptConflictingIsTryAgainLater) {
  auto a = open("host-a", {.max_attempts = 3});
  auto b = open("host-b");
  ASSERT_TRUE(a && b);
  int runs = 0;
  auto ok = a->transact([&](Txn& t) -> Expected<void> {
    ++runs;
    (void)t.get_meta("k");
    EXPECT_TRUE(
        b->transact([&](Txn& tb) { return tb.put_network({.name = "x", .created = runs}); }));
    (void)t.get_network("x");  // read after b's write: at the snapshot of the first read
    return t.put_meta("k", "v");
  });
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().code, cni::Code::kTryAgainLater);
  EXPECT_NE(ok.error().msg.find("kept conflicting"), std::string::npos) << ok.error().msg;
  EXPECT_EQ(runs, 3);
  ASSERT_TRUE(a->view([](Txn& t) -> Expected<void> {
    EXPECT_FALSE(t.get_meta("k").value());
    return {};
  }));
}

// etcd compacted the revision a transaction reads at: that attempt cannot go on, the next one
// reads a new snapshot.
TEST_F(StoreEtcd, CompactedSnapshotRunsTheTransactionAgain) {
  auto a = open("host-a");
  auto b = open("host-b");
  ASSERT_TRUE(a && b);
  int runs = 0;
  auto ok = a->transact([&](Txn& t) -> Expected<void> {
    ++runs;
    if (auto m = t.get_meta("k"); !m) return fail(m.error());  // the snapshot
    if (runs == 1) {
      EXPECT_TRUE(b->transact([](Txn& tb) { return tb.put_network({.name = "n"}); }));
      auto now = b->client().range({.key = "x"});
      EXPECT_TRUE(now);
      if (now) etcd_->etcdctl({"compact", std::to_string(now->revision)});
    }
    auto n = t.get_network("n");
    if (!n) return fail(n.error());
    EXPECT_TRUE(*n);
    return t.put_meta("k", "v");
  });
  ASSERT_TRUE(ok) << ok.error().msg;
  EXPECT_EQ(runs, 2);
  // A view cannot run again: it fails (etcd's error).
  auto v = a->view([&](Txn& t) -> Expected<void> {
    if (auto m = t.get_meta("k"); !m) return fail(m.error());
    EXPECT_TRUE(b->transact([](Txn& tb) { return tb.del_network("n"); }));
    auto now = b->client().range({.key = "x"});
    EXPECT_TRUE(now);
    if (now) etcd_->etcdctl({"compact", std::to_string(now->revision)});
    auto n = t.get_network("n");
    if (!n) return fail(n.error());
    return {};
  });
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, cni::Code::kStore) << v.error().msg;
}

// etcd takes at most 128 writes (and 128 compares) in one txn: a bigger transaction fails whole.
TEST_F(StoreEtcd, TransactionBeyondEtcdsOpLimitFailsAndWritesNothing) {
  auto s = open("host-a");
  ASSERT_TRUE(s);
  auto claim_n = [&](int n, net::IpAddr base) {
    return s->transact([&](Txn& t) -> Expected<void> {
      for (int i = 0; i < n; ++i) {
        auto c = t.claim(lease(base.plus(i), "c" + std::to_string(i)));
        if (!c) return fail(c.error());
      }
      return {};
    });
  };
  // 64 claims: 128 writes (lease and attachment), 64 compares: the most one txn takes.
  auto ok = claim_n(64, ip("10.2.0.0"));
  ASSERT_TRUE(ok) << ok.error().msg;
  auto big = claim_n(65, ip("10.3.0.0"));
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, cni::Code::kStore);
  EXPECT_NE(big.error().msg.find("--max-txn-ops"), std::string::npos) << big.error().msg;
  ASSERT_TRUE(s->view([](Txn& t) -> Expected<void> {
    EXPECT_EQ(t.list_leases("n").value().size(), 64u);
    EXPECT_EQ(t.count_leases("n", ip("10.3.0.0"), ip("10.3.0.255")).value(), 0u);
    return {};
  }));
}

TEST_F(StoreEtcd, DeadEndpointIsTryAgainLaterNamingIt) {
  const std::string dead = "http://127.0.0.1:" + std::to_string(dead_port());
  auto s = EtcdStore::open({.endpoints = {dead}, .timeout = std::chrono::milliseconds(500)},
                           {.prefix = prefix_, .host = "host-a"});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, cni::Code::kTryAgainLater);
  EXPECT_NE(s.error().msg.find(dead), std::string::npos) << s.error().msg;
  auto nameless = EtcdStore::open({.endpoints = etcd_->endpoints()}, {.prefix = prefix_});
  ASSERT_FALSE(nameless);
  EXPECT_EQ(nameless.error().code, cni::Code::kInvalidConfig);
}

TEST_F(StoreEtcd, LayoutVersionIsWrittenOnceAndCheckedOnOpen) {
  auto s = open("host-a");
  ASSERT_TRUE(s);
  auto v = s->client().range({.key = prefix_ + "/version"});
  ASSERT_TRUE(v) << v.error().msg;
  ASSERT_EQ(v->kvs.size(), 1u);
  EXPECT_EQ(v->kvs[0].value, "1");
  EXPECT_TRUE(open("host-b")) << "the version it knows";
  ASSERT_TRUE(s->client().put(prefix_ + "/version", "2"));
  auto again =
      EtcdStore::open({.endpoints = etcd_->endpoints()}, {.prefix = prefix_, .host = "host-a"});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, cni::Code::kStore);
  EXPECT_NE(again.error().msg.find("\"2\""), std::string::npos) << again.error().msg;
}

TEST_F(StoreEtcd, MetaIsPerHostAndRecordsNameTheirHost) {
  auto a = open("host-a");
  auto b = open("host/b");  // a name that needs escaping in a key
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->host(), "host-a");
  ASSERT_TRUE(a->transact([](Txn& t) -> Expected<void> {
    EXPECT_TRUE(t.owns("host-a") && t.owns("") && !t.owns("host/b"));
    if (auto ok = t.put_meta("boot_id", "boot-a"); !ok) return ok;
    if (auto c = t.claim(lease(ip("10.0.0.2"), "c1")); !c) return fail(c.error());
    return t.put_endpoint({.network = "n", .container_id = "c1", .ifname = "eth0"});
  }));
  ASSERT_TRUE(b->transact([](Txn& t) -> Expected<void> {
    EXPECT_FALSE(t.get_meta("boot_id").value()) << "another host's meta";
    Lease foreign = lease(ip("10.0.0.3"), "c2");
    foreign.host = "host-c";  // kept when the caller sets it
    if (auto c = t.claim(foreign); !c) return fail(c.error());
    return t.put_meta("boot_id", "boot-b");
  }));
  ASSERT_TRUE(a->view([](Txn& t) -> Expected<void> {
    EXPECT_EQ(t.get_meta("boot_id").value(), "boot-a");
    auto leases = t.list_leases("n").value();
    EXPECT_EQ(leases.size(), 2u);
    if (leases.size() == 2) {
      EXPECT_EQ(leases[0].host, "host-a");
      EXPECT_EQ(leases[1].host, "host-c");
    }
    EXPECT_EQ(t.get_endpoint("n", "c1", "eth0").value()->host, "host-a");
    return {};
  }));
  ASSERT_TRUE(b->view([](Txn& t) -> Expected<void> {
    EXPECT_EQ(t.get_meta("boot_id").value(), "boot-b");
    return {};
  }));
}

// Presence on etcd leases: registered hosts are listed; a host whose lease is gone (revoked
// here, expired after a partition in life) drops out and is back at its next register_host.
TEST_F(StoreEtcd, HostsRegisterAndDropOutWithTheirLease) {
  auto a = open("host-a");
  auto b = open("host-b");
  ASSERT_TRUE(a && b);
  using Hosts = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(a->hosts().value(), Hosts{});
  EXPECT_GT(a->register_host(60, R"({"ip":"192.0.2.1"})").value(), 0);
  EXPECT_GT(b->register_host(60, R"({"ip":"192.0.2.2"})").value(), 0);
  EXPECT_EQ(a->hosts().value(),
            (Hosts{{"host-a", R"({"ip":"192.0.2.1"})"}, {"host-b", R"({"ip":"192.0.2.2"})"}}));
  auto lease_of = [&](const std::string& host) {
    auto r = a->client().range({.key = prefix_ + "/hosts/" + host});
    EXPECT_TRUE(r && r->kvs.size() == 1);
    return r && r->kvs.size() == 1 ? r->kvs[0].lease : 0;
  };
  const int64_t first = lease_of("host-a");
  EXPECT_NE(first, 0);
  // Kept alive: the same lease; new details are written.
  EXPECT_GT(a->register_host(60, R"({"ip":"192.0.2.9"})").value(), 0);
  EXPECT_EQ(lease_of("host-a"), first);
  EXPECT_EQ(b->hosts().value()[0].second, R"({"ip":"192.0.2.9"})");
  ASSERT_TRUE(a->client().lease_revoke(first));
  EXPECT_EQ(b->hosts().value(), (Hosts{{"host-b", R"({"ip":"192.0.2.2"})"}}));
  EXPECT_GT(a->register_host(60, R"({"ip":"192.0.2.9"})").value(), 0);
  EXPECT_NE(lease_of("host-a"), first);
  EXPECT_EQ(b->hosts().value().size(), 2u);
}

// What an allocation costs: one range read per record it needs and one txn to commit
// (first_free found the address free, so claim needs no read of its own).
TEST_F(StoreEtcd, RequestsPerAllocationAndRelease) {
  auto s = open("host-a");
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->transact([](Txn& t) -> Expected<void> {
    if (auto ok = t.put_network({.name = "n", .subnets = {cidr("10.4.0.0/24")}}); !ok) return ok;
    for (int i = 1; i <= 50; ++i) {  // a run of leases first_free pages through
      if (auto c = t.claim(lease(ip("10.4.0.0").plus(i), "old" + std::to_string(i))); !c) {
        return fail(c.error());
      }
    }
    return {};
  }));
  auto allocate = [&](const std::string& cid) {
    const uint64_t before = s->client().requests();
    auto ok = s->transact([&](Txn& t) -> Expected<void> {
      auto n = t.get_network("n");
      if (!n || !*n) return fail(cni::internal("network"));
      auto cursor = t.get_cursor("n", 0);
      if (!cursor) return fail(cursor.error());
      auto held = t.leases_of("n", cid, "eth0");
      if (!held || !held->empty()) return fail(cni::internal("held"));
      const net::IpAddr from = *cursor ? (*cursor)->next() : ip("10.4.0.1");
      auto free = t.first_free("n", from, ip("10.4.0.254"));
      if (!free || !*free) return fail(cni::internal("free"));
      auto c = t.claim(lease(**free, cid));
      if (!c || !*c) return fail(cni::internal("claim"));
      return t.set_cursor("n", 0, **free);
    });
    EXPECT_TRUE(ok) << ok.error().msg;
    return s->client().requests() - before;
  };
  // The network record comes from the store's cache (the setup wrote it); the cursor is read
  // (absent); without it the search starts at the front: 50 leases in 3 pages (of at most 8,
  // 32, 128 keys).
  EXPECT_EQ(allocate("c1"), 6u);
  // Network and cursor remembered; the address after the cursor is free: a page of one key.
  // leases_of, that page, the commit.
  EXPECT_EQ(allocate("c2"), 3u);
  const uint64_t before = s->client().requests();
  ASSERT_TRUE(s->transact([](Txn& t) -> Expected<void> {
    auto r = t.release("n", "c2", "eth0");
    if (!r) return fail(r.error());
    EXPECT_EQ(*r, 1);
    return {};
  }));
  EXPECT_EQ(s->client().requests() - before, 1u)
      << "DEL: the commit alone (leases_of remembered from the allocation)";
  ASSERT_TRUE(s->view([](Txn& t) -> Expected<void> {
    EXPECT_EQ(t.list_leases("n").value().size(), 51u);
    EXPECT_EQ(t.get_lease("n", ip("10.4.0.51")).value()->container_id, "c1");
    return {};
  }));
}

// A store answers a write transaction's point reads from what its earlier ones read and wrote;
// another writer's change makes the commit conflict, and the callback runs again on fresh reads.
// The callback's own failure on a remembered record is not reported before a fresh run; a
// transaction that only read still checks what it read; a view reads etcd.
TEST_F(StoreEtcd, RememberedRecordsAreCheckedAtCommit) {
  auto a = open("host-a");
  auto b = open("host-b");
  ASSERT_TRUE(a && b);
  auto put = [](EtcdStore& s, const char* subnet) {
    return s.transact(
        [&](Txn& t) { return t.put_network({.name = "n", .subnets = {cidr(subnet)}}); });
  };
  auto subnet_of = [](Txn& t) -> std::string {
    auto n = t.get_network("n");
    return n && *n ? (*n)->subnets.at(0).str() : "?";
  };
  ASSERT_TRUE(put(*a, "10.1.0.0/24"));

  // Only read, remembered: no range request, one read-only txn with the compare.
  uint64_t before = a->client().requests();
  std::vector<std::string> seen;
  ASSERT_TRUE(a->transact([&](Txn& t) -> Expected<void> {
    seen.push_back(subnet_of(t));
    return {};
  }));
  EXPECT_EQ(a->client().requests() - before, 1u);
  EXPECT_EQ(seen, std::vector<std::string>{"10.1.0.0/24"});

  // Changed by b: a's first run sees the remembered record, its commit conflicts, the second
  // run reads b's and commits.
  ASSERT_TRUE(put(*b, "10.2.0.0/24"));
  seen.clear();
  ASSERT_TRUE(a->transact([&](Txn& t) -> Expected<void> {
    seen.push_back(subnet_of(t));
    return t.put_meta("subnet", seen.back());
  }));
  EXPECT_EQ(seen, (std::vector<std::string>{"10.1.0.0/24", "10.2.0.0/24"}));
  ASSERT_TRUE(a->view([](Txn& t) -> Expected<void> {
    EXPECT_EQ(t.get_meta("subnet").value(), "10.2.0.0/24");
    return {};
  }));

  // A failure that a remembered record caused is not reported: the fresh run succeeds.
  ASSERT_TRUE(put(*b, "10.3.0.0/24"));
  seen.clear();
  auto ok = a->transact([&](Txn& t) -> Expected<void> {
    seen.push_back(subnet_of(t));
    if (seen.back() != "10.3.0.0/24") return fail(cni::invalid_config("stale record"));
    return {};
  });
  EXPECT_TRUE(ok) << ok.error().msg;
  EXPECT_EQ(seen, (std::vector<std::string>{"10.2.0.0/24", "10.3.0.0/24"}));
  // And a failure on fresh reads is reported, after one run.
  seen.clear();
  ok = a->transact([&](Txn& t) -> Expected<void> {
    seen.push_back(subnet_of(t));
    return fail(cni::invalid_config("refused"));
  });
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().msg, "refused");
  EXPECT_EQ(seen.size(), 2u) << "once on the remembered record, once fresh";

  // A view reads etcd: b's change is seen at once.
  ASSERT_TRUE(put(*b, "10.4.0.0/24"));
  ASSERT_TRUE(a->view([&](Txn& t) -> Expected<void> {
    EXPECT_EQ(subnet_of(t), "10.4.0.0/24");
    return {};
  }));
}

// Two hosts ADD one attachment at once (a runtime retrying on another node): each finds no
// lease held and claims an address; the second to commit conflicts on the range leases_of read
// (a key was created in it), runs again and returns the first one's lease. One lease.
TEST_F(StoreEtcd, OneAttachmentAddedOnTwoHostsAtOnceGetsOneLease) {
  auto a = open("host-a");
  auto b = open("host-b");
  ASSERT_TRUE(a && b);
  // As the allocator does: the attachment's lease if it holds one, else a claim.
  auto add = [](Txn& t, const net::IpAddr& addr,
                std::optional<net::IpAddr>& got) -> Expected<void> {
    auto held = t.leases_of("n", "c1", "eth0");
    if (!held) return fail(held.error());
    if (!held->empty()) {
      got = held->front().address;
      return {};
    }
    auto c = t.claim(lease(addr, "c1"));
    if (!c) return fail(c.error());
    if (!*c) return fail(cni::internal("taken"));
    got = addr;
    return {};
  };
  int runs = 0;
  std::optional<net::IpAddr> got_a, got_b;
  ASSERT_TRUE(a->transact([&](Txn& t) -> Expected<void> {
    auto ok = add(t, ip("10.5.0.1"), got_a);
    if (++runs == 1) {  // b's ADD commits between a's reads and a's commit
      auto other = b->transact([&](Txn& tb) { return add(tb, ip("10.5.0.2"), got_b); });
      EXPECT_TRUE(other) << other.error().msg;
    }
    return ok;
  }));
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(got_b, ip("10.5.0.2"));
  EXPECT_EQ(got_a, ip("10.5.0.2"));
  ASSERT_TRUE(a->view([](Txn& t) -> Expected<void> {
    EXPECT_EQ(t.list_leases("n").value().size(), 1u);
    return {};
  }));
}

// An ADD of c1 on `s` (leases_of, then a claim of `addr`), which `s` then remembers.
void add_c1(EtcdStore& s, const net::IpAddr& addr) {
  ASSERT_TRUE(s.transact([&](Txn& t) -> Expected<void> {
    auto held = t.leases_of("n", "c1", "eth0");
    if (!held || !held->empty()) return fail(cni::internal("held"));
    auto c = t.claim(lease(addr, "c1"));
    if (!c || !*c) return fail(cni::internal("claim"));
    return {};
  }));
}

// A DEL of c1 on `s`: what each run of its transaction released.
std::vector<int> del_c1(EtcdStore& s) {
  std::vector<int> released;
  EXPECT_TRUE(s.transact([&](Txn& t) -> Expected<void> {
    auto n = t.release("n", "c1", "eth0");
    if (!n) return fail(n.error());
    released.push_back(*n);
    return {};
  }));
  return released;
}

// A release after an allocation on the same store takes the attachment's leases from what the
// allocation remembered; a lease another host added to that attachment meanwhile conflicts (the
// range's compare), and the release runs again on a fresh read: both leases go.
TEST_F(StoreEtcd, ARememberedAttachmentIsCheckedAtCommit) {
  auto a = open("host-a");
  auto b = open("host-b");
  ASSERT_TRUE(a && b);
  add_c1(*a, ip("10.6.0.1"));
  ASSERT_TRUE(b->transact([&](Txn& t) -> Expected<void> {
    auto c = t.claim(lease(ip("10.6.0.2"), "c1"));
    if (!c || !*c) return fail(cni::internal("claim"));
    return {};
  }));
  EXPECT_EQ(del_c1(*a), (std::vector<int>{1, 2})) << "the remembered one, then both";
  ASSERT_TRUE(a->view([](Txn& t) -> Expected<void> {
    EXPECT_TRUE(t.list_leases("n").value().empty());
    return {};
  }));
}

// The remembered attachment's lease was released by another host and the address claimed again
// for another container: a's DEL from what it remembers conflicts (the key's compare), runs
// again fresh, finds c1 holds nothing, and leaves c2's lease alone.
TEST_F(StoreEtcd, ARememberedAttachmentReleasedElsewhereIsNotReleasedAgain) {
  auto a = open("host-a");
  auto b = open("host-b");
  ASSERT_TRUE(a && b);
  add_c1(*a, ip("10.7.0.1"));
  ASSERT_TRUE(b->transact([&](Txn& t) -> Expected<void> {
    auto r = t.release_address("n", ip("10.7.0.1"));
    if (!r || !*r) return fail(cni::internal("release"));
    auto c = t.claim(lease(ip("10.7.0.1"), "c2"));
    if (!c || !*c) return fail(cni::internal("claim"));
    return {};
  }));
  EXPECT_EQ(del_c1(*a), (std::vector<int>{1, 0})) << "the remembered one, then none";
  ASSERT_TRUE(a->view([](Txn& t) -> Expected<void> {
    auto l = t.get_lease("n", ip("10.7.0.1"));
    EXPECT_TRUE(l && *l && (*l)->container_id == "c2");
    return {};
  }));
}

}  // namespace
}  // namespace weir::store
