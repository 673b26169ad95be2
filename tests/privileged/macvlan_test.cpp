// weir-macvlan through the real binary. The plugin runs inside a test netns that plays the host
// (nsenter --net), with a veth end there as the master: this kernel has no dummy or 802.1q links.
// The veth's peer stays up in the same netns, so the master has carrier. The round trips and
// the rollback run on both stores: SQLite, and etcd run inside the test host netns.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "lib/cni/config.hpp"
#include "lib/cni/version.hpp"
#include "lib/store/sqlite.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/netns_etcd.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tempdir.hpp"

namespace weir::test {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

class MacvlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WEIR_REQUIRE_ROOT();
    host_.emplace("mvhost");
    int rc = -1;
    sh(ip_host("link add mvm0 type veth peer name mvp0") + " && " + ip_host("link set mvm0 up") +
           " && " + ip_host("link set mvp0 up"),
       &rc);
    ASSERT_EQ(rc, 0) << "cannot make the master veth";
    // Carrier comes up asynchronously (linkwatch), and the macvlans inherit it.
    sh("for i in $(seq 50); do " + ip_host("link show mvm0") +
           " | grep -q 'state UP' && exit 0; sleep 0.1; done; exit 1",
       &rc);
    ASSERT_EQ(rc, 0) << "the master has no carrier";
    conf_ = {{"cniVersion", "1.1.0"},
             {"name", "lan"},
             {"type", "weir-macvlan"},
             {"master", "mvm0"},
             {"ipam",
              {{"type", "weir-ipam"},
               {"ranges", {{{{"subnet", "10.88.0.0/24"}}}}},
               {"dataDir", tmp_.path()}}}};
  }

  // The network's records on `kind` (etcd: one in the test host, for this test).
  void use_store(StoreKind kind) {
    if (kind != StoreKind::kEtcd) return;
    etcd_.emplace(host_->name(), host_->path());
    conf_["store"] = etcd_->store_object();
  }

  std::string ip_host(const std::string& args) const {
    return "ip -n " + host_->name() + " " + args;
  }
  static std::string ip_in(const TestNetns& ns, const std::string& args) {
    return sh("ip -n " + ns.name() + " " + args + " 2>&1");
  }

  // The plugin, run in the test host netns for the container ctr.
  test::Run plugin(const std::string& command, const TestNetns& ctr, const json& conf,
                   std::map<std::string, std::string> extra = {}) const {
    return plugin_at(command, ctr.path(), ctr.name(), conf, std::move(extra));
  }
  test::Run plugin_at(const std::string& command, const std::string& netns, const std::string& id,
                      const json& conf, std::map<std::string, std::string> extra = {}) const {
    auto env = cni_env(command, netns, id);
    for (auto& [k, v] : extra) env[k] = v;
    return run_cmd("/usr/bin/nsenter", {"--net=" + host_->path(), bin("weir-macvlan")}, env,
                   conf.dump());
  }

  size_t leases() const {
    if (etcd_) return etcd_->keys("/leases/lan/").size();
    auto db = store::SqliteStore::open(store::database_path(tmp_.path()));
    if (!db) return 0;  // nothing was ever stored
    size_t n = 0;
    EXPECT_TRUE(db->view([&](store::Txn& t) -> Expected<void> {
      n = t.list_leases("lan").value().size();
      return {};
    }));
    return n;
  }
  std::vector<store::Endpoint> endpoints() const {
    if (etcd_) return etcd_->endpoints("lan");
    std::vector<store::Endpoint> out;
    auto db = store::SqliteStore::open(store::database_path(tmp_.path()));
    if (!db) return out;
    EXPECT_TRUE(db->view([&](store::Txn& t) -> Expected<void> {
      out = t.list_endpoints("lan").value();
      return {};
    }));
    return out;
  }
  void expect_nothing_left(const TestNetns& ctr) const {
    EXPECT_EQ(leases(), 0u);
    EXPECT_TRUE(endpoints().empty());
    EXPECT_THAT(ip_in(ctr, "-d link show"), Not(HasSubstr("macvlan")));
    EXPECT_THAT(sh(ip_host("link show")), Not(HasSubstr("weirtmp")));
    EXPECT_THAT(ip_in(ctr, "link show"), Not(HasSubstr("weirtmp")));
    if (etcd_) {
      EXPECT_THAT(etcd_->attachment_keys(), ::testing::IsEmpty());
    }
  }
  bool ping(const TestNetns& from, const std::string& to) const {
    int rc = -1;
    sh("ip netns exec " + from.name() + " ping -c2 -i0.2 -W1 " + to + " >/dev/null 2>&1", &rc);
    return rc == 0;
  }

  TempDir tmp_;
  std::optional<TestNetns> host_;
  std::optional<NetnsEtcd> etcd_;  // stopped before its netns goes
  json conf_;
};

