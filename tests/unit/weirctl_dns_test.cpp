// weirctl dns ls / query against a store holding the endpoint records the plugins write
// (plugins/common/embedded_dns: embeddedDNS, dnsListen, dnsServers, dnsInNetns). No root and no
// packets: weirctl builds the zone from the store as weir-agent does. dns_agent_test checks
// that its answers agree with a live agent's.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "lib/store/sqlite.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tempdir.hpp"

namespace weir::test {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr const char* kWeb = "aaaaaaaaaaaa0000000000000000000000000000000000000000000000000001";
constexpr const char* kApi = "bbbbbbbbbbbb0000000000000000000000000000000000000000000000000002";
constexpr const char* kStore = "cccccccccccc0000000000000000000000000000000000000000000000000003";
constexpr const char* kBoth = "dddddddddddd0000000000000000000000000000000000000000000000000004";
constexpr const char* kMv = "eeeeeeeeeeee0000000000000000000000000000000000000000000000000005";

class WeirctlDns : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::SqliteStore::open(store::database_path(tmp_.path()));
    ASSERT_TRUE(db) << db.error().msg;
    const json front = {{"embeddedDNS", true}, {"dnsListen", {"10.70.1.1"}}, {"bridge", "wfront"}};
    const json back = {
        {"embeddedDNS", true}, {"dnsListen", {"10.70.2.1"}}, {"dnsServers", {"192.0.2.53:53"}}};
    const json mv = {{"embeddedDNS", true}, {"dnsInNetns", true}};
    put(*db, "front", kWeb, "10.70.1.2/24", {"web", "aaaaaaaaaaaa"}, {"db"}, front);
    put(*db, "front", kApi, "10.70.1.3/24", {"api", "bbbbbbbbbbbb"}, {"DB"}, front);
    put(*db, "back", kStore, "10.70.2.2/24", {"store", "cccccccccccc"}, {"db"}, back);
    put(*db, "front", kBoth, "10.70.1.4/24", {"both", "dddddddddddd"}, {}, front);
    put(*db, "back", kBoth, "10.70.2.4/24", {"both", "dddddddddddd"}, {}, back, "eth1");
    put(*db, "lan", kMv, "10.70.3.2/24", {"eeeeeeeeeeee"}, {}, mv);
    put(*db, "plain", "ffffffffffff", "10.70.4.2/24", {"nodns"}, {}, {{"bridge", "wplain"}});
    std::ofstream(tmp_ / "resolv.conf") << "nameserver 192.0.2.1\nnameserver 192.0.2.2\n"
                                           "nameserver 192.0.2.3\nnameserver 192.0.2.4\n";
  }

  static void put(store::SqliteStore& db, const std::string& network, const std::string& id,
                  const std::string& ip, std::vector<std::string> names,
                  std::vector<std::string> aliases, const json& extra,
                  const std::string& ifname = "eth0") {
    store::Endpoint ep{.network = network,
                       .container_id = id,
                       .ifname = ifname,
                       .ips = {*net::Cidr::parse(ip)},
                       .names = std::move(names),
                       .aliases = std::move(aliases),
                       .extra = extra.dump()};
    ASSERT_TRUE(db.transact([&](store::Txn& t) { return t.put_endpoint(ep); }));
  }

  test::Run ctl(std::vector<std::string> args, bool json_out = true) {
    args.insert(args.begin(), "dns");
    if (json_out) args.insert(args.begin(), "--json");
    args.push_back("--data-dir=" + tmp_.path());
    args.push_back("--resolv-conf=" + (tmp_ / "resolv.conf"));
    return run_cmd("weirctl", args, {{"NETCONFPATH", tmp_.path()}});
  }
  // The first lookup of a JSON query.
  json lookup(std::vector<std::string> args) {
    auto r = ctl(std::move(args));
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    json j = r.json();
    return j.is_object() && j.contains("lookups") ? j["lookups"][0] : json();
  }

  TempDir tmp_{"weir-ctldns"};
};

