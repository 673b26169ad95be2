// lib/etcd's client against real etcd members (tests/support/etcd_fixture.hpp), no root:
// key-value calls, txn branches, leases, failover, TLS, a 3-member cluster losing a member,
// watches and compaction, a restart under a live Client. Skipped when etcd is not installed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>

#include "lib/etcd/client.hpp"
#include "lib/etcd/wire.hpp"
#include "tests/support/etcd_fixture.hpp"
#include "tests/support/tempdir.hpp"

namespace weir::etcd {
namespace {

using test::EtcdCluster;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

Client make_client(const std::vector<std::string>& endpoints, Tls tls = {},
                   std::chrono::milliseconds timeout = 2000ms) {
  auto c = Client::make({.endpoints = endpoints, .tls = std::move(tls), .timeout = timeout});
  if (!c) throw std::runtime_error("Client::make: " + c.error().msg);
  return std::move(*c);
}

// A TCP port that refuses connections: bound, never listened on, kept for the test's life.
class DeadPort {
 public:
  DeadPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{.sin_family = AF_INET, .sin_port = 0, .sin_addr = {htonl(INADDR_LOOPBACK)}};
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw std::runtime_error("DeadPort: bind failed");
    }
    url_ = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  }
  ~DeadPort() { ::close(fd_); }
  const std::string& url() const { return url_; }

 protected:
  int fd_ = -1;
  std::string url_;
};

// A port that accepts connections (the kernel completes them into the backlog) and never
// answers: an attempt there can only end by its timeout.
class SilentPort : public DeadPort {
 public:
  SilentPort() { ::listen(fd_, 16); }
};

// ---- without etcd ----

TEST(EtcdWire, PrefixEnd) {
  EXPECT_EQ(prefix_end("/weir/leases/"), "/weir/leases0");
  EXPECT_EQ(prefix_end("a\xff"), "b");
  EXPECT_EQ(prefix_end("a\xfe\xff\xff"), "a\xff");
  EXPECT_EQ(prefix_end("\xff\xff"), std::string(1, '\0'));
  EXPECT_EQ(prefix_end(""), std::string(1, '\0'));
}

TEST(EtcdWire, Base64RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += char(i);
  for (size_t n = 0; n <= all.size(); n += 1 + n / 4) {
    const std::string bytes = all.substr(all.size() - n);
    const std::string text = wire::base64_encode(bytes);
    EXPECT_EQ(text.size() % 4, 0u);
    EXPECT_EQ(wire::base64_decode(text), bytes) << text;
  }
  EXPECT_EQ(wire::base64_encode("a"), "YQ==");  // what etcd sends (checked on 3.4.23)
  EXPECT_EQ(wire::base64_encode("ab"), "YWI=");
  for (const char* bad : {"YQ=", "Y===", "YQ=a", "Y!==", "=YQ=", "YQ==YQ=="}) {
    EXPECT_EQ(wire::base64_decode(bad), std::nullopt) << bad;
  }
}

TEST(EtcdWire, AnswersOmitDefaultsAndQuoteInt64) {
  // A failed txn has no "succeeded"; a range without keys no "kvs"; a PUT event no "type".
  const auto txn = wire::json::parse(
      R"({"header":{"revision":"7"},"responses":[{"response_range":{"header":{"revision":"7"},)"
      R"("kvs":[{"key":"YQ==","create_revision":"2","mod_revision":"5","version":"3"}],"count":"1"}}]})");
  wire::Reader r;
  const TxnResult t = wire::read_txn(r, txn);
  EXPECT_EQ(r.error(), "");
  EXPECT_FALSE(t.succeeded);
  EXPECT_EQ(t.revision, 7);
  ASSERT_EQ(t.ranges.size(), 1u);
  EXPECT_EQ(t.ranges[0].kvs.at(0).key, "a");
  EXPECT_EQ(t.ranges[0].kvs.at(0).value, "");  // an empty value is left out too
  EXPECT_EQ(t.ranges[0].kvs.at(0).mod_revision, 5);
  const WatchEvent put = wire::read_event(r, wire::json::parse(R"({"kv":{"key":"YQ=="}})"));
  EXPECT_EQ(put.type, WatchEvent::Type::kPut);
  wire::Reader bad;
  (void)wire::read_range(bad, wire::json::parse(R"({"count":"x1"})"));
  EXPECT_THAT(bad.error(), HasSubstr("count"));
}