// ---- Every verb at the versions a runtime uses

// (store, cniVersion)
class MacvlanVersions
    : public MacvlanTest,
      public ::testing::WithParamInterface<std::tuple<StoreKind, std::string_view>> {
 protected:
  void SetUp() override {
    WEIR_REQUIRE_STORE(std::get<0>(GetParam()));
    MacvlanTest::SetUp();
    if (!HasFatalFailure() && !IsSkipped()) use_store(std::get<0>(GetParam()));
  }
};

TEST_P(MacvlanVersions, AddCheckDelInCallersVersion) {
  TestNetns ctr("mvctr");
  const std::string v(std::get<1>(GetParam()));
  conf_["cniVersion"] = v;
  auto add = plugin("ADD", ctr, conf_);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  json r = add.json();
  EXPECT_EQ(r["cniVersion"], v);
  ASSERT_EQ(r["interfaces"].size(), 1u) << add.out;
  EXPECT_EQ(r["interfaces"][0]["name"], "eth0");
  EXPECT_EQ(r["interfaces"][0]["sandbox"], ctr.path());
  ASSERT_EQ(r["ips"].size(), 1u);
  EXPECT_EQ(r["ips"][0]["address"], "10.88.0.2/24");
  EXPECT_EQ(r["ips"][0]["gateway"], "10.88.0.1");
  EXPECT_EQ(r["ips"][0]["interface"], 0);
  // The default route via the IPAM gateway (containernetworking/plugins#646).
  ASSERT_EQ(r["routes"].size(), 1u) << add.out;
  EXPECT_EQ(r["routes"][0]["dst"], "0.0.0.0/0");
  EXPECT_EQ(r["routes"][0]["gw"], "10.88.0.1");

  const std::string link = ip_in(ctr, "-d link show eth0");
  EXPECT_THAT(link, HasSubstr("macvlan mode bridge"));
  EXPECT_THAT(link, HasSubstr(r["interfaces"][0]["mac"].get<std::string>()));
  EXPECT_THAT(link, HasSubstr("state UP"));
  EXPECT_THAT(ip_in(ctr, "-4 addr show eth0"), HasSubstr("10.88.0.2/24"));
  EXPECT_THAT(ip_in(ctr, "route show default"), HasSubstr("default via 10.88.0.1 dev eth0"));
  EXPECT_EQ(sh("ip netns exec " + ctr.name() + " cat /proc/sys/net/ipv4/conf/eth0/arp_notify"),
            "1\n");
  EXPECT_THAT(sh(ip_host("link show")), Not(HasSubstr("weirtmp")));
  EXPECT_EQ(leases(), 1u);

  json prev = conf_;
  prev["prevResult"] = r;
  auto check = plugin("CHECK", ctr, prev);
  if (cni::at_least(v, "0.4.0")) {
    EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  } else {
    EXPECT_EQ(check.json()["code"], 1);
  }

  auto del = plugin("DEL", ctr, prev);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  expect_nothing_left(ctr);
  auto again = plugin("DEL", ctr, conf_);
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
}

INSTANTIATE_TEST_SUITE_P(Versions, MacvlanVersions,
                         ::testing::Combine(::testing::Values(StoreKind::kSqlite, StoreKind::kEtcd),
                                            ::testing::Values("0.3.1", "0.4.0", "1.0.0", "1.1.0")),
                         [](const auto& info) {
                           std::string n(std::get<1>(info.param));
                           for (auto& c : n) c = c == '.' ? '_' : c;
                           return std::string(store_kind_name(std::get<0>(info.param))) + "_v" + n;
                         });

