// ipam verbs (in-process, as weir's plugins call them) and the weir-ipam plugin's edge
// (plugin_main with injected env and streams).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "ipam/ipam.hpp"
#include "tests/unit/ipam_testing.hpp"

namespace weir::ipam {
namespace {

using nlohmann::json;
using test::ip;
using test::make_call;

class IpamVerbs : public ::testing::Test {
 protected:
  json conf(json ranges = {{{{"subnet", "10.7.0.0/29"}}}}) {
    return {{"name", "net1"},
            {"ipam", {{"type", "weir-ipam"}, {"ranges", ranges}, {"dataDir", tmp_.path()}}}};
  }
  cni::Call call(const std::string& cid, json c = nullptr, std::string netns = "/ns/a") {
    return make_call(c.is_null() ? conf() : c, {.container_id = cid, .netns = std::move(netns)});
  }
  std::vector<store::Lease> leases() {
    std::vector<store::Lease> out;
    auto db = store::SqliteStore::open(store::database_path(tmp_.path()));
    EXPECT_TRUE(db);
    EXPECT_TRUE(db->view([&](store::Txn& t) -> Expected<void> {
      out = t.list_leases("").value();
      return {};
    }));
    EXPECT_TRUE(db->verify());
    return out;
  }
  test::TempDir tmp_;
  Seams seams_ = test::quiet_seams();
};

// A caller's open store of the same folder is used, not a second connection; one of another
// folder is not.
TEST_F(IpamVerbs, UsesTheCallersStoreOfTheSameFolder) {
  auto mem = store::SqliteStore::open_memory();
  ASSERT_TRUE(mem);
  auto r = add(call("c1"), seams_, {.data_dir = tmp_.path(), .store = &*mem});
  ASSERT_TRUE(r) << r.error().msg;
  EXPECT_FALSE(std::filesystem::exists(store::database_path(tmp_.path())));
  size_t n = 0;
  ASSERT_TRUE(mem->view([&](store::Txn& t) -> Expected<void> {
    n = t.list_leases("net1").value().size();
    return {};
  }));
  EXPECT_EQ(n, 1u);
  ASSERT_TRUE(del(call("c1"), seams_, {.data_dir = tmp_.path(), .store = &*mem}));
  ASSERT_TRUE(mem->view([&](store::Txn& t) -> Expected<void> {
    n = t.list_leases("net1").value().size();
    return {};
  }));
  EXPECT_EQ(n, 0u);

  ASSERT_TRUE(add(call("c2"), seams_, {.data_dir = "/elsewhere", .store = &*mem}));
  EXPECT_EQ(leases().size(), 1u);  // in tmp_'s own database file
}

TEST_F(IpamVerbs, AddCheckDel) {
  auto r = add(call("c1"), seams_);
  ASSERT_TRUE(r) << r.error().msg;
  ASSERT_EQ(r->ips.size(), 1u);
  EXPECT_EQ(r->ips[0].address.str(), "10.7.0.2/29");
  EXPECT_EQ(r->ips[0].gateway, ip("10.7.0.1"));
  EXPECT_FALSE(r->ips[0].interface);
  ASSERT_TRUE(check(call("c1"), seams_));

  auto missing = check(call("c2"), seams_);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, cni::Code::kCheckFailed);

  ASSERT_TRUE(del(call("c1"), seams_));
  ASSERT_TRUE(del(call("c1"), seams_));  // idempotent
  EXPECT_TRUE(leases().empty());
  EXPECT_FALSE(check(call("c1"), seams_));
}

TEST_F(IpamVerbs, CheckComparesPrevResult) {
  ASSERT_TRUE(add(call("c1"), seams_));
  ASSERT_TRUE(add(call("c2"), seams_));
  json c = conf();
  c["cniVersion"] = "1.0.0";
  c["prevResult"] = {{"cniVersion", "1.0.0"},
                     {"ips", {{{"address", "10.7.0.3/29"}, {"gateway", "10.7.0.1"}}}}};
  auto wrong = check(call("c1", c), seams_);  // .3 belongs to c2
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, cni::Code::kCheckFailed);
  EXPECT_NE(wrong.error().msg.find("10.7.0.3"), std::string::npos);
  EXPECT_TRUE(check(call("c2", c), seams_));
}