TEST(EtcdConfig, WrongFieldsAreCode7NamingTheField) {
  test::TempDir dir("weir-etcd-conf");
  const std::string pem = dir / "ca.pem";
  std::ofstream(pem) << "x";
  struct Case {
    Config config;
    std::string field;
  };
  const std::vector<Case> cases = {
      {{.endpoints = {}}, "store.endpoints:"},
      {{.endpoints = {"http://127.0.0.1:2379", "127.0.0.1:2379"}}, "store.endpoints[1]:"},
      {{.endpoints = {"ftp://127.0.0.1:2379"}}, "store.endpoints[0]:"},
      {{.endpoints = {"http://127.0.0.1:2379/v3"}}, "store.endpoints[0]:"},
      {{.endpoints = {"http://"}}, "store.endpoints[0]:"},
      {{.endpoints = {"http://127.0.0.1:2379"}, .timeout = 0ms}, "store.timeoutMs:"},
      {{.endpoints = {"https://a:1"}, .tls = {.ca = dir / "missing.pem"}}, "store.tls.ca:"},
      {{.endpoints = {"https://a:1"}, .tls = {.cert = pem}}, "store.tls.key:"},
      {{.endpoints = {"https://a:1"}, .tls = {.key = pem}}, "store.tls.cert:"},
  };
  for (const auto& c : cases) {
    auto client = Client::make(c.config);
    ASSERT_FALSE(client) << c.field;
    EXPECT_EQ(client.error().code, cni::Code::kInvalidConfig) << client.error().msg;
    EXPECT_THAT(client.error().msg, HasSubstr(c.field));
  }
  EXPECT_TRUE(Client::make({.endpoints = {"https://10.0.0.5:2379/", "http://[::1]:2379"},
                            .tls = {.ca = pem, .cert = pem, .key = pem}}));
}

TEST(EtcdConfig, NoEndpointAnswersIsCode11NamingEachWithinTheTimeouts) {
  DeadPort dead;
  SilentPort silent;
  auto client = make_client({dead.url(), silent.url()}, {}, 300ms);
  const auto start = std::chrono::steady_clock::now();
  auto r = client.put("k", "v");
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, cni::Code::kTryAgainLater);
  EXPECT_THAT(r.error().msg,
              HasSubstr("etcd: no endpoint answered: " + dead.url() + " (connection refused), " +
                        silent.url() + " (timed out after 300 ms)"));
  EXPECT_LT(took, 2 * 300ms + 1500ms);  // bounded by the attempts' timeouts, not hanging
  EXPECT_EQ(client.requests(), 2u);
}

// ---- one member, shared by the tests of the suite (distinct key prefixes) ----

class EtcdClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (EtcdCluster::available()) etcd_ = std::make_unique<EtcdCluster>();
  }
  static void TearDownTestSuite() { etcd_.reset(); }
  void SetUp() override {
    WEIR_REQUIRE_ETCD();
    ASSERT_TRUE(etcd_);
    client_ = std::make_unique<Client>(make_client(etcd_->endpoints()));
  }
  static std::unique_ptr<EtcdCluster> etcd_;
  std::unique_ptr<Client> client_;
};
std::unique_ptr<EtcdCluster> EtcdClientTest::etcd_;