// The tests that take a store run once on each.
class MacvlanStores : public MacvlanTest, public ::testing::WithParamInterface<StoreKind> {
 protected:
  void SetUp() override {
    WEIR_REQUIRE_STORE(GetParam());
    MacvlanTest::SetUp();
    if (!HasFatalFailure() && !IsSkipped()) use_store(GetParam());
  }
};

// ---- Modes

TEST_F(MacvlanTest, BridgeModeContainersReachEachOther) {
  TestNetns a("mva");
  TestNetns b("mvb");
  ASSERT_EQ(plugin("ADD", a, conf_).exit_code, 0);
  auto rb = plugin("ADD", b, conf_);
  ASSERT_EQ(rb.exit_code, 0) << rb.out;
  EXPECT_EQ(rb.json()["ips"][0]["address"], "10.88.0.3/24");
  EXPECT_TRUE(ping(a, "10.88.0.3"));
  EXPECT_TRUE(ping(b, "10.88.0.2"));
}

TEST_F(MacvlanTest, PrivateModeContainersCannotReachEachOther) {
  conf_["mode"] = "private";
  TestNetns a("mva");
  TestNetns b("mvb");
  ASSERT_EQ(plugin("ADD", a, conf_).exit_code, 0);
  ASSERT_EQ(plugin("ADD", b, conf_).exit_code, 0);
  EXPECT_THAT(ip_in(a, "-d link show eth0"), HasSubstr("macvlan mode private"));
  EXPECT_FALSE(ping(a, "10.88.0.3"));
  EXPECT_FALSE(ping(b, "10.88.0.2"));
}

TEST_F(MacvlanTest, VepaModeIsSet) {
  conf_["mode"] = "vepa";
  TestNetns a("mva");
  auto add = plugin("ADD", a, conf_);
  ASSERT_EQ(add.exit_code, 0) << add.out;
  EXPECT_THAT(ip_in(a, "-d link show eth0"), HasSubstr("macvlan mode vepa"));
}

TEST_F(MacvlanTest, PassthruAllowsOnlyOneChild) {
  conf_["mode"] = "passthru";
  TestNetns a("mva");
  TestNetns b("mvb");
  auto first = plugin("ADD", a, conf_);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  // A passthru child takes the master's own MAC.
  const std::string master = sh(ip_host("link show mvm0"));
  EXPECT_THAT(master, HasSubstr(first.json()["interfaces"][0]["mac"].get<std::string>()));

  auto second = plugin("ADD", b, conf_);
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_EQ(second.json()["code"], 7) << second.out;
  EXPECT_THAT(second.json()["msg"].get<std::string>(), HasSubstr("passthru"));
  // The failed ADD left nothing: one lease, one endpoint, no link in b.
  EXPECT_EQ(leases(), 1u);
  EXPECT_EQ(endpoints().size(), 1u);
  EXPECT_THAT(ip_in(b, "link show"), Not(HasSubstr("eth0")));
  EXPECT_THAT(sh(ip_host("link show")), Not(HasSubstr("weirtmp")));

  // A bridge-mode child next to the passthru one is refused the same way.
  json bridged = conf_;
  bridged["mode"] = "bridge";
  auto third = plugin("ADD", b, bridged);
  EXPECT_EQ(third.json()["code"], 7) << third.out;
  EXPECT_THAT(third.json()["msg"].get<std::string>(), HasSubstr("taken by a passthru macvlan"));
  EXPECT_EQ(leases(), 1u);
}

// ---- Config against the host

TEST_F(MacvlanTest, MtuAboveTheMastersIsInvalidConfig) {
  TestNetns a("mva");
  conf_["mtu"] = 9000;
  auto big = plugin("ADD", a, conf_);
  EXPECT_EQ(big.exit_code, 1);
  EXPECT_EQ(big.json()["code"], 7) << big.out;
  EXPECT_THAT(big.json()["msg"].get<std::string>(), HasSubstr("1500"));
  expect_nothing_left(a);

  conf_["mtu"] = 1400;
  auto ok = plugin("ADD", a, conf_);
  ASSERT_EQ(ok.exit_code, 0) << ok.out;
  EXPECT_EQ(ok.json()["interfaces"][0]["mtu"], 1400);
  EXPECT_THAT(ip_in(a, "link show eth0"), HasSubstr("mtu 1400"));
  EXPECT_EQ(plugin("CHECK", a, conf_).exit_code, 0);
}