TEST_F(WeirctlDns, LsListsNamesAndAddressesPerNetwork) {
  auto r = ctl({"ls"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json nets = r.json()["networks"];
  ASSERT_EQ(nets.size(), 3u) << r.out;  // "plain" has no DNS
  std::map<std::string, json> by_name;
  for (const auto& n : nets) by_name[n["name"]] = n;
  ASSERT_TRUE(by_name.contains("front"));
  EXPECT_THAT(by_name["front"]["listen"], ElementsAre("10.70.1.1"));
  EXPECT_TRUE(by_name["front"]["upstreams"].empty());
  EXPECT_THAT(by_name["back"]["upstreams"], ElementsAre("192.0.2.53:53"));
  std::map<std::string, json> records;
  for (const auto& rec : by_name["front"]["records"]) records[rec["name"]] = rec["addresses"];
  EXPECT_THAT(records["web"], ElementsAre("10.70.1.2"));
  EXPECT_THAT(records["aaaaaaaaaaaa"], ElementsAre("10.70.1.2"));
  EXPECT_THAT(records["db"], UnorderedElementsAre("10.70.1.2", "10.70.1.3"));  // case folded
  EXPECT_THAT(records["both"], ElementsAre("10.70.1.4"));
  EXPECT_FALSE(records.contains("store"));

  auto one = ctl({"ls", "back"}, false);
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_THAT(one.out, HasSubstr("network \"back\", DNS on 10.70.2.1, upstreams 192.0.2.53:53"));
  EXPECT_THAT(one.out, HasSubstr("store"));
  EXPECT_THAT(one.out, ::testing::Not(HasSubstr("\"front\"")));
  auto lan = ctl({"ls", "lan"}, false);
  EXPECT_THAT(lan.out, HasSubstr("DNS on 127.0.0.11 in each container"));
}

TEST_F(WeirctlDns, QueryAnswersWithinTheAskersScope) {
  // A container on front: front's names, bare or under the network, case-insensitive.
  EXPECT_THAT(lookup({"query", "WEB", "--from", kWeb, "--type", "A"})["answers"],
              ElementsAre("10.70.1.2"));
  EXPECT_THAT(lookup({"query", "api.front", "--from", "web"})["answers"], ElementsAre("10.70.1.3"));
  EXPECT_THAT(lookup({"query", "db", "--from", "aaaaaaaaaaaa"})["answers"],
              UnorderedElementsAre("10.70.1.2", "10.70.1.3"));
  // back's names are not its: under back's domain NXDOMAIN, bare forwarded to the host's first
  // three.
  EXPECT_EQ(lookup({"query", "store.back", "--from", "web"})["result"], "nxdomain");
  json fwd = lookup({"query", "store", "--from", "web"});
  EXPECT_EQ(fwd["result"], "forward");
  EXPECT_THAT(fwd["upstreams"], ElementsAre("192.0.2.1:53", "192.0.2.2:53", "192.0.2.3:53"));
  // A container on both sees both; back's own servers win for it.
  EXPECT_THAT(lookup({"query", "db", "--from", "both"})["answers"],
              UnorderedElementsAre("10.70.1.2", "10.70.1.3", "10.70.2.2"));
  EXPECT_THAT(lookup({"query", "example.com", "--from", "store"})["upstreams"],
              ElementsAre("192.0.2.53:53"));
  // An address asks for its PTR.
  EXPECT_THAT(lookup({"query", "10.70.1.3", "--from", "web"})["answers"], ElementsAre("api.front"));
  EXPECT_EQ(lookup({"query", "10.70.2.2", "--from", "web"})["result"], "nxdomain");
  // A macvlan container without a name: its short id, on 127.0.0.11.
  EXPECT_THAT(lookup({"query", "10.70.3.2", "--from", kMv})["answers"],
              ElementsAre("eeeeeeeeeeee.lan"));
  // AAAA of a name with IPv4 only: no data.
  EXPECT_EQ(lookup({"query", "web", "--from", "web", "--type", "AAAA"})["result"], "nodata");

  // A client of one network that the store does not know (a process on the bridge).
  auto r = ctl({"query", "store", "--network", "back"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.json()["network"], "back");
  EXPECT_THAT(r.json()["scope"]["networks"], ElementsAre("back"));
  EXPECT_THAT(r.json()["lookups"][0]["answers"], ElementsAre("10.70.2.2"));

  auto text = ctl({"query", "db", "--from", "store"}, false);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("asked by container cccccccccccc, which sees back"));
  EXPECT_THAT(text.out, HasSubstr("db A: 10.70.2.2 (ttl 5)"));
  EXPECT_THAT(text.out, HasSubstr("db AAAA: no AAAA record"));
}

TEST_F(WeirctlDns, QueryErrors) {
  auto unknown = ctl({"query", "web", "--from", "nosuch"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.out, HasSubstr("no container \\\"nosuch\\\""));
  auto ambiguous = ctl({"query", "web"});  // three DNS networks: say which
  EXPECT_EQ(ambiguous.exit_code, 1);
  EXPECT_THAT(ambiguous.out, HasSubstr("--from CONTAINER or --network NETWORK"));
  auto not_on = ctl({"query", "web", "--from", "web", "--network", "back"});
  EXPECT_EQ(not_on.exit_code, 1);
  EXPECT_THAT(not_on.out, HasSubstr("is not on network"));
  auto bad_type = ctl({"query", "web", "--from", "web", "--type", "MX"});
  EXPECT_EQ(bad_type.exit_code, 1);
  // Looking never creates a store.
  const std::string nowhere = tmp_ / "none";
  auto none = run_cmd("weirctl", {"dns", "ls", "--data-dir", nowhere});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_FALSE(std::filesystem::exists(nowhere));
}

// NETWORK may name a network config: its dataDir says where the store is.
TEST_F(WeirctlDns, FindsTheStoreThroughTheNetworkConfig) {
  std::ofstream(tmp_ / "front.conflist")
      << json{{"cniVersion", "1.1.0"},
              {"name", "front"},
              {"plugins",
               {{{"type", "weir-bridge"},
                 {"bridge", "wfront"},
                 {"embeddedDNS", true},
                 {"ipam", {{"type", "weir-ipam"}, {"dataDir", tmp_.path()}}}}}}}
             .dump();
  auto r = run_cmd("weirctl", {"--json", "dns", "ls", "front"}, {{"NETCONFPATH", tmp_.path()}});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_EQ(r.json()["networks"].size(), 1u) << r.out;
  EXPECT_EQ(r.json()["networks"][0]["name"], "front");
  auto q = run_cmd("weirctl", {"--json", "dns", "query", "api", "--network", "front"},
                   {{"NETCONFPATH", tmp_.path()}});
  ASSERT_EQ(q.exit_code, 0) << q.out << q.err;
  EXPECT_THAT(q.json()["lookups"][0]["answers"], ElementsAre("10.70.1.3"));
}

}  // namespace
}  // namespace weir::test