TEST_F(EtcdClientTest, PutRangeDeleteRoundTripBytes) {
  Client& c = *client_;
  const std::string key = std::string("/rt/n\xc3\xa9t/a\x80\xff/") + '\0' + "z";
  const std::string value = std::string("bin\0ary\n\xff\x01{\"json\":1}", 20);
  auto rev = c.put(key, value);
  ASSERT_TRUE(rev) << rev.error().msg;
  auto got = c.range({.key = key});
  ASSERT_TRUE(got) << got.error().msg;
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(got->kvs[0].key, key);
  EXPECT_EQ(got->kvs[0].value, value);
  EXPECT_EQ(got->kvs[0].create_revision, *rev);
  EXPECT_EQ(got->kvs[0].mod_revision, *rev);
  EXPECT_EQ(got->kvs[0].version, 1);
  EXPECT_EQ(got->count, 1);
  EXPECT_GE(got->revision, *rev);

  auto rev2 = c.put(key, "");  // an empty value: etcd leaves "value" out
  ASSERT_TRUE(rev2);
  EXPECT_GT(*rev2, *rev);
  got = c.range({.key = key});
  ASSERT_TRUE(got && got->kvs.size() == 1);
  EXPECT_EQ(got->kvs[0].value, "");
  EXPECT_EQ(got->kvs[0].version, 2);
  EXPECT_EQ(got->kvs[0].create_revision, *rev);

  EXPECT_EQ(c.del(key), 1);
  got = c.range({.key = key});
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->kvs.empty());
  EXPECT_EQ(got->count, 0);
  EXPECT_EQ(c.del(key), 0);  // already gone
}

TEST_F(EtcdClientTest, PrefixRangeWithLimitCountsEverything) {
  Client& c = *client_;
  for (const char* k : {"/pr/a/3", "/pr/a/1", "/pr/a/2", "/pr/a/5", "/pr/a/4", "/pr/a0", "/pr/"}) {
    ASSERT_TRUE(c.put(k, std::string("v") + k));
  }
  auto page = c.range({.key = "/pr/a/", .range_end = prefix_end("/pr/a/"), .limit = 2});
  ASSERT_TRUE(page) << page.error().msg;
  ASSERT_EQ(page->kvs.size(), 2u);
  EXPECT_EQ(page->kvs[0].key, "/pr/a/1");  // in key order
  EXPECT_EQ(page->kvs[1].key, "/pr/a/2");
  EXPECT_EQ(page->kvs[1].value, "v/pr/a/2");
  EXPECT_TRUE(page->more);
  EXPECT_EQ(page->count, 5);

  auto all = c.range({.key = "/pr/a/", .range_end = prefix_end("/pr/a/"), .keys_only = true});
  ASSERT_TRUE(all);
  ASSERT_EQ(all->kvs.size(), 5u);
  EXPECT_FALSE(all->more);
  EXPECT_EQ(all->kvs[4].key, "/pr/a/5");
  EXPECT_EQ(all->kvs[4].value, "");  // keys_only

  auto count = c.range({.key = "/pr/", .range_end = prefix_end("/pr/"), .count_only = true});
  ASSERT_TRUE(count);
  EXPECT_EQ(count->count, 7);
  EXPECT_TRUE(count->kvs.empty());

  EXPECT_EQ(c.del("/pr/a/", prefix_end("/pr/a/")), 5);
  EXPECT_EQ(c.range({.key = "/pr/", .range_end = prefix_end("/pr/")})->count, 2);
}

TEST_F(EtcdClientTest, RangeAtAnOldRevision) {
  Client& c = *client_;
  auto r1 = c.put("/old/k", "one");
  auto r2 = c.put("/old/k", "two");
  ASSERT_TRUE(r1 && r2);
  auto then = c.range({.key = "/old/k", .revision = *r1});
  ASSERT_TRUE(then) << then.error().msg;
  ASSERT_EQ(then->kvs.size(), 1u);
  EXPECT_EQ(then->kvs[0].value, "one");
  auto now = c.range({.key = "/old/k"});
  ASSERT_TRUE(now && now->kvs.size() == 1);
  EXPECT_EQ(now->kvs[0].value, "two");
  auto future = c.range({.key = "/old/k", .revision = *r2 + 1000});
  ASSERT_FALSE(future);
  EXPECT_EQ(future.error().code, cni::Code::kStore);
  EXPECT_EQ(grpc_status(future.error()), 11);  // OUT_OF_RANGE
  EXPECT_THAT(future.error().msg, HasSubstr("etcd " + etcd_->endpoint(0) + ": "));
  EXPECT_THAT(future.error().msg, HasSubstr("future revision"));
}