TEST_F(MacvlanTest, MissingMasterIsInvalidConfig) {
  TestNetns a("mva");
  conf_["master"] = "nope0";
  auto add = plugin("ADD", a, conf_);
  EXPECT_EQ(add.exit_code, 1);
  EXPECT_EQ(add.json()["code"], 7) << add.out;
  EXPECT_THAT(add.json()["msg"].get<std::string>(), HasSubstr("master \"nope0\" does not exist"));
  expect_nothing_left(a);
  // STATUS says the network cannot serve ADDs (50) until the master is there.
  auto status = plugin("STATUS", a, conf_);
  EXPECT_EQ(status.json()["code"], 50) << status.out;
  conf_["master"] = "mvm0";
  EXPECT_EQ(plugin("STATUS", a, conf_).exit_code, 0);
}

TEST(MacvlanVersion, PrintsSupportedVersions) {
  auto v = run_plugin("weir-macvlan", {{"CNI_COMMAND", "VERSION"}}, "");
  ASSERT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.json()["supportedVersions"].size(), cni::kSupportedVersions.size());
}

TEST_F(MacvlanTest, DefaultMasterIsTheLinkOfTheDefaultRoute) {
  TestNetns a("mva");
  conf_.erase("master");
  auto none = plugin("ADD", a, conf_);
  EXPECT_EQ(none.json()["code"], 7) << none.out;
  EXPECT_THAT(none.json()["msg"].get<std::string>(), HasSubstr("no default route"));
  expect_nothing_left(a);

  int rc = -1;
  sh(ip_host("addr add 192.168.77.2/24 dev mvm0") + " && " +
         ip_host("route add default via 192.168.77.1"),
     &rc);
  ASSERT_EQ(rc, 0);
  auto add = plugin("ADD", a, conf_);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  // eth0@ifN: N is the master's ifindex in the host.
  const std::string idx = sh(ip_host("-o link show mvm0 | cut -d: -f1"));
  EXPECT_THAT(ip_in(a, "link show eth0"),
              HasSubstr("eth0@if" + idx.substr(0, idx.size() - 1) + ":"));
  EXPECT_EQ(plugin("CHECK", a, conf_).exit_code, 0);
}

TEST_F(MacvlanTest, MacFromConfigArgsAndRuntimeConfig) {
  TestNetns a("mva");
  TestNetns b("mvb");
  TestNetns c("mvc");
  conf_["mac"] = "02:00:00:00:aa:01";
  ASSERT_EQ(plugin("ADD", a, conf_).exit_code, 0);
  EXPECT_THAT(ip_in(a, "link show eth0"), HasSubstr("02:00:00:00:aa:01"));
  auto args = plugin("ADD", b, conf_, {{"CNI_ARGS", "IgnoreUnknown=1;MAC=02:00:00:00:aa:02"}});
  ASSERT_EQ(args.exit_code, 0) << args.out;
  EXPECT_THAT(ip_in(b, "link show eth0"), HasSubstr("02:00:00:00:aa:02"));
  json rc = conf_;
  rc["runtimeConfig"] = {{"mac", "02:00:00:00:aa:03"}};
  auto add = plugin("ADD", c, rc, {{"CNI_ARGS", "MAC=02:00:00:00:aa:02"}});
  ASSERT_EQ(add.exit_code, 0) << add.out;
  EXPECT_EQ(add.json()["interfaces"][0]["mac"], "02:00:00:00:aa:03");
  EXPECT_EQ(plugin("CHECK", c, rc).exit_code, 0);
}

// podman's --mac-address on a macvlan network: runtimeConfig.mac, also without IPAM (L2 only).
TEST_F(MacvlanTest, RuntimeConfigMacWithoutIpam) {
  TestNetns a("mva");
  json l2 = conf_;
  l2["ipam"] = json::object();
  l2["dataDir"] = tmp_.path();
  l2["capabilities"] = {{"mac", true}};
  l2["runtimeConfig"] = {{"mac", "c2:11:22:33:44:55"}};
  auto add = plugin("ADD", a, l2);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(add.json()["interfaces"][0]["mac"], "c2:11:22:33:44:55") << add.out;
  EXPECT_THAT(ip_in(a, "link show eth0"), HasSubstr("c2:11:22:33:44:55"));
  EXPECT_EQ(plugin("CHECK", a, l2).exit_code, 0);
  EXPECT_EQ(plugin("DEL", a, l2).exit_code, 0);
}

