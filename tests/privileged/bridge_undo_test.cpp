// Every step of weir-bridge's ADD made to fail in turn, through the services seam
// (plugins/common/services.hpp, a test services in bridge_undo_plugin.cpp): each time the caller
// gets the CNI error JSON and nothing of this ADD is left — no bridge it made, no veth, no
// interface in the container, no lease, no record, no nftables rule of the network or the
// endpoint — while another container already on the network keeps all of its own. Run in a
// private "host" netns, as the other bridge tests, once per store (SQLite, and etcd run inside
// that netns). On etcd the network has no embedded DNS (refused there), so no DNS faults.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/bridge_fixture.hpp"

namespace weir::test::bridge {
namespace {

// The steps of ADD, in order (plugins::step_name).
const std::vector<std::string> kSteps = {"lease",         "bridge",         "veth",   "addresses",
                                         "network-rules", "endpoint-rules", "record", "dns"};

// A fault: after a step, or the DNS refusing ADD's sync (the step "dns" itself failing).
struct Fault {
  std::string after;
  bool sync = false;
  std::string name() const { return sync ? "dns-sync" : after; }
};

void PrintTo(const Fault& f, std::ostream* os) {
  *os << f.name();
}

std::vector<Fault> all_faults() {
  std::vector<Fault> out;
  for (const auto& s : kSteps) out.push_back({.after = s});
  out.push_back({.sync = true});
  return out;
}

// Every step has something to undo: addresses (network rules), published ports and the spoof
// check (endpoint rules), embedded DNS (the sync; not on etcd, which refuses it).
json undo_conf(const Host& host, const std::string& network, const std::string& bridge,
               uint16_t port) {
  json conf = bridge_conf(host, network, bridge, {"10.93.0.0/24"});
  conf["ipMasq"] = true;
  conf["isGateway"] = true;
  conf["macspoofchk"] = true;
  conf["embeddedDNS"] = host.etcd() == nullptr;
  conf["capabilities"] = {{"portMappings", true}};
  conf["runtimeConfig"] = {
      {"portMappings", {{{"hostPort", port}, {"containerPort", 80}, {"protocol", "tcp"}}}}};
  return conf;
}

Run faulty(const Host& host, const std::string& command, const Container& c, const json& conf,
           const Fault& fault = {}) {
  std::map<std::string, std::string> env;
  if (!fault.after.empty()) env["WEIR_TEST_FAIL_AFTER"] = fault.after;
  if (fault.sync) env["WEIR_TEST_FAIL_SYNC"] = "1";
  return host.plugin(command, c.path(), c.id, conf, env, "eth0", WEIR_UNDO_PLUGIN);
}

// The failed ADD's answer: exit 1 and the CNI error JSON on stdout, naming the fault.
void expect_error_json(const Run& add, const Fault& fault) {
  EXPECT_EQ(add.exit_code, 1) << add.out << add.err;
  const json err = add.json();
  ASSERT_TRUE(err.is_object()) << add.out;
  EXPECT_EQ(err.value("cniVersion", ""), "1.1.0") << add.out;
  EXPECT_EQ(err.value("code", 0), fault.sync ? 11 : 5) << add.out;
  EXPECT_TRUE(has(err.value("msg", ""), fault.sync ? "embedded DNS did not answer"
                                                   : "after step \"" + fault.after + "\""))
      << add.out;
  // Every undo ran and none failed (cni::Rollback logs the ones that do).
  EXPECT_FALSE(has(add.err, "rollback:")) << add.err;
}

// What the DNS was told: after the record was written (then forgotten by the undo), a sync that
// serves the store without it; never a sync before the record, nor any without embedded DNS.
void expect_dns_told(const Run& add, const Fault& fault, bool dns) {
  const bool recorded = fault.sync || fault.after == "record" || fault.after == "dns";
  if (!recorded || !dns) {
    EXPECT_FALSE(has(add.err, "weir-test: dns sync")) << add.err;
    return;
  }
  const auto stop = add.err.rfind("weir-test: dns sync stop");
  ASSERT_NE(stop, std::string::npos) << add.err;
  EXPECT_EQ(add.err.find("weir-test: dns sync start", stop), std::string::npos) << add.err;
}

// (store, fault)
class BridgeUndo : public ::testing::TestWithParam<std::tuple<StoreKind, Fault>> {
 protected:
  void SetUp() override {
    WEIR_REQUIRE_ROOT();
    WEIR_REQUIRE_STORE(kind());
  }
  StoreKind kind() const { return std::get<0>(GetParam()); }
  Fault fault() const { return std::get<1>(GetParam()); }
};

std::vector<std::tuple<StoreKind, Fault>> all_cases() {
  std::vector<std::tuple<StoreKind, Fault>> out;
  for (const auto kind : {StoreKind::kSqlite, StoreKind::kEtcd}) {
    for (const auto& f : all_faults()) {
      if (kind == StoreKind::kEtcd && (f.sync || f.after == "dns")) continue;  // no DNS there
      out.emplace_back(kind, f);
    }
  }
  return out;
}

// The network's first container: the bridge is this ADD's, so it goes too, and with it the
// network's rules and the (then empty) table.
TEST_P(BridgeUndo, FirstContainerLeavesNothing) {
  const Fault fault = this->fault();
  Host host(kind());
  Container c("ctr-undo");
  const json conf = undo_conf(host, "undonet", "wbundo", 8193);

  const test::Run add = faulty(host, "ADD", c, conf, fault);
  expect_error_json(add, fault);
  expect_dns_told(add, fault, conf["embeddedDNS"] == true);
  EXPECT_FALSE(host.link_exists("wbundo")) << host.ip("-d link");
  EXPECT_EQ(host.veth_count(), 0) << host.ip("-d link");
  EXPECT_TRUE(has(c.ip("link show eth0"), "does not exist"));
  EXPECT_EQ(host.lease_count("undonet"), 0u);
  EXPECT_EQ(host.endpoint_count("undonet"), 0u);
  EXPECT_EQ(host.records_left(), 0u);
  EXPECT_EQ(host.nft(), "");

  // Nothing stands in the way of the next ADD of the same attachment, which makes it all.
  const test::Run again = faulty(host, "ADD", c, conf);
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_TRUE(host.link_exists("wbundo"));
  EXPECT_EQ(host.veth_count(), 1);
  EXPECT_TRUE(c.addr().starts_with("10.93.0.")) << c.ip("addr");
  EXPECT_EQ(host.lease_count("undonet"), 1u);
  EXPECT_EQ(host.endpoint_count("undonet"), 1u);
  EXPECT_TRUE(has(host.nft(), "weir:undonet:ctr-undo:eth0"));
  EXPECT_EQ(faulty(host, "DEL", c, conf).exit_code, 0);
  EXPECT_FALSE(host.link_exists("wbundo"));
  EXPECT_EQ(host.nft(), "");
  EXPECT_EQ(host.records_left(), 0u);
}

// A second container: only what this ADD made goes; the first keeps its veth, lease, record,
// rules and the bridge.
TEST_P(BridgeUndo, SecondContainerLeavesTheFirst) {
  const Fault fault = this->fault();
  Host host(kind());
  Container keep("ctr-keep");
  Container c("ctr-undo");
  const json keep_conf = undo_conf(host, "undonet", "wbundo", 8194);
  const json conf = undo_conf(host, "undonet", "wbundo", 8195);
  const test::Run first = faulty(host, "ADD", keep, keep_conf);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  const std::string keep_veth = first.json()["interfaces"][1]["name"];
  const auto keep_lease = host.lease_count("undonet");

  const test::Run add = faulty(host, "ADD", c, conf, fault);
  expect_error_json(add, fault);
  expect_dns_told(add, fault, conf["embeddedDNS"] == true);
  EXPECT_TRUE(host.link_exists("wbundo"));
  EXPECT_TRUE(host.link_exists(keep_veth));
  EXPECT_EQ(host.veth_count(), 1) << host.ip("-d link");
  EXPECT_TRUE(has(c.ip("link show eth0"), "does not exist"));
  EXPECT_EQ(host.lease_count("undonet"), keep_lease);
  EXPECT_EQ(host.endpoint_count("undonet"), 1u);
  ASSERT_TRUE(host.endpoint("undonet", "ctr-keep"));
  const std::string rules = host.nft();
  EXPECT_FALSE(has(rules, "ctr-undo")) << rules;
  EXPECT_FALSE(has(rules, "8195")) << rules;
  EXPECT_TRUE(has(rules, "weir:undonet:ctr-keep:eth0")) << rules;
  EXPECT_TRUE(has(rules, "weir:undonet\"")) << rules;  // the network's own rules
  EXPECT_TRUE(keep.ping("10.93.0.1")) << host.ip("-d link") << keep.ip("addr") << rules;

  EXPECT_EQ(faulty(host, "DEL", keep, keep_conf).exit_code, 0);
  EXPECT_FALSE(host.link_exists("wbundo"));
  EXPECT_EQ(host.nft(), "");
  EXPECT_EQ(host.records_left(), 0u);
}

INSTANTIATE_TEST_SUITE_P(EveryStep, BridgeUndo, ::testing::ValuesIn(all_cases()),
                         [](const auto& info) {
                           std::string n = std::get<1>(info.param).name();
                           for (auto& ch : n) ch = ch == '-' ? '_' : ch;
                           return std::string(store_kind_name(std::get<0>(info.param))) + "_" + n;
                         });

}  // namespace
}  // namespace weir::test::bridge
