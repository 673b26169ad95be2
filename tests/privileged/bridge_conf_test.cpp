// weir-bridge with the configs people bring: conf/bridge.conflist and conf/bridge-user.conflist,
// the reference bridge plugin's documented examples with only `type` changed, and IPAM plugins
// other than weir-ipam (host-local, static) exec'd per the spec, at every version they speak.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "lib/cni/config.hpp"
#include "lib/cni/version.hpp"
#include "tests/support/bridge_fixture.hpp"

namespace weir::test::bridge {
namespace {

namespace fs = std::filesystem;

json load_conflist(const std::string& file) {
  std::ifstream in(fs::path(WEIR_SOURCE_DIR) / "conf" / file);
  std::string text(std::istreambuf_iterator<char>(in), {});
  auto list = cni::parse_conflist(text);
  EXPECT_TRUE(list) << file << ": " << (list ? "" : list.error().msg);
  return json::parse(text);
}

// The first plugin of a conflist as a runtime hands it over: name and version injected.
json plugin_conf(const json& list, const std::string& version) {
  json c = list["plugins"][0];
  c["name"] = list["name"];
  c["cniVersion"] = version;
  return c;
}

class BridgeConf : public ::testing::Test {
 protected:
  void SetUp() override { WEIR_REQUIRE_ROOT(); }
};

TEST_F(BridgeConf, DefaultNetworkConflist) {
  Host host;
  json list = load_conflist("bridge.conflist");
  EXPECT_EQ(list["plugins"][0]["embeddedDNS"], false);
  for (const std::string v : {"0.4.0", "1.0.0", "1.1.0"}) {
    SCOPED_TRACE(v);
    json conf = plugin_conf(list, v);
    conf["ipam"]["dataDir"] = host.data_dir();
    conf["runtimeConfig"] = {{"portMappings", {{{"hostPort", 8088}, {"containerPort", 80}, {"protocol", "tcp"}}}},
                             {"aliases", {{"weir", {"web"}}}}};
    Container web("ctr-default"), client("ctr-default-2");
    auto add = host.add(web, conf);
    ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
    json r = add.json();
    EXPECT_EQ(r["interfaces"][0]["name"], "weir0");
    EXPECT_EQ(r["ips"][0]["gateway"], "172.17.0.1");
    EXPECT_TRUE(r["ips"][0]["address"].get<std::string>().starts_with("172.17.0.")) << add.out;
    EXPECT_TRUE(has(web.ip("route show default"), "via 172.17.0.1"));
    // The aliases capability, as podman sends it, lands in the endpoint record (for DNS).
    auto ep = host.endpoint("weir", web.id);
    ASSERT_TRUE(ep);
    EXPECT_EQ(ep->aliases, std::vector<std::string>{"web"});
    json plain = conf;
    plain.erase("runtimeConfig");
    ASSERT_EQ(host.add(client, plain).exit_code, 0);
    EXPECT_TRUE(client.ping(web.addr()));
    EXPECT_TRUE(has(host.nft(), "masquerade comment \"weir:weir\""));
    EXPECT_TRUE(reach(web.ns.name(), host.outside().name(), "192.0.2.1", 8088, "tcp", 15, 80));
    EXPECT_TRUE(reach(web.ns.name(), web.ns.name(), "192.0.2.1", 8088, "tcp", 15, 80)) << "hairpin";
    EXPECT_EQ(host.check(web, conf).exit_code, 0) << host.check(web, conf).out;
    EXPECT_EQ(host.del(web, conf).exit_code, 0);
    EXPECT_EQ(host.del(client, plain).exit_code, 0);
    EXPECT_FALSE(host.link_exists("weir0"));
    EXPECT_EQ(host.nft(), "");
  }
}

TEST_F(BridgeConf, UserNetworkConflist) {
  Host host;
  json list = load_conflist("bridge-user.conflist");
  json conf = plugin_conf(list, "1.0.0");
  EXPECT_EQ(conf["embeddedDNS"], true);
  conf["ipam"]["dataDir"] = host.data_dir();
  // The config is accepted as is (STATUS parses it and asks IPAM).
  json status_conf = conf;
  status_conf["cniVersion"] = "1.1.0";
  auto status = host.plugin("STATUS", "", "", status_conf,
                            {{"CNI_NETNS", ""}, {"CNI_CONTAINERID", ""}, {"CNI_IFNAME", ""}});
  EXPECT_EQ(status.exit_code, 0) << status.out << status.err;
  // The embedded DNS needs weir-agent; without it in this build the network is tested with DNS
  // off (what DNS serves is the agent's tests' business).
  if (!fs::exists(bin("weir-agent"))) conf["embeddedDNS"] = false;
  Container a("ctr-user-a"), b("ctr-user-b");
  auto add = host.add(a, conf);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  // No ranges: a subnet from the default pools, the gateway on the bridge.
  json r = add.json();
  const std::string gw = r["ips"][0]["gateway"];
  EXPECT_TRUE(has(host.ip("addr show weir-appnet"), gw + "/"));
  ASSERT_EQ(host.add(b, conf).exit_code, 0);
  EXPECT_TRUE(a.ping(b.addr()));
  EXPECT_EQ(host.check(a, conf).exit_code, 0) << host.check(a, conf).out;
  EXPECT_EQ(host.del(a, conf).exit_code, 0);
  EXPECT_EQ(host.del(b, conf).exit_code, 0);
  EXPECT_FALSE(host.link_exists("weir-appnet"));
}

// From the reference bridge plugin's README ("Example configuration", "Example L2-only
// configuration"), only `type` changed. They keep state in the default folders, so the plugins
// run with a private /var/lib.
TEST_F(BridgeConf, ReferenceExamplesWorkUnchanged) {
  Host host;
  host.private_var_lib();
  host.outside();
  const json example = json::parse(R"({
	"name": "mynet",
	"type": "weir-bridge",
	"bridge": "mynet0",
	"isDefaultGateway": true,
	"forceAddress": false,
	"ipMasq": true,
	"hairpinMode": true,
	"ipam": {
		"type": "host-local",
		"subnet": "10.10.0.0/16"
	}
})");
  Container a("ctr-ex-a"), b("ctr-ex-b");
  auto add = host.add(a, example);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  // No cniVersion: 0.1.0, as libcni reads it.
  EXPECT_EQ(add.json()["ip4"]["ip"], "10.10.0.2/16") << add.out;
  EXPECT_EQ(add.json()["ip4"]["gateway"], "10.10.0.1") << add.out;
  ASSERT_EQ(host.add(b, example).exit_code, 0);
  EXPECT_TRUE(a.ping("10.10.0.3"));
  EXPECT_TRUE(a.ping("192.0.2.2"));  // masqueraded
  EXPECT_TRUE(fs::exists(host.data_dir() + "/var-lib/cni/networks/mynet/10.10.0.2"));
  EXPECT_EQ(host.del(a, example).exit_code, 0);
  EXPECT_FALSE(fs::exists(host.data_dir() + "/var-lib/cni/networks/mynet/10.10.0.2"));
  EXPECT_EQ(host.del(a, example).exit_code, 0);
  EXPECT_EQ(host.del(b, example).exit_code, 0);
  EXPECT_FALSE(host.link_exists("mynet0"));
  EXPECT_EQ(host.nft(), "");