TEST_F(MacvlanTest, LinkInContainerUsesAMasterInTheContainer) {
  TestNetns a("mva");
  int rc = -1;
  sh("ip -n " + a.name() + " link add cm0 type veth peer name cp0 && ip -n " + a.name() +
         " link set cm0 up && ip -n " + a.name() + " link set cp0 up",
     &rc);
  ASSERT_EQ(rc, 0);
  conf_["master"] = "cm0";
  conf_["linkInContainer"] = true;
  auto add = plugin("ADD", a, conf_);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_THAT(ip_in(a, "-d link show eth0"), HasSubstr("eth0@cm0"));
  EXPECT_EQ(plugin("CHECK", a, conf_).exit_code, 0);
  EXPECT_EQ(plugin("DEL", a, conf_).exit_code, 0);
  expect_nothing_left(a);
}

// ---- Failures and DEL

TEST_P(MacvlanStores, FailedAddRollsEverythingBack) {
  TestNetns a("mva");
  // A route whose gateway is not on the link fails after the link and addresses exist.
  json bad = conf_;
  bad["ipam"]["routes"] = {{{"dst", "10.99.0.0/16"}, {"gw", "192.0.2.1"}}};
  auto add = plugin("ADD", a, bad);
  EXPECT_EQ(add.exit_code, 1);
  EXPECT_THAT(add.json()["msg"].get<std::string>(), HasSubstr("10.99.0.0/16"));
  expect_nothing_left(a);

  // The name is taken in the container: the lease goes back.
  int rc = -1;
  sh("ip -n " + a.name() + " link add eth0 type veth peer name other0", &rc);
  ASSERT_EQ(rc, 0);
  auto taken = plugin("ADD", a, conf_);
  EXPECT_EQ(taken.exit_code, 1);
  EXPECT_THAT(taken.json()["msg"].get<std::string>(),
              HasSubstr("\"eth0\" already exists in the container"));
  EXPECT_THAT(ip_in(a, "link show"), Not(HasSubstr("weirtmp")));
  EXPECT_EQ(leases(), 0u);
  EXPECT_TRUE(endpoints().empty());
  EXPECT_THAT(sh(ip_host("link show")), Not(HasSubstr("weirtmp")));
  // DEL of that attachment leaves the link that is not ours alone.
  EXPECT_EQ(plugin("DEL", a, conf_).exit_code, 0);
  EXPECT_THAT(ip_in(a, "link show eth0"), HasSubstr("eth0@other0"));
}

TEST_F(MacvlanTest, DelSucceedsWhenTheMasterIsGone) {
  TestNetns a("mva");
  ASSERT_EQ(plugin("ADD", a, conf_).exit_code, 0);
  sh(ip_host("link del mvm0"));
  // The kernel took the macvlan with its master.
  EXPECT_THAT(ip_in(a, "link show eth0"), HasSubstr("does not exist"));
  auto check = plugin("CHECK", a, conf_);
  EXPECT_EQ(check.json()["code"], 101) << check.out;
  auto del = plugin("DEL", a, conf_);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  expect_nothing_left(a);
  EXPECT_EQ(plugin("DEL", a, conf_).exit_code, 0);
}

TEST_F(MacvlanTest, DelSucceedsWhenTheNetnsIsGone) {
  std::string path, id;
  {
    TestNetns a("mva");
    path = a.path();
    id = a.name();
    ASSERT_EQ(plugin("ADD", a, conf_).exit_code, 0);
  }
  auto del = plugin_at("DEL", path, id, conf_);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_EQ(leases(), 0u);
  EXPECT_TRUE(endpoints().empty());
  EXPECT_EQ(plugin_at("DEL", "", id, conf_).exit_code, 0);
}