TEST_F(IpamVerbs, StatusReportsExhaustionAs50) {
  json small = conf({{{{"subnet", "10.7.0.0/30"}}}});  // one host address
  ASSERT_TRUE(status(call("c1", small), seams_));
  ASSERT_TRUE(add(call("c1", small), seams_));
  auto st = status(call("c1", small), seams_);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, cni::Code::kNotAvailable);
  EXPECT_NE(st.error().msg.find("exhausted"), std::string::npos);
  auto more = add(call("c2", small), seams_);
  ASSERT_FALSE(more);
  EXPECT_EQ(more.error().code, cni::Code::kNotAvailable);
  ASSERT_TRUE(del(call("c1", small), seams_));
  EXPECT_TRUE(status(call("c1", small), seams_));
}

TEST_F(IpamVerbs, GcKeepsOnlyValidAttachments) {
  for (auto cid : {"c1", "c2", "c3"}) ASSERT_TRUE(add(call(cid), seams_));
  ASSERT_TRUE(gc(call("c1"), {{"c2", "eth0"}, {"c9", "eth0"}}, seams_));
  auto left = leases();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].container_id, "c2");
}

TEST_F(IpamVerbs, DelAndGcCreateNoStore) {
  ASSERT_TRUE(del(call("c1"), seams_));
  ASSERT_TRUE(gc(call("c1"), {}, seams_));
  EXPECT_FALSE(std::filesystem::exists(store::database_path(tmp_.path())));
}

TEST_F(IpamVerbs, ResultCarriesRoutesAndDns) {
  {
    std::ofstream f(tmp_ / "resolv.conf");
    f << "nameserver 10.7.0.53\nsearch example.org\n";
  }
  json c = conf();
  c["ipam"]["routes"] = {{{"dst", "0.0.0.0/0"}}};
  c["ipam"]["resolvConf"] = tmp_ / "resolv.conf";
  auto r = add(call("c1", c), seams_);
  ASSERT_TRUE(r) << r.error().msg;
  ASSERT_EQ(r->routes.size(), 1u);
  EXPECT_EQ(r->routes[0].dst.str(), "0.0.0.0/0");
  EXPECT_EQ(r->dns.nameservers, std::vector<std::string>{"10.7.0.53"});
  EXPECT_EQ(r->dns.search, std::vector<std::string>{"example.org"});
}

TEST_F(IpamVerbs, RebootReleasesLeasesOfGoneNamespaces) {
  ASSERT_TRUE(add(call("c1", nullptr, "/ns/alive"), seams_));
  ASSERT_TRUE(add(call("c2", nullptr, "/ns/gone"), seams_));
  {
    auto db = open_store(tmp_.path(), seams_);
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->transact([](store::Txn& t) {
      return t.put_endpoint({.network = "net1",
                             .container_id = "c2",
                             .ifname = "eth0",
                             .netns = "/ns/gone",
                             .names = {"web"}});
    }));
  }
  // Same boot: a missing netns is no reason to release anything.
  seams_.netns_exists = [](const std::string& p) { return p == "/ns/alive"; };
  ASSERT_TRUE(status(call("c1"), seams_));
  EXPECT_EQ(leases().size(), 2u);

  seams_.boot_id = [] { return std::string("boot-2"); };
  ASSERT_TRUE(status(call("c1"), seams_));
  auto left = leases();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].container_id, "c1");
  auto db = open_store(tmp_.path(), seams_);
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->view([](store::Txn& t) -> Expected<void> {
    EXPECT_TRUE(t.list_endpoints("").value().empty());
    EXPECT_EQ(t.get_meta("boot_id").value(), "boot-2");
    return {};
  }));
}

// The plugin edge: stdin and env in, JSON out, exactly as the weir-ipam binary does it.
class IpamPluginEdge : public IpamVerbs {
 protected:
  struct Out {
    int rc;
    json j;
  };
  Out run(const std::string& command, json c, const std::string& cid = "c1",
          const std::string& cni_args = "") {
    if (!c.contains("cniVersion")) c["cniVersion"] = "1.0.0";
    cni::MapEnv env({{"CNI_COMMAND", command},
                     {"CNI_CONTAINERID", cid},
                     {"CNI_NETNS", "/ns/a"},
                     {"CNI_IFNAME", "eth0"},
                     {"CNI_PATH", "/nonexistent"},
                     {"CNI_ARGS", cni_args}},
                    c.dump());
    int rc = cni::plugin_main(env, verbs(), kPluginName);
    return {rc, json::parse(env.out_str(), nullptr, false)};
  }
  json versioned(const std::string& v) {
    json c = conf();
    c["cniVersion"] = v;
    c["type"] = "weir-ipam";
    c["ipam"]["ranges"] = {{{{"subnet", "10.7.0.0/24"}}}, {{{"subnet", "fd00:7::/64"}}}};
    return c;
  }
};