TEST_F(EtcdClientTest, TxnTakesTheBranchItsComparesChoose) {
  Client& c = *client_;
  const Compare absent{.key = "/tx/k", .target = Compare::Target::kCreate, .number = 0};
  // Create when absent: the success branch, with a range op inside it.
  auto created = c.txn({absent}, {Op::put("/tx/k", "v1"), Op::get("/tx/k")}, {Op::get("/tx/k")});
  ASSERT_TRUE(created) << created.error().msg;
  EXPECT_TRUE(created->succeeded);
  ASSERT_EQ(created->ranges.size(), 1u);
  ASSERT_EQ(created->ranges[0].kvs.size(), 1u);
  EXPECT_EQ(created->ranges[0].kvs[0].value, "v1");
  const int64_t mod = created->ranges[0].kvs[0].mod_revision;
  EXPECT_EQ(mod, created->revision);

  // Again: present now, the failure branch runs and reads what is there.
  auto again = c.txn({absent}, {Op::put("/tx/k", "nope")},
                     {Op::get("/tx/none"), Op::get("/tx/k"), Op::put("/tx/seen", "1")});
  ASSERT_TRUE(again) << again.error().msg;
  EXPECT_FALSE(again->succeeded);
  ASSERT_EQ(again->ranges.size(), 2u);  // one per range op, in order
  EXPECT_TRUE(again->ranges[0].kvs.empty());
  ASSERT_EQ(again->ranges[1].kvs.size(), 1u);
  EXPECT_EQ(again->ranges[1].kvs[0].value, "v1");
  EXPECT_EQ(c.range({.key = "/tx/seen"})->kvs.size(), 1u);

  // mod_revision compares: the revision read wins once, a stale one loses.
  const Compare unchanged{.key = "/tx/k", .target = Compare::Target::kMod, .number = mod};
  auto update = c.txn({unchanged}, {Op::put("/tx/k", "v2"), Op::del("/tx/seen")});
  ASSERT_TRUE(update);
  EXPECT_TRUE(update->succeeded);
  EXPECT_TRUE(update->ranges.empty());
  auto stale = c.txn({unchanged}, {Op::put("/tx/k", "v3")});
  ASSERT_TRUE(stale);
  EXPECT_FALSE(stale->succeeded);
  EXPECT_EQ(c.range({.key = "/tx/k"})->kvs.at(0).value, "v2");
  EXPECT_TRUE(c.range({.key = "/tx/seen"})->kvs.empty());

  // Value and version compares, and a delete of a range.
  const Compare is_v2{.key = "/tx/k", .target = Compare::Target::kValue, .value = "v2"};
  const Compare v2{.key = "/tx/k", .target = Compare::Target::kVersion, .number = 2};
  const Compare newer{.key = "/tx/k",
                      .target = Compare::Target::kMod,
                      .result = Compare::Result::kGreater,
                      .number = mod};
  auto del = c.txn({is_v2, v2, newer}, {Op::del("/tx/", prefix_end("/tx/"))});
  ASSERT_TRUE(del);
  EXPECT_TRUE(del->succeeded);
  EXPECT_EQ(c.range({.key = "/tx/", .range_end = prefix_end("/tx/")})->count, 0);
}

TEST_F(EtcdClientTest, TxnOverMaxOpsIsAStoreErrorWithItsGrpcStatus) {
  std::vector<Op> ops;
  for (int i = 0; i < 129; ++i) ops.push_back(Op::put("/max/" + std::to_string(i), "v"));
  auto r = client_->txn({}, ops);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, cni::Code::kStore);
  EXPECT_EQ(grpc_status(r.error()), 3);  // INVALID_ARGUMENT
  EXPECT_THAT(r.error().msg, HasSubstr("too many operations in txn request"));
  EXPECT_EQ(client_->requests(), 1u);  // not retried elsewhere
  ops.pop_back();
  EXPECT_TRUE(client_->txn({}, ops));
}

