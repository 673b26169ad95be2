// ipam/config: host-local compatible parsing, and a code-7 error naming the field for every
// malformed config.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "ipam/config.hpp"
#include "tests/unit/ipam_testing.hpp"

namespace weir::ipam {
namespace {

using nlohmann::json;
using test::cidr;
using test::ip;
using test::make_call;

Expected<IpamConfig> parse(json ipam, test::CallArgs a = {}, json extra = json::object()) {
  json conf = extra;
  conf["ipam"] = std::move(ipam);
  auto call = make_call(conf, a);
  return parse_config(call.conf, call.env.args);
}

TEST(IpamConfig, RangesRoutesAndDefaults) {
  auto c = parse(
      {{"type", "weir-ipam"},
       {"ranges",
        {{{{"subnet", "10.1.0.0/24"}}, {{"subnet", "10.2.0.0/24"}}},
         {{{"subnet", "fd00::/64"}, {"rangeStart", "fd00::10"}}}}},
       {"routes", {{{"dst", "0.0.0.0/0"}}, {{"dst", "192.168.0.0/16"}, {"gw", "10.1.0.254"}}}}});
  ASSERT_TRUE(c) << c.error().msg;
  EXPECT_EQ(c->network, "net1");
  ASSERT_EQ(c->range_sets.size(), 2u);
  EXPECT_EQ(c->range_sets[0].size(), 2u);
  EXPECT_EQ(c->range_sets[1][0].start, ip("fd00::10"));
  ASSERT_EQ(c->routes.size(), 2u);
  EXPECT_EQ(c->routes[1].gw, ip("10.1.0.254"));
  EXPECT_EQ(c->data_dir, "/var/lib/weir");
  EXPECT_EQ(c->order, Order::kRoundRobin);
  EXPECT_TRUE(c->requested.empty());
  EXPECT_TRUE(c->dns.empty());
}

TEST(IpamConfig, LegacySubnetComesFirst) {
  auto c = parse({{"subnet", "10.9.0.0/16"},
                  {"rangeStart", "10.9.1.0"},
                  {"gateway", "10.9.0.254"},
                  {"ranges", {{{{"subnet", "fd00::/64"}}}}}});
  ASSERT_TRUE(c) << c.error().msg;
  ASSERT_EQ(c->range_sets.size(), 2u);
  EXPECT_EQ(c->range_sets[0][0].subnet, cidr("10.9.0.0/16"));
  EXPECT_EQ(c->range_sets[0][0].start, ip("10.9.1.0"));
  EXPECT_EQ(c->range_sets[0][0].gateway, ip("10.9.0.254"));
}

TEST(IpamConfig, NoRangesMeansTheDefaultPools) {
  auto c = parse({{"type", "weir-ipam"}});
  ASSERT_TRUE(c) << c.error().msg;
  EXPECT_TRUE(c->range_sets.empty());
}

TEST(IpamConfig, OptionsDataDirAllocationResolvConf) {
  test::TempDir tmp;
  {
    std::ofstream f(tmp / "resolv.conf");
    f << "# comment\nnameserver 10.0.0.53\nnameserver fd00::53\ndomain example.org\n"
         "search a.example b.example\noptions ndots:2 edns0\n";
  }
  auto c = parse({{"ranges", {{{{"subnet", "10.1.0.0/24"}}}}},
                  {"dataDir", tmp.path()},
                  {"allocation", "lowest"},
                  {"resolvConf", tmp / "resolv.conf"}});
  ASSERT_TRUE(c) << c.error().msg;
  EXPECT_EQ(c->data_dir, tmp.path());
  EXPECT_EQ(c->order, Order::kLowest);
  EXPECT_EQ(c->dns.nameservers, (std::vector<std::string>{"10.0.0.53", "fd00::53"}));
  EXPECT_EQ(c->dns.domain, "example.org");
  EXPECT_EQ(c->dns.search, (std::vector<std::string>{"a.example", "b.example"}));
  EXPECT_EQ(c->dns.options, (std::vector<std::string>{"ndots:2", "edns0"}));
}

TEST(IpamConfig, RequestedAddressesFromEverySource) {
  json ipam = {{"ranges", {{{{"subnet", "10.1.0.0/24"}}}}}};
  json extra = {{"runtimeConfig", {{"ips", {"10.1.0.7/24", "fd00::7"}}}},
                {"args", {{"cni", {{"ips", {"10.1.0.6", "10.1.0.5"}}}}}}};
  auto c = parse(ipam, {.cni_args = "IgnoreUnknown=1;IP=10.1.0.5,10.1.0.4"}, extra);
  ASSERT_TRUE(c) << c.error().msg;
  std::vector<std::string> got;
  for (const auto& r : c->requested) got.push_back(r.addr.str() + "@" + r.source);
  EXPECT_EQ(got, (std::vector<std::string>{
                     "10.1.0.5@CNI_ARGS IP", "10.1.0.4@CNI_ARGS IP", "10.1.0.6@args.cni.ips[0]",
                     "10.1.0.7@runtimeConfig.ips[0]", "fd00::7@runtimeConfig.ips[1]"}));
}

struct BadCase {
  const char* name;
  json ipam;
  const char* field;  // must appear in the message
  std::string cni_args{};
  json extra = json::object();
};

class BadConfig : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadConfig, IsCode7NamingTheField) {
  const auto& c = GetParam();
  auto r = parse(c.ipam, {.cni_args = c.cni_args}, c.extra);
  ASSERT_FALSE(r) << c.name;
  EXPECT_EQ(r.error().code, cni::Code::kInvalidConfig) << r.error().msg;
  EXPECT_NE(r.error().msg.find(c.field), std::string::npos)
      << c.name << ": \"" << r.error().msg << "\" does not name " << c.field;
}

json one(json range) {
  return {{"ranges", {{std::move(range)}}}};
}

INSTANTIATE_TEST_SUITE_P(
    Ipam, BadConfig,
    ::testing::Values(
        BadCase{"bad cidr", one({{"subnet", "10.1.0.0/33"}}), "\"ipam.ranges[0][0].subnet\""},
        BadCase{"not a cidr", one({{"subnet", "banana"}}), "\"ipam.ranges[0][0].subnet\""},
        BadCase{"subnet missing", one({{"gateway", "10.1.0.1"}}), "\"ipam.ranges[0][0].subnet\""},
        BadCase{"subnet not a string", one({{"subnet", 10}}), "\"ipam.ranges[0][0].subnet\""},
        BadCase{"host bits", one({{"subnet", "10.1.0.1/24"}}), "\"ipam.ranges[0][0].subnet\""},
        BadCase{"too small", one({{"subnet", "10.1.0.0/31"}}), "\"ipam.ranges[0][0].subnet\""},
        BadCase{"legacy host bits", {{"subnet", "10.1.0.1/24"}}, "\"ipam.subnet\""},
        BadCase{"rangeStart outside", one({{"subnet", "10.1.0.0/24"}, {"rangeStart", "10.2.0.1"}}),
                "\"ipam.ranges[0][0].rangeStart\""},
        BadCase{"rangeEnd outside", one({{"subnet", "10.1.0.0/24"}, {"rangeEnd", "10.2.0.1"}}),
                "\"ipam.ranges[0][0].rangeEnd\""},
        BadCase{"rangeStart not an ip", one({{"subnet", "10.1.0.0/24"}, {"rangeStart", "x"}}),
                "\"ipam.ranges[0][0].rangeStart\""},
        BadCase{
            "end before start",
            one({{"subnet", "10.1.0.0/24"}, {"rangeStart", "10.1.0.9"}, {"rangeEnd", "10.1.0.2"}}),
            "\"ipam.ranges[0][0].rangeEnd\""},
        BadCase{"gateway wrong family", one({{"subnet", "10.1.0.0/24"}, {"gateway", "fd00::1"}}),
                "\"ipam.ranges[0][0].gateway\""},
        BadCase{"mixed families",
                {{"ranges", {{{{"subnet", "10.1.0.0/24"}}, {{"subnet", "fd00::/64"}}}}}},
                "\"ipam.ranges[0][1]\""},
        BadCase{"overlap in a set",
                {{"ranges", {{{{"subnet", "10.1.0.0/24"}}, {{"subnet", "10.1.0.0/25"}}}}}},
                "\"ipam.ranges[0]\""},
        BadCase{"overlapping sets",
                {{"ranges", {{{{"subnet", "10.1.0.0/24"}}}, {{{"subnet", "10.1.0.0/16"}}}}}},
                "\"ipam.ranges[1]\""},
        BadCase{"legacy overlaps ranges",
                {{"subnet", "10.1.0.0/24"}, {"ranges", {{{{"subnet", "10.1.0.0/16"}}}}}},
                "\"ipam.ranges[0]\""},
        BadCase{"empty set", {{"ranges", {json::array()}}}, "\"ipam.ranges[0]\""},
        BadCase{"ranges not a list", {{"ranges", "10.1.0.0/24"}}, "\"ipam.ranges\""},
        BadCase{
            "set not a list", {{"ranges", {{{"subnet", "10.1.0.0/24"}}}}}, "\"ipam.ranges[0]\""},
        BadCase{"route dst", {{"routes", {{{"dst", "10.0.0.0"}}}}}, "\"ipam.routes[0].dst\""},
        BadCase{"route gw family",
                {{"routes", {{{"dst", "10.0.0.0/8"}, {"gw", "fd00::1"}}}}},
                "\"ipam.routes[0].gw\""},
        BadCase{"dataDir relative", {{"dataDir", "var/lib"}}, "\"ipam.dataDir\""},
        BadCase{"dataDir not a string", {{"dataDir", 1}}, "\"ipam.dataDir\""},
        BadCase{"allocation", {{"allocation", "random"}}, "\"ipam.allocation\""},
        BadCase{"resolvConf missing",
                {{"resolvConf", "/nonexistent/resolv.conf"}},
                "\"ipam.resolvConf\""},
        BadCase{"CNI_ARGS IP", one({{"subnet", "10.1.0.0/24"}}), "\"CNI_ARGS IP\"",
                "IP=10.1.0.300"},
        BadCase{"runtimeConfig ips",
                one({{"subnet", "10.1.0.0/24"}}),
                "\"runtimeConfig.ips[1]\"",
                "",
                {{"runtimeConfig", {{"ips", {"10.1.0.5", "nope"}}}}}},
        BadCase{"args cni ips",
                one({{"subnet", "10.1.0.0/24"}}),
                "\"args.cni.ips\"",
                "",
                {{"args", {{"cni", {{"ips", "10.1.0.5"}}}}}}}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (char& ch : n)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return n;
    });

// conf/ipam-*.conflist: every example loads and parses.
Expected<IpamConfig> load_example(const std::string& file) {
  std::ifstream in(std::string(WEIR_SOURCE_DIR) + "/conf/" + file);
  std::stringstream text;
  text << in.rdbuf();
  auto list = cni::parse_conflist(text.str());
  if (!list) return fail(list.error());
  json plugin = list->plugins.at(0);
  plugin["name"] = list->name;
  plugin["cniVersion"] = list->cni_version;
  auto conf = cni::parse_netconf(plugin.dump());
  if (!conf) return fail(conf.error());
  return parse_config(*conf, {});
}

TEST(IpamConfig, ExampleDualStack) {
  auto c = load_example("ipam-dualstack.conflist");
  ASSERT_TRUE(c) << c.error().msg;
  EXPECT_EQ(c->network, "ipam-dualstack");
  ASSERT_EQ(c->range_sets.size(), 2u);
  EXPECT_EQ(c->range_sets[0][0].start, ip("10.88.0.10"));
  EXPECT_EQ(c->range_sets[1][0].subnet, cidr("fd00:88::/64"));
  EXPECT_EQ(c->routes.size(), 2u);
}

TEST(IpamConfig, ExamplePool) {
  auto c = load_example("ipam-pool.conflist");
  ASSERT_TRUE(c) << c.error().msg;
  EXPECT_TRUE(c->range_sets.empty());
  EXPECT_EQ(c->order, Order::kLowest);
}

TEST(IpamConfig, MissingSectionIsCode7) {
  auto call = make_call({{"type", "weir-ipam"}});
  auto r = parse_config(call.conf, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, cni::Code::kInvalidConfig);
}

TEST(IpamConfig, DataDirForDelIsLenient) {
  auto call = make_call({{"ipam", {{"ranges", "garbage"}, {"dataDir", "/tmp/x"}}}});
  EXPECT_EQ(data_dir_of(call.conf), "/tmp/x");
  EXPECT_EQ(data_dir_of(make_call({{"ipam", {{"dataDir", 5}}}}).conf), "/var/lib/weir");
}

// One network, one store: a plugin's dataDir is its weir-ipam's too, unless ipam.dataDir says.
TEST(IpamConfig, PluginDataDirIsTheDefault) {
  auto call = make_call({{"dataDir", "/srv/weir"}, {"ipam", {{"type", "weir-ipam"}}}});
  EXPECT_EQ(data_dir_of(call.conf), "/srv/weir");
  auto c = parse_config(call.conf, {});
  ASSERT_TRUE(c) << c.error().msg;
  EXPECT_EQ(c->data_dir, "/srv/weir");
  auto own = make_call({{"dataDir", "/srv/weir"}, {"ipam", {{"type", "weir-ipam"}, {"dataDir", "/srv/leases"}}}});
  EXPECT_EQ(data_dir_of(own.conf), "/srv/leases");
  EXPECT_EQ(parse_config(own.conf, {})->data_dir, "/srv/leases");
  auto relative = parse_config(make_call({{"dataDir", "weir"}, {"ipam", {{"type", "weir-ipam"}}}}).conf, {});
  ASSERT_FALSE(relative);
  EXPECT_EQ(relative.error().code, cni::Code::kInvalidConfig);
  EXPECT_NE(relative.error().msg.find("dataDir"), std::string::npos);
}

// cniVersion 0.1.0/0.2.0 results hold one address per family (the reference refuses more).
TEST(IpamConfig, OldVersionsTakeOneRangeSetPerFamily) {
  const json two_v4 = {{"type", "weir-ipam"},
                       {"ranges", json::array({json::array({{{"subnet", "10.1.0.0/24"}}}),
                                               json::array({{{"subnet", "10.2.0.0/24"}}})})}};
  const json dual = {{"type", "weir-ipam"},
                     {"ranges", json::array({json::array({{{"subnet", "10.1.0.0/24"}}}),
                                             json::array({{{"subnet", "fd00:1::/64"}}})})}};
  for (const std::string v : {"0.1.0", "0.2.0"}) {
    auto r = parse_config(make_call({{"cniVersion", v}, {"ipam", two_v4}}).conf, {});
    ASSERT_FALSE(r) << v;
    EXPECT_EQ(r.error().code, cni::Code::kInvalidConfig);
    EXPECT_NE(r.error().msg.find("does not support more than 1 address per family"), std::string::npos);
    EXPECT_TRUE(parse_config(make_call({{"cniVersion", v}, {"ipam", dual}}).conf, {})) << v;
  }
  EXPECT_TRUE(parse_config(make_call({{"cniVersion", "0.3.0"}, {"ipam", two_v4}}).conf, {}));
}

}  // namespace
}  // namespace weir::ipam