TEST_F(IpamPluginEdge, ResultInTheCallersVersion) {
  auto v1 = run("ADD", versioned("1.0.0"));
  ASSERT_EQ(v1.rc, 0) << v1.j;
  EXPECT_EQ(v1.j["ips"][0]["address"], "10.7.0.2/24");
  EXPECT_EQ(v1.j["ips"][1]["address"], "fd00:7::2/64");
  EXPECT_EQ(v1.j["ips"][1]["gateway"], "fd00:7::1");
  auto v02 = run("ADD", versioned("0.2.0"), "c2");
  ASSERT_EQ(v02.rc, 0) << v02.j;
  EXPECT_EQ(v02.j["ip4"]["ip"], "10.7.0.3/24");
  EXPECT_EQ(v02.j["ip6"]["ip"], "fd00:7::3/64");
  EXPECT_EQ(run("CHECK", versioned("1.0.0")).rc, 0);
  EXPECT_EQ(run("STATUS", versioned("1.1.0")).rc, 0);
  auto gc = versioned("1.1.0");
  gc["cni.dev/valid-attachments"] = {{{"containerID", "c1"}, {"ifname", "eth0"}}};
  EXPECT_EQ(run("GC", gc).rc, 0);
  EXPECT_EQ(leases().size(), 2u);  // c1's two addresses
  EXPECT_EQ(run("DEL", versioned("1.0.0")).rc, 0);
  EXPECT_TRUE(leases().empty());
}

TEST_F(IpamPluginEdge, RequestedAddressFromCniArgs) {
  auto r = run("ADD", conf(), "c1", "IgnoreUnknown=1;IP=10.7.0.5");
  ASSERT_EQ(r.rc, 0) << r.j;
  EXPECT_EQ(r.j["ips"][0]["address"], "10.7.0.5/29");
  auto taken = run("ADD", conf(), "c2", "IP=10.7.0.5");
  EXPECT_EQ(taken.rc, 1);
  EXPECT_EQ(taken.j["code"], 103) << taken.j;
}

// Bad input: code 7 naming the field, and no lease written (nor any store created).
TEST_F(IpamPluginEdge, MalformedConfigsWriteNothing) {
  struct Case {
    json ipam;
    const char* field;
  } cases[] = {
      {{{"ranges", {{{{"subnet", "10.7.0.0/33"}}}}}}, "ipam.ranges[0][0].subnet"},
      {{{"ranges", {{{{"subnet", "10.7.0.1/24"}}}}}}, "ipam.ranges[0][0].subnet"},
      {{{"ranges", {{{{"subnet", "10.7.0.0/24"}, {"rangeStart", "10.8.0.1"}}}}}},
       "ipam.ranges[0][0].rangeStart"},
      {{{"ranges", {{{{"subnet", "10.7.0.0/24"}}}, {{{"subnet", "10.7.0.0/25"}}}}}},
       "ipam.ranges[1]"},
      {{{"ranges", {{{{"subnet", "10.7.0.0/24"}}, {{"subnet", "fd00::/64"}}}}}},
       "ipam.ranges[0][1]"},
      {{{"ranges", {{{{"subnet", "10.7.0.0/24"}, {"gateway", "fd00::1"}}}}}},
       "ipam.ranges[0][0].gateway"},
  };
  ASSERT_EQ(run("ADD", conf(), "c0").rc, 0);  // one good lease first
  for (const auto& c : cases) {
    json bad = conf();
    bad["ipam"] = c.ipam;
    bad["ipam"]["dataDir"] = tmp_.path();
    auto r = run("ADD", bad, "c1");
    EXPECT_EQ(r.rc, 1);
    EXPECT_EQ(r.j["code"], 7) << r.j;
    EXPECT_NE(r.j["msg"].get<std::string>().find(c.field), std::string::npos) << r.j;
  }
  EXPECT_EQ(leases().size(), 1u);
  json fresh = conf();
  fresh["ipam"]["ranges"] = {{{{"subnet", "10.7.0.0/33"}}}};
  fresh["ipam"]["dataDir"] = tmp_ / "fresh";
  EXPECT_EQ(run("ADD", fresh).j["code"], 7);
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "fresh"));
}

}  // namespace
}  // namespace weir::ipam