TEST_F(EtcdClientTest, LeaseGrantKeepaliveTtlRevoke) {
  Client& c = *client_;
  auto lease = c.lease_grant(30);
  ASSERT_TRUE(lease) << lease.error().msg;
  EXPECT_GT(*lease, 0);
  auto ttl = c.lease_ttl(*lease);
  ASSERT_TRUE(ttl);
  EXPECT_GT(*ttl, 0);
  EXPECT_LE(*ttl, 30);
  auto left = c.lease_keepalive(*lease);
  ASSERT_TRUE(left) << left.error().msg;
  EXPECT_EQ(*left, 30);  // renewed to its full TTL

  ASSERT_TRUE(c.put("/lease/host", "up", *lease));
  auto kv = c.range({.key = "/lease/host"});
  ASSERT_TRUE(kv && kv->kvs.size() == 1);
  EXPECT_EQ(kv->kvs[0].lease, *lease);

  ASSERT_TRUE(c.lease_revoke(*lease));
  EXPECT_TRUE(c.range({.key = "/lease/host"})->kvs.empty());  // went with its lease
  EXPECT_EQ(c.lease_ttl(*lease), -1);
  auto gone = c.lease_keepalive(*lease);
  ASSERT_TRUE(gone);
  EXPECT_LE(*gone, 0);
  EXPECT_TRUE(c.lease_revoke(*lease));  // already gone: success

  auto orphan = c.put("/lease/orphan", "x", *lease);  // a put on a lease that is gone
  ASSERT_FALSE(orphan);
  EXPECT_EQ(orphan.error().code, cni::Code::kStore);
  EXPECT_EQ(grpc_status(orphan.error()), 5);  // NOT_FOUND
}

TEST_F(EtcdClientTest, FailoverToTheNextEndpointAndStayThere) {
  DeadPort dead;
  auto c = make_client({dead.url(), etcd_->endpoint(0)});
  ASSERT_TRUE(c.put("/fo/k", "v"));
  EXPECT_EQ(c.requests(), 2u);  // the dead one, then etcd
  ASSERT_TRUE(c.range({.key = "/fo/k"}));
  EXPECT_EQ(c.requests(), 3u);  // straight to the endpoint that answered last
}

TEST_F(EtcdClientTest, StatusOfOneMember) {
  auto s = client_->status(etcd_->endpoint(0));
  ASSERT_TRUE(s) << s.error().msg;
  EXPECT_EQ(s->endpoint, etcd_->endpoint(0));
  EXPECT_THAT(s->version, ::testing::MatchesRegex("3\\.[0-9]+\\.[0-9]+"));
  EXPECT_NE(s->member, 0u);
  EXPECT_EQ(s->leader, s->member);  // a single member leads itself
  EXPECT_GT(s->revision, 0);
  EXPECT_GT(s->db_size, 0);
  DeadPort dead;
  auto down = client_->status(dead.url());
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, cni::Code::kTryAgainLater);
  EXPECT_THAT(down.error().msg, HasSubstr(dead.url() + " (connection refused)"));
}

TEST_F(EtcdClientTest, WatchSeesPutsAndDeletes) {
  Client& c = *client_;
  auto w = c.watch("/w/", prefix_end("/w/"), 0);
  ASSERT_TRUE(w) << w.error().msg;
  auto quiet = w->next(0ms);
  ASSERT_TRUE(quiet);
  EXPECT_TRUE(quiet->events.empty());
  auto r1 = c.put("/w/a", "1");
  ASSERT_TRUE(r1);
  ASSERT_TRUE(c.put("/outside", "x"));
  ASSERT_TRUE(c.del("/w/a"));
  std::vector<WatchEvent> events;
  for (int i = 0; i < 50 && events.size() < 2; ++i) {
    auto b = w->next(200ms);
    ASSERT_TRUE(b) << b.error().msg;
    EXPECT_EQ(b->compact_revision, 0);
    events.insert(events.end(), b->events.begin(), b->events.end());
  }
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, WatchEvent::Type::kPut);
  EXPECT_EQ(events[0].kv.key, "/w/a");
  EXPECT_EQ(events[0].kv.value, "1");
  EXPECT_EQ(events[0].kv.mod_revision, *r1);
  EXPECT_EQ(events[1].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(events[1].kv.key, "/w/a");
  EXPECT_GT(events[1].kv.mod_revision, *r1 + 1);  // after the put outside
}

