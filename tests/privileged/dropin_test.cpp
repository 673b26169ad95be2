// What a user coming from the reference plugins, ctr or podman meets first (issue "a true
// drop-in"): a container id that comes back after a crash, one store per network, reference
// configs read as the reference reads them. Through the real binaries, in private netns.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/bridge_fixture.hpp"

namespace weir::test::bridge {
namespace {

using ::testing::HasSubstr;

class DropIn : public ::testing::Test {
 protected:
  void SetUp() override { WEIR_REQUIRE_ROOT(); }
};

// A runtime that crashed (or a kill -9'd ctr) deleted the netns without a DEL; the same
// container id comes back in a new netns. The reference plugins, holding no record, just work:
// so does weir, after cleaning up the stale attachment as its DEL would.
TEST_F(DropIn, AContainerIdWhoseNetnsVanishedCanBeAddedAgain) {
  Host host;
  json conf = bridge_conf(host, "crash", "wbcr0", {"10.61.0.0/24"});
  Container other("dr-other");
  ASSERT_EQ(host.add(other, conf).exit_code, 0);
  std::string old_veth;
  {
    Container web("dr-web");
    web.id = "web";
    auto add = host.add(web, conf);
    ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
    old_veth = add.json()["interfaces"][1]["name"];
  }  // its netns is gone, no DEL ran
  Container again("dr-web2");
  again.id = "web";
  auto add = host.add(again, conf);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(add.json()["interfaces"][2]["sandbox"], again.path());
  EXPECT_FALSE(again.addr().empty());
  EXPECT_TRUE(again.ping(other.addr()));
  EXPECT_EQ(host.lease_count("crash"), 2u);
  EXPECT_EQ(host.endpoint_count("crash"), 2u);
  auto ep = host.endpoint("crash", "web");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->netns, again.path());
  EXPECT_EQ(host.check(again, conf).exit_code, 0) << host.check(again, conf).out;

  // A second ADD while the container lives is still refused, from any netns.
  auto twice = host.add(again, conf);
  EXPECT_EQ(twice.json()["code"], 4) << twice.out;
  EXPECT_THAT(twice.out, HasSubstr("DEL it first"));
  Container elsewhere("dr-web3");
  elsewhere.id = "web";
  EXPECT_EQ(host.add(elsewhere, conf).json()["code"], 4);

