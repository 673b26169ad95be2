// The nftables rules and batches lib/firewall builds, rendered without a kernel and compared
// with golden files in tests/unit/golden/firewall/: each rule's nft text and its expressions as
// libnftnl prints them (Rule::signature(), what the kernel's copy is compared by), and the batch
// ensure_network / ensure_endpoint would commit (Batch::text(): every message read back, and
// its bytes). No root.
//
// After an intended change to the rules, rewrite the golden files and review the diff:
//   WEIR_UPDATE_GOLDEN=1 ctest --test-dir build -R FirewallGolden
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "lib/firewall/firewall.hpp"
#include "lib/firewall/nft.hpp"
#include "lib/firewall/rules.hpp"

namespace weir {
namespace {

using firewall::EndpointRules;
using firewall::NetworkRules;
namespace detail = firewall::detail;
namespace nft = firewall::nft;

net::Cidr cidr(const char* s) {
  auto c = net::Cidr::parse(s);
  EXPECT_TRUE(c) << s;
  return c.value_or(net::Cidr{});
}
net::IpAddr ip(const char* s) {
  auto a = net::IpAddr::parse(s);
  EXPECT_TRUE(a) << s;
  return a.value_or(net::IpAddr{});
}

std::string golden_path(const std::string& name) {
  return std::string(WEIR_SOURCE_DIR) + "/tests/unit/golden/firewall/" + name;
}

bool updating() {
  const char* v = std::getenv("WEIR_UPDATE_GOLDEN");
  return v != nullptr && std::string(v) == "1";
}

// Compares with the golden file, or (WEIR_UPDATE_GOLDEN=1) rewrites it.
void expect_golden(const std::string& name, const std::string& actual) {
  const std::string path = golden_path(name);
  if (updating()) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << actual;
    ASSERT_TRUE(out.good()) << "cannot write " << path;
    return;
  }
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in.good()) << path << " is missing: run with WEIR_UPDATE_GOLDEN=1 to write it";
  std::stringstream golden;
  golden << in.rdbuf();
  EXPECT_EQ(actual, golden.str()) << name << " differs; if the change is intended, rewrite it "
                                  << "with WEIR_UPDATE_GOLDEN=1 and review the diff";
}

std::string where_text(nft::Where w) {
  return w == nft::Where::kHead ? "head" : "tail";
}

// One block per rule, in the order the firewall builds them: where it goes, its nft text, its
// expressions one a line.
std::string render(const std::vector<nft::Rule>& rules) {
  std::string out;
  for (const auto& r : rules) {
    std::string sig = r.signature();
    for (size_t at = sig.find("]["); at != std::string::npos; at = sig.find("][", at)) {
      sig.replace(at, 2, "]\n    [");
    }
    out += std::string(nft::family_name(r.table)) + " " + r.chain + " " + where_text(r.where) +
           "\n  " + r.text + "\n    " + sig + "\n";
  }
  return out;
}

// The batch that puts `want` in place over `have`.
std::string batch_text(const std::vector<nft::Installed>& have, const std::vector<nft::Rule>& want) {
  nft::Batch b;
  EXPECT_TRUE(detail::plan_replace(have, want, b));
  return b.text();
}

// Rules as the kernel would list them after a commit of `rules`, with handles from first_handle.
std::vector<nft::Installed> installed(const std::vector<nft::Rule>& rules, uint64_t first_handle) {
  std::vector<nft::Installed> out;
  for (const auto& r : rules) {
    out.push_back({.table = r.table,
                   .chain = r.chain,
                   .handle = first_handle++,
                   .tag = r.tag,
                   .signature = r.signature()});
  }
  return out;
}

// Dual stack, NAT, isolation strict, icc off, two trusted host interfaces.
NetworkRules strict_network() {
  return {.network = "frontend",
          .bridge = "weir0",
          .subnets = {cidr("10.88.0.0/16"), cidr("fd00:88::/64")},
          .masquerade = true,
          .internal = false,
          .icc = false,
          .isolate = true,
          .trusted_interfaces = {"eth9", "wg0"}};
}

// internal: nothing in or out but the bridge itself.
NetworkRules internal_network() {
  return {.network = "backend",
          .bridge = "weir1",
          .subnets = {cidr("10.89.0.0/24"), cidr("fd00:89::/64")},
          .masquerade = true,
          .internal = true,
          .icc = true,
          .isolate = true};
}

// isolation "none", no NAT, IPv4 only.
NetworkRules open_network() {
  return {.network = "shared",
          .bridge = "weir2",
          .subnets = {cidr("10.90.0.0/24")},
          .masquerade = false,
          .internal = false,
          .icc = true,
          .isolate = false};
}