TEST_F(EtcdClientTest, WatchFromAnOldRevisionReplaysThenCompactionCancelsIt) {
  Client& c = *client_;
  auto first = c.put("/cw/k", "1");
  ASSERT_TRUE(first);
  ASSERT_TRUE(c.put("/cw/k", "2"));
  auto last = c.put("/cw/k", "3");
  ASSERT_TRUE(last);

  auto replay = c.watch("/cw/k", "", *first);
  ASSERT_TRUE(replay) << replay.error().msg;
  std::vector<WatchEvent> events;
  for (int i = 0; i < 50 && events.size() < 3; ++i) {
    auto b = replay->next(200ms);
    ASSERT_TRUE(b) << b.error().msg;
    events.insert(events.end(), b->events.begin(), b->events.end());
  }
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kv.value, "1");
  EXPECT_EQ(events[2].kv.value, "3");

  etcd_->etcdctl({"compact", std::to_string(*last)});
  auto old = c.range({.key = "/cw/k", .revision = *first});
  ASSERT_FALSE(old);
  EXPECT_EQ(grpc_status(old.error()), 11);
  EXPECT_THAT(old.error().msg, HasSubstr("compacted"));

  auto w = c.watch("/cw/k", "", *first);
  ASSERT_TRUE(w) << w.error().msg;
  int64_t compact = 0;
  for (int i = 0; i < 50 && compact == 0; ++i) {
    auto b = w->next(200ms);
    ASSERT_TRUE(b) << b.error().msg;
    EXPECT_TRUE(b->events.empty());
    compact = b->compact_revision;
  }
  EXPECT_EQ(compact, *last);
  auto after = w->next(0ms);  // the watch is over
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, cni::Code::kTryAgainLater);
}

// ---- a member stopped and started again under a live Client and Watch ----

TEST(EtcdRestart, CallsFailWith11WhileDownAndWorkAgainAfter) {
  WEIR_REQUIRE_ETCD();
  EtcdCluster etcd;
  auto c = make_client(etcd.endpoints(), {}, 1000ms);
  ASSERT_TRUE(c.put("/rs/k", "before"));
  auto w = c.watch("/rs/", prefix_end("/rs/"), 0);
  ASSERT_TRUE(w) << w.error().msg;

  etcd.stop(0);
  auto down = c.range({.key = "/rs/k"});
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, cni::Code::kTryAgainLater);
  EXPECT_THAT(down.error().msg, HasSubstr(etcd.endpoint(0) + " (connection refused)"));
  Expected<WatchBatch> broken = WatchBatch{};
  for (int i = 0; i < 50 && broken; ++i) broken = w->next(200ms);
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().code, cni::Code::kTryAgainLater);
  EXPECT_THAT(broken.error().msg, HasSubstr("etcd watch " + etcd.endpoint(0)));

  etcd.start(0);
  auto up = c.range({.key = "/rs/k"});
  ASSERT_TRUE(up) << up.error().msg;
  ASSERT_EQ(up->kvs.size(), 1u);
  EXPECT_EQ(up->kvs[0].value, "before");  // the same data dir
  EXPECT_TRUE(c.put("/rs/k", "after"));
}

// ---- three members, one killed ----