  EXPECT_EQ(host.del(again, conf).exit_code, 0);
  EXPECT_EQ(host.del(other, conf).exit_code, 0);
  EXPECT_EQ(host.veth_count(), 0);
  EXPECT_EQ(host.lease_count("crash"), 0u);
  EXPECT_FALSE(host.link_exists("wbcr0"));
}

// `ip netns add web` after a crash gives a new namespace at the old path: another container.
TEST_F(DropIn, ANewNetnsAtTheSamePathIsAnotherContainer) {
  Host host;
  json conf = bridge_conf(host, "crash2", "wbcr1", {"10.62.0.0/24"});
  const std::string name = "weirt-drsame-" + std::to_string(::getpid());
  const std::string path = "/var/run/netns/" + name;
  struct Gone {
    std::string name;
    ~Gone() { sh("ip netns del " + name + " 2>/dev/null"); }
  } gone{name};
  sh("ip netns add " + name);
  auto add = host.plugin("ADD", path, "same", conf);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  sh("ip netns del " + name + " && ip netns add " + name);
  auto again = host.plugin("ADD", path, "same", conf);
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_THAT(sh("ip -n " + name + " -4 -o addr show dev eth0"), HasSubstr("10.62.0."));
  EXPECT_EQ(host.lease_count("crash2"), 1u);
  EXPECT_EQ(host.plugin("DEL", path, "same", conf).exit_code, 0);
  EXPECT_EQ(host.veth_count(), 0);
}

// One network, one store: a weir-bridge config that moves its store with `dataDir` keeps its
// leases there too, not in /var/lib/weir.
TEST_F(DropIn, APluginDataDirHoldsTheLeasesToo) {
  Host host;
  const std::string var_lib = host.private_var_lib();  // what the plugins see as /var/lib
  json conf = bridge_conf(host, "onestore", "wbos0", {"10.63.0.0/24"});
  conf["ipam"].erase("dataDir");
  conf["dataDir"] = host.data_dir();
  Container c("dr-store");
  auto add = host.add(c, conf);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_FALSE(std::filesystem::exists(var_lib + "/weir")) << "a second store in /var/lib/weir";
  size_t leases = 0, endpoints = 0;
  auto db = store::SqliteStore::open(store::database_path(host.data_dir()));
  ASSERT_TRUE(db) << db.error().msg;
  ASSERT_TRUE(db->view([&](store::Txn& t) -> Expected<void> {
    leases = t.list_leases("onestore").value().size();
    endpoints = t.list_endpoints("onestore").value().size();
    return {};
  }));
  EXPECT_EQ(leases, 1u);
  EXPECT_EQ(endpoints, 1u);
  EXPECT_EQ(host.del(c, conf).exit_code, 0);
  ASSERT_TRUE(db->view([&](store::Txn& t) -> Expected<void> {
    leases = t.list_leases("onestore").value().size();
    return {};
  }));
  EXPECT_EQ(leases, 0u);
  EXPECT_FALSE(std::filesystem::exists(var_lib + "/weir"));
}

// A bridge made before weir's first ADD (by a person or another tool) keeps its MAC, and the
// result reports the kernel's.
TEST_F(DropIn, AnExistingBridgeKeepsItsMac) {
  Host host;
  // Made as a person makes one: its MAC the kernel's random choice, which would follow the
  // lowest port's (br_stp_recalculate_bridge_id) unless set.
  host.ip("link add wbmine type bridge");
  const std::string mac = sh("ip -n " + host.name() + " -o link show wbmine | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2");
  ASSERT_EQ(mac.size(), 18u) << mac;
  const std::string before = mac.substr(0, 17);
  json conf = bridge_conf(host, "mine", "wbmine", {"10.64.0.0/24"});
  Container a("dr-mine-a"), b("dr-mine-b");
  auto add = host.add(a, conf);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  ASSERT_EQ(host.add(b, conf).exit_code, 0);
  EXPECT_THAT(host.ip("link show wbmine"), HasSubstr(before));
  EXPECT_EQ(add.json()["interfaces"][0]["mac"], before) << add.out;
  EXPECT_EQ(host.del(a, conf).exit_code, 0);
  EXPECT_EQ(host.del(b, conf).exit_code, 0);
}

// cniVersion 0.1.0/0.2.0 results hold one address per family: two IPv4 range sets are refused
// (code 7), as the reference host-local refuses them, and nothing is leased or made.
TEST_F(DropIn, OldVersionsRefuseTwoAddressesOfOneFamily) {
  Host host;
  for (const std::string v : {"0.1.0", "0.2.0"}) {
    SCOPED_TRACE(v);
    json conf = bridge_conf(host, "old", "wbold0", {"10.65.0.0/24", "10.66.0.0/24"}, v);
    Container c("dr-old");
    auto add = host.add(c, conf);
    EXPECT_EQ(add.json()["code"], 7) << add.out;
    EXPECT_THAT(add.out, HasSubstr("does not support more than 1 address per family"));
    EXPECT_EQ(host.lease_count("old"), 0u);
    EXPECT_EQ(host.veth_count(), 0);
    EXPECT_FALSE(host.link_exists("wbold0"));
    // The same through weir-ipam under another plugin.
    json ipam = conf["ipam"];
    json direct = {{"cniVersion", v}, {"name", "old"}, {"type", "bridge"}, {"ipam", ipam}};
    auto r = host.plugin("ADD", c.path(), c.id, direct, {}, "eth0", "weir-ipam");
    EXPECT_EQ(r.json()["code"], 7) << r.out;
    EXPECT_EQ(host.lease_count("old"), 0u);
  }
}

// CNI_ARGS that are not K=V;… ("none", as some runtimes and test suites send): accepted by the
// plugins that read no argument, as the reference loopback accepts them; refused (code 4) by
// those that do, as the reference bridge refuses them — leaving nothing behind.
TEST_F(DropIn, ArgsThatAreNotPairs) {
  Host host;
  Container c("dr-args");
  json none = {{"cniVersion", "1.1.0"}, {"name", "lo"}, {"type", "weir-none"}};
  auto lo = host.plugin("ADD", c.path(), c.id, none, {{"CNI_ARGS", "none"}}, "eth0", "weir-none");
  EXPECT_EQ(lo.exit_code, 0) << lo.out << lo.err;
  json hostnet = {{"cniVersion", "1.1.0"}, {"name", "hostnet"}, {"type", "weir-host"}, {"dataDir", host.data_dir()}};
  auto h = host.plugin("ADD", host.path(), "h1", hostnet, {{"CNI_ARGS", "none"}}, "eth0", "weir-host");
  EXPECT_EQ(h.exit_code, 0) << h.out << h.err;
  EXPECT_EQ(host.plugin("DEL", host.path(), "h1", hostnet, {{"CNI_ARGS", "none"}}, "eth0", "weir-host").exit_code, 0);
  json conf = bridge_conf(host, "args", "wbargs0", {"10.67.0.0/24"});
  auto br = host.add(c, conf, {{"CNI_ARGS", "none"}});
  EXPECT_EQ(br.json()["code"], 4) << br.out;
  EXPECT_THAT(br.out, HasSubstr("CNI_ARGS"));
  EXPECT_EQ(host.lease_count("args"), 0u);
  EXPECT_EQ(host.veth_count(), 0);
  EXPECT_FALSE(host.link_exists("wbargs0"));
  EXPECT_EQ(host.del(c, conf, {{"CNI_ARGS", "none"}}).exit_code, 0) << "DEL stays tolerant";
}

}  // namespace
}  // namespace weir::test::bridge