TEST_F(MacvlanTest, CheckFindsWhatChanged) {
  TestNetns a("mva");
  ASSERT_EQ(plugin("ADD", a, conf_).exit_code, 0);
  ASSERT_EQ(plugin("CHECK", a, conf_).exit_code, 0);
  auto expect_check = [&](const std::string& what) {
    auto check = plugin("CHECK", a, conf_);
    EXPECT_EQ(check.exit_code, 1);
    EXPECT_EQ(check.json()["code"], 101) << check.out;
    EXPECT_THAT(check.json()["msg"].get<std::string>(), HasSubstr(what));
  };
  sh("ip -n " + a.name() + " route del default");
  expect_check("default route via 10.88.0.1");
  sh("ip -n " + a.name() + " route add default via 10.88.0.1");
  sh("ip -n " + a.name() + " addr del 10.88.0.2/24 dev eth0");
  expect_check("address 10.88.0.2/24 is missing");
  sh("ip -n " + a.name() + " addr add 10.88.0.2/24 dev eth0 && ip -n " + a.name() +
     " route add default via 10.88.0.1");
  ASSERT_EQ(plugin("CHECK", a, conf_).exit_code, 0);
  sh("ip -n " + a.name() + " link set eth0 down");
  expect_check("is down");
  TestNetns b("mvb");
  auto unknown = plugin("CHECK", b, conf_);
  EXPECT_EQ(unknown.json()["code"], 101) << unknown.out;
}

TEST_F(MacvlanTest, CheckVerifiesTheMode) {
  TestNetns a("mva");
  conf_["mode"] = "private";
  ASSERT_EQ(plugin("ADD", a, conf_).exit_code, 0);
  ASSERT_EQ(plugin("CHECK", a, conf_).exit_code, 0);
  json other = conf_;
  other["mode"] = "vepa";
  auto check = plugin("CHECK", a, other);
  EXPECT_EQ(check.exit_code, 1);
  EXPECT_EQ(check.json()["code"], 101) << check.out;
  EXPECT_THAT(check.json()["msg"].get<std::string>(),
              HasSubstr("has macvlan mode private, not vepa"));
  EXPECT_EQ(plugin("DEL", a, conf_).exit_code, 0);
}

TEST_P(MacvlanStores, GcRemovesWhatIsNotValid) {
  TestNetns a("mva");
  TestNetns b("mvb");
  ASSERT_EQ(plugin("ADD", a, conf_).exit_code, 0);
  ASSERT_EQ(plugin("ADD", b, conf_).exit_code, 0);
  json gc = conf_;
  gc["cni.dev/valid-attachments"] = {{{"containerID", a.name()}, {"ifname", "eth0"}}};
  auto r = run_cmd("/usr/bin/nsenter", {"--net=" + host_->path(), bin("weir-macvlan")},
                   {{"CNI_COMMAND", "GC"}, {"CNI_PATH", WEIR_BIN_DIR}}, gc.dump());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(leases(), 1u);
  ASSERT_EQ(endpoints().size(), 1u);
  EXPECT_EQ(endpoints()[0].container_id, a.name());
  EXPECT_THAT(ip_in(a, "-d link show eth0"), HasSubstr("macvlan"));
  EXPECT_THAT(ip_in(b, "link show eth0"), HasSubstr("does not exist"));
  EXPECT_EQ(plugin("DEL", a, conf_).exit_code, 0);
  expect_nothing_left(a);
}

INSTANTIATE_TEST_SUITE_P(Stores, MacvlanStores,
                         ::testing::Values(StoreKind::kSqlite, StoreKind::kEtcd),
                         [](const auto& info) { return std::string(store_kind_name(info.param)); });

// weir-agent cannot read etcd yet: the embedded DNS on an etcd network is refused (code 2) with
// nothing made.
TEST_F(MacvlanTest, EmbeddedDnsOnEtcdIsRefused) {
  WEIR_REQUIRE_STORE(StoreKind::kEtcd);
  use_store(StoreKind::kEtcd);
  TestNetns a("mva");
  json c = conf_;
  c["embeddedDNS"] = true;
  auto add = plugin("ADD", a, c);
  EXPECT_EQ(add.exit_code, 1) << add.out << add.err;
  EXPECT_EQ(add.json().value("code", 0), 2) << add.out;
  EXPECT_THAT(add.json().value("msg", ""),
              HasSubstr("embedded DNS on an etcd store is not supported yet"));
  expect_nothing_left(a);
  EXPECT_FALSE(std::filesystem::exists(tmp_.path() + "/agent.sock"));
}