TEST(EtcdCluster3, KeepsServingWithItsLeaderKilledAndWatchesFailWithoutALeader) {
  WEIR_REQUIRE_ETCD();
  EtcdCluster etcd({.members = 3});
  // The leader first in the client's list: the member it talks to is the one that dies.
  int leader = -1;
  for (int m = 0; m < 3; ++m) {
    auto s = make_client(etcd.endpoints()).status(etcd.endpoint(m));
    ASSERT_TRUE(s) << s.error().msg;
    if (s->leader == s->member) leader = m;
  }
  ASSERT_GE(leader, 0);
  const int a = (leader + 1) % 3, b = (leader + 2) % 3;
  auto c = make_client({etcd.endpoint(leader), etcd.endpoint(a), etcd.endpoint(b)}, {}, 1000ms);
  ASSERT_TRUE(c.put("/cl/k", "1"));
  EXPECT_EQ(c.requests(), 1u);

  etcd.kill(leader);
  // Until the two left elect a leader (etcd's election timeout, 1 s by default) a write fails
  // with code 11, try again later: the caller's contract. Then it succeeds.
  Expected<int64_t> r = fail(cni::internal("not tried"));
  for (int i = 0; i < 20 && !r; ++i) {
    r = c.put("/cl/k", "2");
    if (!r) {
      EXPECT_EQ(r.error().code, cni::Code::kTryAgainLater) << r.error().msg;
    }
  }
  ASSERT_TRUE(r) << r.error().msg;
  EXPECT_GE(c.requests(), 3u);  // the dead member first, then another
  auto got = c.range({.key = "/cl/k"});
  ASSERT_TRUE(got && got->kvs.size() == 1);
  EXPECT_EQ(got->kvs[0].value, "2");
  auto w = c.watch("/cl/", prefix_end("/cl/"), *r);
  ASSERT_TRUE(w) << w.error().msg;
  std::vector<WatchEvent> events;
  for (int i = 0; i < 50 && events.empty(); ++i) {
    auto batch = w->next(200ms);
    ASSERT_TRUE(batch) << batch.error().msg;
    events = batch->events;
  }
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kv.value, "2");
  auto dead = c.status(etcd.endpoint(leader));
  ASSERT_FALSE(dead);
  EXPECT_EQ(dead.error().code, cni::Code::kTryAgainLater);

  // A second member killed: the last one has no leader. Its watch must fail (the hasleader
  // metadata), not stay open and silent; a new watch there is refused with UNAVAILABLE.
  auto alone = make_client({etcd.endpoint(b)}, {}, 1000ms);
  auto lonely = alone.watch("/cl/", prefix_end("/cl/"), 0);
  ASSERT_TRUE(lonely) << lonely.error().msg;
  etcd.kill(a);
  Expected<WatchBatch> broken = WatchBatch{};
  for (int i = 0; i < 60 && broken; ++i) broken = lonely->next(500ms);  // etcd notices in ~5 s
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().code, cni::Code::kTryAgainLater);
  auto refused = alone.watch("/cl/", prefix_end("/cl/"), 0);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, cni::Code::kTryAgainLater);
  EXPECT_THAT(refused.error().msg, HasSubstr(etcd.endpoint(b) + " (etcdserver: no leader)"));
}

// ---- TLS with client certificates ----

TEST(EtcdTls, ClientCertificatesWorkAndAWrongCaNamesTheEndpoint) {
  WEIR_REQUIRE_ETCD();
  EtcdCluster etcd({.tls = true});
  const auto& f = etcd.tls();
  auto c = make_client(etcd.endpoints(), {.ca = f.ca, .cert = f.cert, .key = f.key});
  ASSERT_TRUE(c.put("/tls/k", "v")) << c.put("/tls/k", "v").error().msg;
  EXPECT_EQ(c.range({.key = "/tls/k"})->kvs.at(0).value, "v");
  auto w = c.watch("/tls/", prefix_end("/tls/"), 0);
  ASSERT_TRUE(w) << w.error().msg;

  // A CA that did not sign the member's certificate: the endpoint cannot be used (code 11,
  // the TLS reason in the message), as when it does not answer.
  auto wrong = make_client(etcd.endpoints(), {.ca = f.other_ca, .cert = f.cert, .key = f.key});
  auto r = wrong.range({.key = "/tls/k"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, cni::Code::kTryAgainLater);
  EXPECT_THAT(r.error().msg, HasSubstr(etcd.endpoint(0) + " (TLS: "));
  EXPECT_THAT(r.error().msg, HasSubstr("certificate"));

  // No client certificate: etcd refuses the handshake.
  auto anonymous = make_client(etcd.endpoints(), {.ca = f.ca});
  auto a = anonymous.range({.key = "/tls/k"});
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, cni::Code::kTryAgainLater);
  EXPECT_THAT(a.error().msg, HasSubstr(etcd.endpoint(0) + " ("));
}

}  // namespace
}  // namespace weir::etcd