  const json l2 = json::parse(R"({
    "cniVersion": "0.3.1",
	"name": "mynet",
	"type": "weir-bridge",
	"bridge": "mynet0",
	"ipam": {}
})");
  add = host.add(a, l2);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(add.json()["interfaces"][2]["name"], "eth0");
  EXPECT_TRUE(host.link_exists("mynet0"));
  EXPECT_EQ(host.check(a, l2).exit_code, 1);  // 0.3.1 has no CHECK
  EXPECT_EQ(host.del(a, l2).exit_code, 0);
  EXPECT_FALSE(host.link_exists("mynet0"));
}

// host-local exec'd per the spec at each version it speaks (Debian's plugins go up to 1.0.0).
class DelegatedIpam : public ::testing::TestWithParam<std::string_view> {
 protected:
  void SetUp() override {
    WEIR_REQUIRE_ROOT();
    if (!fs::exists("/usr/lib/cni/host-local")) GTEST_SKIP() << "no /usr/lib/cni/host-local";
  }
};

TEST_P(DelegatedIpam, HostLocal) {
  const std::string v(GetParam());
  Host host;
  json conf = {{"cniVersion", v}, {"name", "hlnet"}, {"type", "weir-bridge"}, {"bridge", "wbhl"},
               {"isDefaultGateway", true}, {"dataDir", host.data_dir()},
               {"ipam", {{"type", "host-local"}, {"subnet", "10.71.0.0/24"},
                         {"dataDir", host.data_dir() + "/host-local"}}}};
  Container c("ctr-hl");
  auto add = host.add(c, conf);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(c.addr(), "10.71.0.2");
  EXPECT_TRUE(c.ping("10.71.0.1"));
  EXPECT_TRUE(fs::exists(host.data_dir() + "/host-local/hlnet/10.71.0.2"));
  if (cni::at_least(v, "0.4.0")) {
    json check = conf;
    check["prevResult"] = add.json();
    auto r = host.check(c, check);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  EXPECT_EQ(host.del(c, conf).exit_code, 0);
  EXPECT_FALSE(fs::exists(host.data_dir() + "/host-local/hlnet/10.71.0.2"));
  EXPECT_FALSE(host.link_exists("wbhl"));
  EXPECT_EQ(host.del(c, conf).exit_code, 0);
}

TEST_P(DelegatedIpam, StaticWithoutGatewayGetsTheSubnetsFirstAddress) {
  const std::string v(GetParam());
  Host host;
  json conf = {{"cniVersion", v}, {"name", "stnet"}, {"type", "weir-bridge"}, {"bridge", "wbst"},
               {"isGateway", true}, {"dataDir", host.data_dir()},
               {"ipam", {{"type", "static"}, {"addresses", {{{"address", "10.72.0.5/24"}}}}}}};
  Container c("ctr-static");
  auto add = host.add(c, conf);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  const json r = add.json();
  EXPECT_EQ(cni::at_least(v, "0.3.0") ? r["ips"][0]["gateway"] : r["ip4"]["gateway"], "10.72.0.1") << add.out;
  EXPECT_TRUE(has(host.ip("addr show wbst"), "10.72.0.1/24"));
  EXPECT_TRUE(c.ping("10.72.0.1"));
  EXPECT_EQ(host.del(c, conf).exit_code, 0);
}

TEST_P(DelegatedIpam, FailingIpamLeavesNothing) {
  const std::string v(GetParam());
  Host host;
  json conf = {{"cniVersion", v}, {"name", "hlfail"}, {"type", "weir-bridge"}, {"bridge", "wbhf"},
               {"dataDir", host.data_dir()},
               {"ipam", {{"type", "host-local"}, {"dataDir", host.data_dir() + "/host-local"},
                         {"ranges", {{{{"subnet", "10.73.0.0/24"}, {"rangeStart", "10.73.0.9"},
                                       {"rangeEnd", "10.73.0.9"}}}}}}}};
  Container a("ctr-hlf-a"), b("ctr-hlf-b");
  ASSERT_EQ(host.add(a, conf).exit_code, 0);
  auto r = host.add(b, conf);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(host.veth_count(), 1);
  EXPECT_EQ(host.del(a, conf).exit_code, 0);
  EXPECT_FALSE(host.link_exists("wbhf"));
  EXPECT_FALSE(fs::exists(host.data_dir() + "/host-local/hlfail/10.73.0.9"));
}

TEST_F(BridgeConf, MissingIpamPluginIsAConfigError) {
  Host host;
  Container c("ctr-noipam");
  json conf = {{"cniVersion", "1.0.0"}, {"name", "nip"}, {"type", "weir-bridge"}, {"bridge", "wbnip"},
               {"dataDir", host.data_dir()}, {"ipam", {{"type", "no-such-ipam"}}}};
  auto r = host.add(c, conf);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.json()["code"], 7) << r.out;
  EXPECT_TRUE(has(r.json().value("msg", ""), "no-such-ipam")) << r.out;
  EXPECT_FALSE(host.link_exists("wbnip"));
}

INSTANTIATE_TEST_SUITE_P(Versions, DelegatedIpam,
                         ::testing::Values("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"),
                         [](const auto& info) {
                           std::string n(info.param);
                           for (auto& ch : n) ch = ch == '.' ? '_' : ch;
                           return "v" + n;
                         });

}  // namespace
}  // namespace weir::test::bridge