TEST_F(MacvlanTest, EndpointRecordCarriesNamesForTheDns) {
  TestNetns a("mva");
  json c = conf_;
  c["embeddedDNS"] = true;
  c["dns"] = {{"nameservers", {"127.0.0.11"}}};
  c["runtimeConfig"] = {{"aliases", {{"lan", {"web"}}}}};
  auto add = plugin("ADD", a, c, {{"CNI_ARGS", "K8S_POD_NAME=web-1"}});
  ASSERT_EQ(add.exit_code, 0) << add.out;
  EXPECT_EQ(add.json()["dns"]["nameservers"][0], "127.0.0.11");
  auto eps = endpoints();
  ASSERT_EQ(eps.size(), 1u);
  EXPECT_EQ(eps[0].netns, a.path());
  EXPECT_EQ(eps[0].host_ifname, "");
  EXPECT_THAT(eps[0].names, ::testing::Contains("web-1"));
  EXPECT_THAT(eps[0].aliases, ::testing::ElementsAre("web"));
  ASSERT_EQ(eps[0].ips.size(), 1u);
  EXPECT_EQ(eps[0].ips[0].str(), "10.88.0.2/24");
  json extra = json::parse(eps[0].extra);
  EXPECT_EQ(extra["driver"], "macvlan");
  EXPECT_EQ(extra["master"], "mvm0");
  EXPECT_EQ(extra["mode"], "bridge");
  EXPECT_EQ(extra["embeddedDNS"], true);
  EXPECT_EQ(extra["dnsInNetns"], true);
  EXPECT_EQ(extra["gateways"], json::array({"10.88.0.1"}));
  // DEL of the last DNS endpoint lets the weir-agent that ADD started exit.
  auto del = plugin("DEL", a, c, {});
  EXPECT_EQ(del.exit_code, 0) << del.out;
}

TEST_F(MacvlanTest, BadConfigGetsCodeSevenAndChangesNothing) {
  TestNetns a("mva");
  const std::vector<std::pair<std::string, json>> cases = {
      {"mode", "bogus"},
      {"mode", 3},
      {"mtu", "1400"},
      {"mtu", 20},
      {"master", "bad/name"},
      {"master", "lo"},
      {"mac", "nope"},
      {"mac", "01:00:5e:00:00:01"},
      {"linkInContainer", "yes"},
      {"ipam", {{"ranges", json::array()}}},
  };
  for (const auto& [key, value] : cases) {
    json c = conf_;
    c[key] = value;
    auto r = plugin("ADD", a, c);
    EXPECT_EQ(r.exit_code, 1) << key;
    EXPECT_EQ(r.json()["code"], 7) << key << " = " << value << " → " << r.out;
  }
  json passthru_mac = conf_;
  passthru_mac["mode"] = "passthru";
  passthru_mac["mac"] = "02:00:00:00:aa:01";
  EXPECT_EQ(plugin("ADD", a, passthru_mac).json()["code"], 7);
  auto missing = plugin_at("ADD", "/var/run/netns/weirt-does-not-exist", "x", conf_);
  EXPECT_EQ(missing.json()["code"], 3) << missing.out;
  expect_nothing_left(a);
}

// conf/macvlan.conflist, with the test's master and store.
TEST_F(MacvlanTest, ExampleConflistWorks) {
  std::ifstream in(std::filesystem::path(WEIR_SOURCE_DIR) / "conf/macvlan.conflist");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto list = cni::parse_conflist(text);
  ASSERT_TRUE(list) << list.error().msg;
  ASSERT_EQ(list->plugins.size(), 1u);
  json c = list->plugins[0];
  c["cniVersion"] = list->cni_version;
  c["name"] = "lan";
  c["master"] = "mvm0";
  c["ipam"]["dataDir"] = tmp_.path();
  TestNetns a("mva");
  auto add = plugin("ADD", a, c);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(add.json()["ips"][0]["address"], "192.168.1.200/24");
  EXPECT_EQ(add.json()["routes"][0]["gw"], "192.168.1.1");
  EXPECT_EQ(plugin("CHECK", a, c).exit_code, 0);
  EXPECT_EQ(plugin("DEL", a, c).exit_code, 0);
  expect_nothing_left(a);
}

}  // namespace
}  // namespace weir::test