// Published ports: TCP on 127.0.0.1, UDP on 0.0.0.0, TCP and SCTP on every address; two
// addresses of each family (the first of each is the target); macspoofchk.
EndpointRules endpoint() {
  return {.network = "frontend",
          .container_id = "c0ffee0123",
          .ifname = "eth0",
          .bridge = "weir0",
          .ips = {ip("10.88.0.5"), ip("fd00:88::5"), ip("10.88.0.6"), ip("fd00:88::6")},
          .ports = {{.host_port = 8080, .container_port = 80, .protocol = "tcp",
                     .host_ip = ip("127.0.0.1")},
                    {.host_port = 5353, .container_port = 53, .protocol = "udp",
                     .host_ip = ip("0.0.0.0")},
                    {.host_port = 8443, .container_port = 443, .protocol = "tcp"},
                    {.host_port = 9999, .container_port = 9999, .protocol = "sctp",
                     .host_ip = ip("fd00:88::1")}},
          .spoof_check = firewall::SpoofCheck{.host_ifname = "veth1a2b3c4d",
                                              .mac = *net::Mac::parse("02:42:0a:58:00:05")}};
}

struct NetworkCase {
  const char* name;
  NetworkRules (*rules)();
};

void PrintTo(const NetworkCase& c, std::ostream* os) {
  *os << c.name;
}

class FirewallGoldenNetwork : public ::testing::TestWithParam<NetworkCase> {};

TEST_P(FirewallGoldenNetwork, RulesAndBatchMatchTheGoldenFiles) {
  const NetworkRules rules = GetParam().rules();
  ASSERT_TRUE(detail::validate(rules));
  const auto built = detail::network_rules(rules);
  expect_golden(std::string(GetParam().name) + ".nft", render(built));
  // ensure_network on a netns without weir's rules.
  expect_golden(std::string(GetParam().name) + ".batch", batch_text({}, built));
}

INSTANTIATE_TEST_SUITE_P(Networks, FirewallGoldenNetwork,
                         ::testing::Values(NetworkCase{"network-strict", strict_network},
                                           NetworkCase{"network-internal", internal_network},
                                           NetworkCase{"network-open", open_network}),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           for (char& c : n) c = c == '-' ? '_' : c;
                           return n;
                         });

TEST(FirewallGolden, EndpointRulesAndBatch) {
  const EndpointRules rules = endpoint();
  ASSERT_TRUE(detail::validate(rules));
  const auto built = detail::endpoint_rules(rules);
  expect_golden("endpoint.nft", render(built));
  expect_golden("endpoint.batch", batch_text({}, built));
}

// A network whose settings changed (icc on, then off): its installed rules are deleted by
// handle and the new ones added, in one batch.
TEST(FirewallGolden, ChangedNetworkReplacesItsRules) {
  NetworkRules before = strict_network();
  before.icc = true;
  const auto have = installed(detail::network_rules(before), 10);
  expect_golden("network-changed.batch", batch_text(have, detail::network_rules(strict_network())));
}

// Nothing to send when the installed rules already are the wanted ones; anything else is a
// change. This is what keeps ensure_network from rewriting rules on every ADD.
TEST(FirewallGolden, NoBatchWhenInPlace) {
  const auto want = detail::network_rules(strict_network());
  nft::Batch b;
  EXPECT_FALSE(detail::plan_replace(installed(want, 1), want, b));
  EXPECT_TRUE(b.empty());
  auto fewer = installed(want, 1);
  fewer.pop_back();
  EXPECT_TRUE(detail::plan_replace(fewer, want, b));
  EXPECT_FALSE(b.empty());
}

// The golden files see the settings: each one changed renders differently (a check that the
// comparison above could fail).
TEST(FirewallGolden, EverySettingShowsInTheRendering) {
  if (updating()) GTEST_SKIP() << "rewriting golden files";
  const std::string base = render(detail::network_rules(strict_network()));
  std::vector<NetworkRules> changed(6, strict_network());
  changed[0].subnets.pop_back();
  changed[1].masquerade = false;
  changed[2].internal = true;
  changed[3].icc = true;
  changed[4].isolate = false;
  changed[5].trusted_interfaces = {"eth9"};
  for (size_t i = 0; i < changed.size(); ++i) {
    EXPECT_NE(render(detail::network_rules(changed[i])), base) << i;
  }
  EndpointRules no_spoof = endpoint();
  no_spoof.spoof_check.reset();
  EXPECT_NE(render(detail::endpoint_rules(no_spoof)), render(detail::endpoint_rules(endpoint())));
}

}  // namespace
}  // namespace weir
