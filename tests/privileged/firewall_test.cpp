// lib/firewall against the real kernel. Every test works inside throw-away network namespaces,
// so the host's own ruleset is never touched; `nft` (inside the netns) only checks what the
// product did, and `ip` builds the topology of the traffic tests.
#include "lib/firewall/firewall.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "lib/netns/netns.hpp"
#include "tests/support/netns.hpp"

namespace weir {
namespace {

using firewall::EndpointRules;
using firewall::NetworkRules;
using firewall::PortMapping;
using firewall::SpoofCheck;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

net::Cidr cidr(std::string_view text) {
  auto c = net::Cidr::parse(text);
  EXPECT_TRUE(c.has_value()) << text;
  return c.value_or(net::Cidr{});
}

net::IpAddr ip(std::string_view text) {
  auto a = net::IpAddr::parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(net::IpAddr{});
}

// Runs fn (returning Expected<T>) with the calling thread inside ns.
template <class F>
auto in(const test::TestNetns& ns, F&& fn) {
  auto handle = netns::Handle::open(ns.path());
  if (!handle) {
    ADD_FAILURE() << handle.error().msg;
    return decltype(fn())(fail(std::move(handle.error())));
  }
  return netns::run_in(*handle, std::forward<F>(fn));
}

std::string sh_in(const test::TestNetns& ns, const std::string& cmd, int* status = nullptr) {
  return test::sh("ip netns exec " + ns.name() + " " + cmd + " 2>&1", status);
}

void must(const std::string& cmd) {
  int status = -1;
  std::string out = test::sh(cmd + " 2>&1", &status);
  ASSERT_EQ(status, 0) << cmd << ": " << out;
}

struct NftRule {
  std::string chain;
  int64_t handle = 0;
  std::string comment;
  std::string json;  // the expressions, for substring checks
};

// The rules of table inet weir as `nft -j` reports them; empty when the table does not exist.
std::vector<NftRule> nft_rules(const test::TestNetns& ns) {
  int status = -1;
  const std::string out = sh_in(ns, "nft -j list table inet weir", &status);
  std::vector<NftRule> rules;
  if (status != 0) return rules;
  auto doc = nlohmann::json::parse(out, nullptr, false);
  if (doc.is_discarded()) {
    ADD_FAILURE() << "nft -j output is not JSON: " << out;
    return rules;
  }
  for (const auto& item : doc["nftables"]) {
    if (!item.contains("rule")) continue;
    const auto& r = item["rule"];
    rules.push_back({r.value("chain", ""), r.value("handle", int64_t{0}), r.value("comment", ""),
                     r["expr"].dump()});
  }
  return rules;
}

size_t count_tagged(const std::vector<NftRule>& rules, std::string_view comment) {
  return std::count_if(rules.begin(), rules.end(),
                       [&](const NftRule& r) { return r.comment == comment; });
}

std::vector<int64_t> handles(const std::vector<NftRule>& rules) {
  std::vector<int64_t> out;
  for (const auto& r : rules) out.push_back(r.handle);
  std::sort(out.begin(), out.end());
  return out;
}

net::Mac mac(std::string_view text) {
  auto m = net::Mac::parse(text);
  EXPECT_TRUE(m.has_value()) << text;
  return m.value_or(net::Mac{});
}

NetworkRules net1() {
  return NetworkRules{
      .network = "n1", .bridge = "weir0", .subnets = {cidr("10.89.0.0/24"), cidr("fd89::/64")}};
}

EndpointRules endpoint(std::string container, std::string address, uint16_t host_port) {
  return EndpointRules{.network = "n1",
                       .container_id = std::move(container),
                       .ifname = "eth0",
                       .bridge = "weir0",
                       .ips = {ip(address)},
                       .ports = {PortMapping{.host_port = host_port, .container_port = 8080}}};
}

class FirewallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WEIR_REQUIRE_ROOT();
    ns_.emplace("fw");
  }

  std::string nft(const std::string& args) { return sh_in(*ns_, "nft " + args); }

  std::optional<test::TestNetns> ns_;
};

TEST_F(FirewallTest, EnsureNetworkCreatesTableAndIsIdempotent) {
  auto ok = in(*ns_, [] { return firewall::ensure_network(net1()); });
  ASSERT_TRUE(ok) << ok.error().msg;
  const auto first = nft_rules(*ns_);
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(count_tagged(first, "weir:n1"), first.size());

  const std::string table = nft("list table inet weir");
  EXPECT_THAT(table, HasSubstr("type filter hook forward priority filter; policy accept;"));
  EXPECT_THAT(table, HasSubstr("type nat hook prerouting priority dstnat; policy accept;"));
  EXPECT_THAT(table, HasSubstr("type nat hook output priority -100; policy accept;"));
  EXPECT_THAT(table, HasSubstr("type nat hook postrouting priority srcnat; policy accept;"));
  EXPECT_THAT(table, HasSubstr("chain isolation {"));

  ok = in(*ns_, [] { return firewall::ensure_network(net1()); });
  ASSERT_TRUE(ok) << ok.error().msg;
  const auto second = nft_rules(*ns_);
  EXPECT_EQ(second.size(), first.size());
  // Nothing was rewritten: the same rules under the same handles.
  EXPECT_EQ(handles(second), handles(first));
  EXPECT_EQ(nft("list table inet weir"), table);

  auto check = in(*ns_, [] { return firewall::check_network(net1()); });
  EXPECT_TRUE(check) << check.error().msg;
}

// A process that lives on (weir-agent) skips the dump when the ruleset generation is the one
// at which it last found the network's rules in place. Any change since, by anyone, must make
// it look again; another netns is never taken for this one.
TEST_F(FirewallTest, EnsureNetworkLooksAgainAfterAnyChange) {
  auto ensure = [](const test::TestNetns& ns) {
    auto ok = in(ns, [] { return firewall::ensure_network(net1()); });
    EXPECT_TRUE(ok) << ok.error().msg;
  };
  ensure(*ns_);  // made
  ensure(*ns_);  // found in place: remembered
  ensure(*ns_);  // the same generation: not looked at
  const auto all = nft_rules(*ns_);
  ASSERT_FALSE(all.empty());

  // One rule deleted behind its back.
  must("ip netns exec " + ns_->name() + " nft delete rule inet weir " + all.front().chain +
       " handle " + std::to_string(all.front().handle));
  ASSERT_EQ(nft_rules(*ns_).size(), all.size() - 1);
  ensure(*ns_);
  EXPECT_EQ(nft_rules(*ns_).size(), all.size()) << "put back";

  // The whole table deleted.
  ensure(*ns_);
  must("ip netns exec " + ns_->name() + " nft delete table inet weir");
  ensure(*ns_);
  EXPECT_EQ(nft_rules(*ns_).size(), all.size());

  // A netns of its own, whatever its generation.
  test::TestNetns other("fw");
  ensure(other);
  EXPECT_EQ(nft_rules(other).size(), all.size());
  ensure(*ns_);
  EXPECT_EQ(nft_rules(*ns_).size(), all.size());
}

// What is remembered stands for these rules only: the same network with other settings (a
// config changed between two ADDs of one weir-agent) is looked at and rewritten.
TEST_F(FirewallTest, EnsureNetworkRewritesChangedSettings) {
  auto count = [&](const std::string& what) {
    const std::string all = nft("list table inet weir");
    size_t n = 0;
    for (size_t at = all.find(what); at != std::string::npos; at = all.find(what, at + 1)) ++n;
    return n;
  };
  NetworkRules n1 = net1();
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(in(*ns_, [&] { return firewall::ensure_network(n1); }));
  ASSERT_GT(count("masquerade"), 0u);
  n1.subnets.push_back(cidr("10.91.0.0/24"));
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(in(*ns_, [&] { return firewall::ensure_network(n1); }));
  EXPECT_GT(count("10.91.0.0/24"), 0u) << nft("list table inet weir");
  n1.isolate = false;
  ASSERT_TRUE(in(*ns_, [&] { return firewall::ensure_network(n1); }));
  EXPECT_EQ(count("jump isolation"), 0u) << nft("list table inet weir");
  n1.icc = false;
  ASSERT_TRUE(in(*ns_, [&] { return firewall::ensure_network(n1); }));
  EXPECT_GT(count("iifname \"weir0\" oifname \"weir0\" drop"), 0u) << nft("list table inet weir");
  n1.bridge = "weir7";
  ASSERT_TRUE(in(*ns_, [&] { return firewall::ensure_network(n1); }));
  EXPECT_GT(count("\"weir7\""), 0u) << nft("list table inet weir");
  n1.masquerade = false;
  n1.internal = true;
  ASSERT_TRUE(in(*ns_, [&] { return firewall::ensure_network(n1); }));
  EXPECT_EQ(count("masquerade"), 0u) << nft("list table inet weir");
}

// Whatever the order the networks came in: every head drop and jump precedes every accept, and
// each network's tail (its accepts, then its final drop) only matches its own bridge as oifname,
// so that no network's accept pre-empts another's drop.
TEST_F(FirewallTest, ForwardChainHasDropsBeforeAccepts) {
  NetworkRules n1 = net1();
  n1.icc = false;
  NetworkRules n2{.network = "n2", .bridge = "weir1", .subnets = {cidr("10.90.0.0/24")}};
  n2.isolate = false;
  ASSERT_TRUE(in(*ns_, [&] { return firewall::ensure_network(n1); }));
  ASSERT_TRUE(in(*ns_, [&] { return firewall::ensure_network(n2); }));

  const std::string forward = nft("list chain inet weir forward");
  std::vector<std::string> lines;
  for (size_t at = 0, nl; at < forward.size(); at = nl + 1) {
    nl = forward.find('\n', at);
    if (nl == std::string::npos) nl = forward.size();
    const std::string line = forward.substr(at, nl - at);
    if (line.find("comment \"weir:") != std::string::npos) lines.push_back(line);
  }
  size_t first_accept = lines.size();
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].find(" accept ") != std::string::npos) {
      first_accept = std::min(first_accept, i);
    }
  }
  ASSERT_LT(first_accept, lines.size()) << forward;
  for (size_t i = first_accept; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].find("\t\toifname \"weir"), 0u)
        << "a tail rule without oifname: " << lines[i];
  }
  for (size_t i = 0; i < first_accept; ++i) {
    EXPECT_EQ(lines[i].find("\t\toifname \"weir1\" drop"), std::string::npos) << forward;
  }
  for (const std::string br : {"weir0", "weir1"}) {
    const size_t last = forward.rfind("\t\toifname \"" + br + "\" ");
    EXPECT_EQ(forward.find("\t\toifname \"" + br + "\" drop comment"), last)
        << br << " ends in a drop: " << forward;
    EXPECT_LT(forward.find("oifname \"" + br + "\" ct state established,related accept"), last);
  }
  EXPECT_THAT(forward, HasSubstr("iifname \"weir0\" oifname \"weir0\" drop comment \"weir:n1\""));
  EXPECT_THAT(forward,
              HasSubstr("iifname \"weir0\" oifname != \"weir0\" ct status ! dnat jump isolation"));
  EXPECT_THAT(forward,
              Not(HasSubstr("iifname \"weir1\" oifname != \"weir1\" ct status ! dnat jump")));
  EXPECT_THAT(forward, HasSubstr("oifname \"weir1\" ct state established,related accept"));
  EXPECT_THAT(forward, HasSubstr("oifname \"weir1\" ct status dnat accept"));
  EXPECT_THAT(forward, HasSubstr("oifname \"weir1\" iifname \"weir1\" accept"));
  EXPECT_THAT(forward, HasSubstr("oifname \"weir1\" jump open comment \"weir:n2\""));
  EXPECT_THAT(forward, Not(HasSubstr("oifname \"weir0\" jump open")));
  // Every network is a bridge a strict one must not reach; only "none" ones are open.
  const std::string isolation = nft("list chain inet weir isolation");
  EXPECT_THAT(isolation, HasSubstr("oifname \"weir0\" drop comment \"weir:n1\""));
  EXPECT_THAT(isolation, HasSubstr("oifname \"weir1\" drop comment \"weir:n2\""));
  const std::string open = nft("list chain inet weir open");
  EXPECT_THAT(open, HasSubstr("iifname \"weir1\" accept comment \"weir:n2\""));
  EXPECT_THAT(open, Not(HasSubstr("weir0")));
  const std::string raw = nft("list chain inet weir raw-prerouting");
  EXPECT_THAT(raw, HasSubstr("type filter hook prerouting priority raw; policy accept;"));
  EXPECT_THAT(raw, HasSubstr("iifname \"weir0\" ip daddr 127.0.0.0/8 drop comment \"weir:n1\""));
  EXPECT_THAT(raw, HasSubstr("iifname \"weir1\" ip daddr 127.0.0.0/8 drop comment \"weir:n2\""));
}

TEST_F(FirewallTest, EnsureNetworkReplacesChangedRules) {
  ASSERT_TRUE(in(*ns_, [] { return firewall::ensure_network(net1()); }));
  const size_t before = nft_rules(*ns_).size();
  EXPECT_THAT(nft("list chain inet weir forward"),
              Not(HasSubstr("iifname \"weir0\" oifname \"weir0\" drop")));

  NetworkRules no_icc = net1();
  no_icc.icc = false;
  auto ok = in(*ns_, [&] { return firewall::ensure_network(no_icc); });
  ASSERT_TRUE(ok) << ok.error().msg;
  EXPECT_EQ(nft_rules(*ns_).size(), before + 1);
  EXPECT_THAT(nft("list chain inet weir forward"),
              HasSubstr("iifname \"weir0\" oifname \"weir0\" drop"));
  EXPECT_TRUE(in(*ns_, [&] { return firewall::check_network(no_icc); }));
  // The old shape no longer checks: the icc drop is not part of it.
  auto stale = in(*ns_, [] { return firewall::check_network(net1()); });
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, cni::Code::kCheckFailed);
  EXPECT_THAT(stale.error().msg, HasSubstr("unexpected rule in chain forward"));

  ASSERT_TRUE(in(*ns_, [] { return firewall::ensure_network(net1()); }));
  EXPECT_EQ(nft_rules(*ns_).size(), before);
}

TEST_F(FirewallTest, MasqueradePresentUnlessInternal) {
  ASSERT_TRUE(in(*ns_, [] { return firewall::ensure_network(net1()); }));
  std::string post = nft("list chain inet weir nat-postrouting");
  EXPECT_THAT(post, HasSubstr("ip saddr 10.89.0.0/24 ip daddr != 10.89.0.0/24 "
                              "ip daddr != 224.0.0.0/4 masquerade comment \"weir:n1\""));
  EXPECT_THAT(post, HasSubstr("ip6 saddr fd89::/64 ip6 daddr != fd89::/64 "
                              "ip6 daddr != ff00::/8 masquerade comment \"weir:n1\""));
  EXPECT_THAT(post, HasSubstr("oifname \"weir0\" ct status dnat ip saddr 10.89.0.0/24 masquerade"));
  EXPECT_THAT(post, HasSubstr("oifname \"weir0\" ct status dnat ip6 saddr fd89::/64 masquerade"));
  EXPECT_THAT(post, HasSubstr("oifname \"weir0\" ip saddr 127.0.0.0/8 masquerade"));

  NetworkRules no_masq = net1();
  no_masq.masquerade = false;
  ASSERT_TRUE(in(*ns_, [&] { return firewall::ensure_network(no_masq); }));
  post = nft("list chain inet weir nat-postrouting");
  EXPECT_THAT(post, Not(HasSubstr("ip daddr != 10.89.0.0/24")));
  EXPECT_THAT(post, HasSubstr("ct status dnat ip saddr 10.89.0.0/24 masquerade"));  // hairpin

  NetworkRules internal = net1();
  internal.internal = true;
  auto ok = in(*ns_, [&] { return firewall::ensure_network(internal); });
  ASSERT_TRUE(ok) << ok.error().msg;
  post = nft("list chain inet weir nat-postrouting");
  EXPECT_THAT(post, Not(HasSubstr("masquerade")));
  const std::string forward = nft("list chain inet weir forward");
  EXPECT_THAT(forward, HasSubstr("iifname \"weir0\" oifname != \"weir0\" drop"));
  EXPECT_THAT(forward, HasSubstr("oifname \"weir0\" iifname != \"weir0\" drop"));
  EXPECT_THAT(forward, Not(HasSubstr("accept comment")));
  EXPECT_TRUE(in(*ns_, [&] { return firewall::check_network(internal); }));
}

TEST_F(FirewallTest, PublishedPortRules) {
  ASSERT_TRUE(in(*ns_, [] { return firewall::ensure_network(net1()); }));
  EndpointRules ep{.network = "n1",
                   .container_id = "c1",
                   .ifname = "eth0",
                   .bridge = "weir0",
                   .ips = {ip("10.89.0.2"), ip("fd89::2")},
                   .ports = {PortMapping{.host_port = 80, .container_port = 8080},
                             PortMapping{.host_port = 53,
                                         .container_port = 5353,
                                         .protocol = "udp",
                                         .host_ip = ip("192.0.2.10")}}};
  auto ok = in(*ns_, [&] { return firewall::ensure_endpoint(ep); });
  ASSERT_TRUE(ok) << ok.error().msg;
  const std::string pre = nft("list chain inet weir nat-prerouting");
  // Every local address but the loopback ones, which are the host's alone (issue 13).
  EXPECT_THAT(pre, HasSubstr("ip daddr != 127.0.0.0/8 fib daddr type local tcp dport 80 dnat ip "
                             "to 10.89.0.2:8080 comment \"weir:n1:c1:eth0\""));
  EXPECT_THAT(pre, HasSubstr("fib daddr type local tcp dport 80 dnat ip6 to [fd89::2]:8080"));
  EXPECT_THAT(pre, HasSubstr("ip daddr 192.0.2.10 udp dport 53 dnat ip to 10.89.0.2:5353"));
  EXPECT_THAT(pre, Not(HasSubstr("udp dport 53 dnat ip6")));  // host_ip is v4 only
  const std::string out = nft("list chain inet weir nat-output");
  EXPECT_THAT(out, HasSubstr("fib daddr type local tcp dport 80 dnat ip to 10.89.0.2:8080"));
  EXPECT_THAT(out, HasSubstr("ip6 daddr != ::1 fib daddr type local tcp dport 80 dnat ip6 to"));
  EXPECT_EQ(count_tagged(nft_rules(*ns_), "weir:n1:c1:eth0"), 6u);

  // Idempotent, and check_endpoint agrees with what ensure made.
  ASSERT_TRUE(in(*ns_, [&] { return firewall::ensure_endpoint(ep); }));
  EXPECT_EQ(count_tagged(nft_rules(*ns_), "weir:n1:c1:eth0"), 6u);
  auto check = in(*ns_, [&] { return firewall::check_endpoint(ep); });
  EXPECT_TRUE(check) << check.error().msg;

  // Fewer ports: the endpoint's rules are replaced, not added to.
  ep.ports.pop_back();
  ASSERT_TRUE(in(*ns_, [&] { return firewall::ensure_endpoint(ep); }));
  EXPECT_EQ(count_tagged(nft_rules(*ns_), "weir:n1:c1:eth0"), 4u);

  // Published on a loopback address: DNATed for the host's own connections (nat-output) only,
  // never for what arrives from another interface (issue 13).
  ep.ports = {PortMapping{.host_port = 81, .container_port = 8080, .host_ip = ip("127.0.0.1")},
              PortMapping{.host_port = 82, .container_port = 8080, .host_ip = ip("127.0.0.2")}};
  ASSERT_TRUE(in(*ns_, [&] { return firewall::ensure_endpoint(ep); }));
  EXPECT_THAT(nft("list chain inet weir nat-prerouting"), Not(HasSubstr("weir:n1:c1:eth0")));
  const std::string lo = nft("list chain inet weir nat-output");
  EXPECT_THAT(lo, HasSubstr("ip daddr 127.0.0.1 tcp dport 81 dnat ip to 10.89.0.2:8080"));
  EXPECT_THAT(lo, HasSubstr("ip daddr 127.0.0.2 tcp dport 82 dnat ip to 10.89.0.2:8080"));
  EXPECT_EQ(count_tagged(nft_rules(*ns_), "weir:n1:c1:eth0"), 2u);
  check = in(*ns_, [&] { return firewall::check_endpoint(ep); });
  EXPECT_TRUE(check) << check.error().msg;
}

TEST_F(FirewallTest, DelEndpointRemovesExactlyThatEndpoint) {
  ASSERT_TRUE(in(*ns_, [] { return firewall::ensure_network(net1()); }));
  ASSERT_TRUE(in(*ns_, [] { return firewall::ensure_endpoint(endpoint("c1", "10.89.0.2", 81)); }));
  ASSERT_TRUE(in(*ns_, [] { return firewall::ensure_endpoint(endpoint("c2", "10.89.0.3", 82)); }));
  EndpointRules c1_eth1 = endpoint("c1", "10.89.0.4", 83);
  c1_eth1.ifname = "eth1";
  ASSERT_TRUE(in(*ns_, [&] { return firewall::ensure_endpoint(c1_eth1); }));
  const auto before = nft_rules(*ns_);
  const size_t network_rules = count_tagged(before, "weir:n1");
  ASSERT_EQ(count_tagged(before, "weir:n1:c1:eth0"), 2u);
  ASSERT_EQ(count_tagged(before, "weir:n1:c2:eth0"), 2u);
  ASSERT_EQ(count_tagged(before, "weir:n1:c1:eth1"), 2u);

  for (int i = 0; i < 2; ++i) {  // the second time there is nothing left: still success
    auto ok = in(*ns_, [] { return firewall::del_endpoint("n1", "c1", "eth0"); });
    ASSERT_TRUE(ok) << ok.error().msg;
  }
  const auto after = nft_rules(*ns_);
  EXPECT_EQ(count_tagged(after, "weir:n1:c1:eth0"), 0u);
  EXPECT_EQ(count_tagged(after, "weir:n1:c2:eth0"), 2u);
  EXPECT_EQ(count_tagged(after, "weir:n1:c1:eth1"), 2u);
  EXPECT_EQ(count_tagged(after, "weir:n1"), network_rules);
  EXPECT_EQ(after.size(), before.size() - 2);
  EXPECT_TRUE(in(*ns_, [] { return firewall::check_endpoint(endpoint("c2", "10.89.0.3", 82)); }));
}

TEST_F(FirewallTest, DelNetworkRemovesItsEndpointsAndLeavesOthers) {
  NetworkRules n2{.network = "n2", .bridge = "weir1", .subnets = {cidr("10.90.0.0/24")}};
  // "n1x" shares a prefix with "n1": tags must not match by prefix alone.
  NetworkRules n1x{.network = "n1x", .bridge = "weir2", .subnets = {cidr("10.91.0.0/24")}};
  ASSERT_TRUE(in(*ns_, [] { return firewall::ensure_network(net1()); }));
  ASSERT_TRUE(in(*ns_, [&] { return firewall::ensure_network(n2); }));
  ASSERT_TRUE(in(*ns_, [&] { return firewall::ensure_network(n1x); }));
  ASSERT_TRUE(in(*ns_, [] { return firewall::ensure_endpoint(endpoint("c1", "10.89.0.2", 81)); }));
  EndpointRules other = endpoint("c9", "10.90.0.2", 82);
  other.network = "n2";
  other.bridge = "weir1";
  ASSERT_TRUE(in(*ns_, [&] { return firewall::ensure_endpoint(other); }));

  auto names = in(*ns_, [] { return firewall::list_networks(); });
  ASSERT_TRUE(names) << names.error().msg;
  EXPECT_THAT(*names, ElementsAre("n1", "n1x", "n2"));

  for (int i = 0; i < 2; ++i) {
    auto ok = in(*ns_, [] { return firewall::del_network("n1"); });
    ASSERT_TRUE(ok) << ok.error().msg;
  }
  const auto rules = nft_rules(*ns_);
  EXPECT_EQ(count_tagged(rules, "weir:n1"), 0u);
  EXPECT_EQ(count_tagged(rules, "weir:n1:c1:eth0"), 0u);
  EXPECT_EQ(count_tagged(rules, "weir:n2:c9:eth0"), 2u);
  EXPECT_GT(count_tagged(rules, "weir:n2"), 0u);
  EXPECT_GT(count_tagged(rules, "weir:n1x"), 0u);
  EXPECT_TRUE(in(*ns_, [&] { return firewall::check_network(n2); }));
  EXPECT_TRUE(in(*ns_, [&] { return firewall::check_network(n1x); }));
  names = in(*ns_, [] { return firewall::list_networks(); });
  ASSERT_TRUE(names);
  EXPECT_THAT(*names, ElementsAre("n1x", "n2"));
}

TEST_F(FirewallTest, DeletesTolerateAbsence) {
  // No table at all yet.
  EXPECT_TRUE(in(*ns_, [] { return firewall::del_endpoint("n1", "c1", "eth0"); }));
  EXPECT_TRUE(in(*ns_, [] { return firewall::del_network("n1"); }));
  auto ok = in(*ns_, [] { return firewall::del_table(); });
  EXPECT_TRUE(ok) << ok.error().msg;
  auto deleted = in(*ns_, [] { return firewall::del_table_if_unused(); });
  ASSERT_TRUE(deleted) << deleted.error().msg;
  EXPECT_FALSE(*deleted);
  auto names = in(*ns_, [] { return firewall::list_networks(); });
  ASSERT_TRUE(names) << names.error().msg;
  EXPECT_THAT(*names, IsEmpty());
  EXPECT_THAT(nft("list tables"), Not(HasSubstr("weir")));  // reads created nothing

  // A table still in use is kept by del_table_if_unused, removed when its last network goes.
  ASSERT_TRUE(in(*ns_, [] { return firewall::ensure_network(net1()); }));
  deleted = in(*ns_, [] { return firewall::del_table_if_unused(); });
  ASSERT_TRUE(deleted);
  EXPECT_FALSE(*deleted);
  EXPECT_THAT(nft("list tables"), HasSubstr("table inet weir"));
  ASSERT_TRUE(in(*ns_, [] { return firewall::del_network("n1"); }));
  deleted = in(*ns_, [] { return firewall::del_table_if_unused(); });
  ASSERT_TRUE(deleted);
  EXPECT_TRUE(*deleted);
  EXPECT_THAT(nft("list tables"), Not(HasSubstr("weir")));

  // del_table removes everything, twice.
  ASSERT_TRUE(in(*ns_, [] { return firewall::ensure_network(net1()); }));
  for (int i = 0; i < 2; ++i) {
    ok = in(*ns_, [] { return firewall::del_table(); });
    ASSERT_TRUE(ok) << ok.error().msg;
  }
  EXPECT_THAT(nft("list tables"), Not(HasSubstr("weir")));
}

TEST_F(FirewallTest, CheckNetworkNamesWhatIsMissing) {
  ASSERT_TRUE(in(*ns_, [] { return firewall::ensure_network(net1()); }));
  ASSERT_TRUE(in(*ns_, [] { return firewall::check_network(net1()); }));

  // Delete the v4 masquerade rule behind weir's back.
  const auto rules = nft_rules(*ns_);
  auto it = std::find_if(rules.begin(), rules.end(), [](const NftRule& r) {
    return r.chain == "nat-postrouting" && r.json.find("10.89.0.0") != std::string::npos;
  });
  ASSERT_NE(it, rules.end());
  int status = -1;
  std::string out =
      sh_in(*ns_, "nft delete rule inet weir nat-postrouting handle " + std::to_string(it->handle),
            &status);
  ASSERT_EQ(status, 0) << out;

  auto check = in(*ns_, [] { return firewall::check_network(net1()); });
  ASSERT_FALSE(check);
  EXPECT_EQ(check.error().code, cni::Code::kCheckFailed);
  EXPECT_THAT(check.error().msg, HasSubstr("check firewall of network \"n1\""));
  EXPECT_THAT(check.error().msg, HasSubstr("missing rule in chain nat-postrouting"));
  EXPECT_THAT(check.error().msg, HasSubstr("ip saddr 10.89.0.0/24"));

  // ensure repairs it.
  ASSERT_TRUE(in(*ns_, [] { return firewall::ensure_network(net1()); }));
  EXPECT_TRUE(in(*ns_, [] { return firewall::check_network(net1()); }));

  // A missing chain, then a missing table, are named as such.
  out = sh_in(*ns_,
              "sh -c 'nft flush chain inet weir forward && nft flush chain inet weir isolation && "
              "nft delete chain inet weir isolation'",
              &status);
  ASSERT_EQ(status, 0) << out;
  check = in(*ns_, [] { return firewall::check_network(net1()); });
  ASSERT_FALSE(check);
  EXPECT_EQ(check.error().code, cni::Code::kCheckFailed);
  EXPECT_THAT(check.error().msg, HasSubstr("chain isolation of table inet weir is missing"));
  ASSERT_TRUE(in(*ns_, [] { return firewall::del_table(); }));
  check = in(*ns_, [] { return firewall::check_network(net1()); });
  ASSERT_FALSE(check);
  EXPECT_EQ(check.error().code, cni::Code::kCheckFailed);
  EXPECT_THAT(check.error().msg, HasSubstr("table inet weir is missing"));
}

TEST_F(FirewallTest, CheckEndpointNamesWhatIsMissing) {
  ASSERT_TRUE(in(*ns_, [] { return firewall::ensure_network(net1()); }));
  const EndpointRules ep = endpoint("c1", "10.89.0.2", 81);
  ASSERT_TRUE(in(*ns_, [&] { return firewall::ensure_endpoint(ep); }));
  ASSERT_TRUE(in(*ns_, [&] { return firewall::check_endpoint(ep); }));

  const auto rules = nft_rules(*ns_);
  auto it = std::find_if(rules.begin(), rules.end(), [](const NftRule& r) {
    return r.chain == "nat-output" && r.comment == "weir:n1:c1:eth0";
  });
  ASSERT_NE(it, rules.end());
  int status = -1;
  std::string out = sh_in(
      *ns_, "nft delete rule inet weir nat-output handle " + std::to_string(it->handle), &status);
  ASSERT_EQ(status, 0) << out;

  auto check = in(*ns_, [&] { return firewall::check_endpoint(ep); });
  ASSERT_FALSE(check);
  EXPECT_EQ(check.error().code, cni::Code::kCheckFailed);
  EXPECT_THAT(check.error().msg, HasSubstr("missing rule in chain nat-output"));
  EXPECT_THAT(check.error().msg,
              HasSubstr("meta l4proto tcp th dport 81 dnat ip to 10.89.0.2:8080"));
  // The network's own rules are untouched, and check_network says so.
  EXPECT_TRUE(in(*ns_, [] { return firewall::check_network(net1()); }));
}

// macspoofchk: one rule per endpoint in table bridge weir, which exists only while such a rule
// does; it goes and comes with the endpoint's other rules.
TEST_F(FirewallTest, SpoofCheckLivesInTableBridge) {
  ASSERT_TRUE(in(*ns_, [] { return firewall::ensure_network(net1()); }));
  ASSERT_TRUE(in(*ns_, [] { return firewall::ensure_endpoint(endpoint("c2", "10.89.0.3", 82)); }));
  EXPECT_THAT(nft("list tables"), Not(HasSubstr("table bridge weir"))) << "made only when asked for";

  EndpointRules ep = endpoint("c1", "10.89.0.2", 81);
  ep.spoof_check = SpoofCheck{.host_ifname = "veth0a0b0c0d", .mac = mac("02:42:0a:59:00:02")};
  auto ok = in(*ns_, [&] { return firewall::ensure_endpoint(ep); });
  ASSERT_TRUE(ok) << ok.error().msg;
  const std::string table = nft("list table bridge weir");
  EXPECT_THAT(table, HasSubstr("chain prerouting {"));
  EXPECT_THAT(table, HasSubstr("type filter hook prerouting priority dstnat; policy accept;"));
  EXPECT_THAT(table, HasSubstr("iifname \"veth0a0b0c0d\" ether saddr != 02:42:0a:59:00:02 drop "
                               "comment \"weir:n1:c1:eth0\""));
  EXPECT_EQ(count_tagged(nft_rules(*ns_), "weir:n1:c1:eth0"), 2u);  // its ports, in inet
  ok = in(*ns_, [&] { return firewall::check_endpoint(ep); });
  EXPECT_TRUE(ok) << ok.error().msg;
  // Idempotent: nothing rewritten.
  const std::string handles = nft("-a list table bridge weir");
  ASSERT_TRUE(in(*ns_, [&] { return firewall::ensure_endpoint(ep); }));
  EXPECT_EQ(nft("-a list table bridge weir"), handles);

  // Another MAC is another rule: check says which is missing; ensure replaces it.
  EndpointRules moved = ep;
  moved.spoof_check->mac = mac("02:42:0a:59:00:99");
  auto check = in(*ns_, [&] { return firewall::check_endpoint(moved); });
  ASSERT_FALSE(check);
  EXPECT_EQ(check.error().code, cni::Code::kCheckFailed);
  EXPECT_THAT(check.error().msg, HasSubstr("missing rule in chain prerouting: iifname \"veth0a0b0c0d\" "
                                           "ether saddr != 02:42:0a:59:00:99 drop"));
  ASSERT_TRUE(in(*ns_, [&] { return firewall::ensure_endpoint(moved); }));
  EXPECT_THAT(nft("list table bridge weir"), Not(HasSubstr("02:42:0a:59:00:02")));
  EXPECT_TRUE(in(*ns_, [&] { return firewall::check_endpoint(moved); }));
  // Without the check: the rule goes, and so does an endpoint's check that still wants it.
  check = in(*ns_, [] { return firewall::check_endpoint(endpoint("c1", "10.89.0.2", 81)); });
  ASSERT_FALSE(check);
  EXPECT_THAT(check.error().msg, HasSubstr("unexpected rule in chain prerouting"));

  // Gone behind weir's back: the rule, then the whole table.
  must("ip netns exec " + ns_->name() + " nft flush chain bridge weir prerouting");
  check = in(*ns_, [&] { return firewall::check_endpoint(moved); });
  ASSERT_FALSE(check);
  EXPECT_THAT(check.error().msg, HasSubstr("missing rule in chain prerouting"));
  must("ip netns exec " + ns_->name() + " nft delete table bridge weir");
  check = in(*ns_, [&] { return firewall::check_endpoint(moved); });
  ASSERT_FALSE(check);
  EXPECT_EQ(check.error().code, cni::Code::kCheckFailed);
  EXPECT_THAT(check.error().msg, HasSubstr("table bridge weir is missing"));
  ASSERT_TRUE(in(*ns_, [&] { return firewall::ensure_endpoint(moved); }));
  EXPECT_TRUE(in(*ns_, [&] { return firewall::check_endpoint(moved); }));
  auto names = in(*ns_, [] { return firewall::list_networks(); });
  ASSERT_TRUE(names);
  EXPECT_THAT(*names, ElementsAre("n1"));

  // del_endpoint takes all of its rules, in both tables; the empty bridge table then goes,
  // the inet one (the network's and c2's rules) stays.
  ASSERT_TRUE(in(*ns_, [] { return firewall::del_endpoint("n1", "c1", "eth0"); }));
  EXPECT_EQ(count_tagged(nft_rules(*ns_), "weir:n1:c1:eth0"), 0u);
  EXPECT_THAT(nft("list table bridge weir"), Not(HasSubstr("weir:n1:c1:eth0")));
  auto deleted = in(*ns_, [] { return firewall::del_table_if_unused(); });
  ASSERT_TRUE(deleted) << deleted.error().msg;
  EXPECT_TRUE(*deleted);
  EXPECT_THAT(nft("list tables"), Not(HasSubstr("table bridge weir")));
  EXPECT_THAT(nft("list tables"), HasSubstr("table inet weir"));

  // A spoof check alone (an L2-only network): table bridge weir only. del_network takes it.
  EndpointRules l2{.network = "l2",
                   .container_id = "c3",
                   .ifname = "eth0",
                   .bridge = "weir3",
                   .spoof_check = SpoofCheck{.host_ifname = "veth0a0b0c0e", .mac = mac("02:00:00:00:00:03")}};
  ASSERT_TRUE(in(*ns_, [&] { return firewall::ensure_endpoint(l2); }));
  ASSERT_TRUE(in(*ns_, [&] { return firewall::ensure_endpoint(ep); }));
  EXPECT_THAT(nft("list chain bridge weir prerouting"), HasSubstr("comment \"weir:l2:c3:eth0\""));
  ASSERT_TRUE(in(*ns_, [] { return firewall::del_network("l2"); }));
  EXPECT_THAT(nft("list chain bridge weir prerouting"), Not(HasSubstr("weir:l2:")));
  deleted = in(*ns_, [] { return firewall::del_table_if_unused(); });
  ASSERT_TRUE(deleted);
  EXPECT_FALSE(*deleted) << "c1's spoof check is still there";
  ASSERT_TRUE(in(*ns_, [] { return firewall::del_network("n1"); }));
  deleted = in(*ns_, [] { return firewall::del_table_if_unused(); });
  ASSERT_TRUE(deleted);
  EXPECT_TRUE(*deleted);
  EXPECT_EQ(nft("list ruleset"), "");

  // del_table takes both tables.
  ASSERT_TRUE(in(*ns_, [&] { return firewall::ensure_endpoint(ep); }));
  ASSERT_TRUE(in(*ns_, [] { return firewall::del_table(); }));
  EXPECT_EQ(nft("list ruleset"), "");
}

TEST_F(FirewallTest, InvalidInputIsAConfigError) {
  NetworkRules bad = net1();
  bad.network = "a:b";
  auto ok = in(*ns_, [&] { return firewall::ensure_network(bad); });
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().code, cni::Code::kInvalidConfig);
  EXPECT_THAT(ok.error().msg, HasSubstr("\"a:b\""));

  bad = net1();
  bad.bridge = "a-bridge-name-too-long";
  ok = in(*ns_, [&] { return firewall::ensure_network(bad); });
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().code, cni::Code::kInvalidConfig);

  EndpointRules ep = endpoint("c1", "10.89.0.2", 81);
  ep.ports[0].protocol = "icmp";
  ok = in(*ns_, [&] { return firewall::ensure_endpoint(ep); });
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().code, cni::Code::kInvalidConfig);

  ep = endpoint("c1", "10.89.0.2", 81);
  ep.spoof_check = SpoofCheck{.host_ifname = "veth:1", .mac = mac("02:00:00:00:00:01")};
  ok = in(*ns_, [&] { return firewall::ensure_endpoint(ep); });
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().code, cni::Code::kInvalidConfig);
  ep.spoof_check = SpoofCheck{.host_ifname = "veth1", .mac = mac("01:00:5e:00:00:01")};  // multicast
  ok = in(*ns_, [&] { return firewall::ensure_endpoint(ep); });
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().code, cni::Code::kInvalidConfig);

  ok = in(*ns_, [] { return firewall::del_endpoint("n1", "c:1", "eth0"); });
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().code, cni::Code::kInvalidConfig);
  EXPECT_THAT(nft("list tables"), Not(HasSubstr("weir")));  // nothing was applied
}

TEST_F(FirewallTest, KernelErrorsKeepErrnoAndContext) {
  // A base chain of another type under one of weir's names: the kernel refuses to turn it into
  // the nat chain, and the whole batch, rules included, is rolled back.
  int status = -1;
  std::string out = sh_in(*ns_,
                          "nft 'add table inet weir; add chain inet weir nat-postrouting "
                          "{ type filter hook postrouting priority 0; }'",
                          &status);
  ASSERT_EQ(status, 0) << out;
  auto ok = in(*ns_, [] { return firewall::ensure_network(net1()); });
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().code, cni::Code::kKernel);
  EXPECT_NE(ok.error().sys_errno, 0);
  EXPECT_THAT(ok.error().msg,
              HasSubstr("ensure firewall of network \"n1\": add chain nat-postrouting: "));
  EXPECT_TRUE(nft_rules(*ns_).empty());
  EXPECT_THAT(nft("list table inet weir"), Not(HasSubstr("chain forward")));
}

TEST_F(FirewallTest, ConcurrentWritersLoseNothing) {
  ASSERT_TRUE(in(*ns_, [] { return firewall::ensure_network(net1()); }));
  constexpr int kThreads = 16;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  std::vector<std::string> errors(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto ok = in(*ns_, [&] {
        return firewall::ensure_endpoint(endpoint("c" + std::to_string(t),
                                                  "10.89.0." + std::to_string(10 + t),
                                                  static_cast<uint16_t>(1000 + t)));
      });
      if (!ok) {
        errors[t] = ok.error().msg;
        ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0) << ::testing::PrintToString(errors);
  const auto rules = nft_rules(*ns_);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(count_tagged(rules, "weir:n1:c" + std::to_string(t) + ":eth0"), 2u) << t;
  }
  EXPECT_TRUE(in(*ns_, [] { return firewall::check_network(net1()); }));
}

// --- Real traffic -------------------------------------------------------------------------------

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// A TCP listener on 0.0.0.0:port inside ns (the socket stays in the netns it was made in).
Expected<Fd> listen_tcp(const test::TestNetns& ns, uint16_t port) {
  return in(ns, [&]() -> Expected<Fd> {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (fd.get() < 0) return fail(cni::sys_error(errno, "socket"));
    const int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
      return fail(cni::sys_error(errno, "bind"));
    }
    if (::listen(fd.get(), 16) != 0) return fail(cni::sys_error(errno, "listen"));
    return fd;
  });
}

// Connects from inside ns; true when the handshake completes within a second.
bool tcp_connects(const test::TestNetns& ns, const std::string& addr, uint16_t port) {
  auto r = in(ns, [&]() -> Expected<bool> {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (fd.get() < 0) return fail(cni::sys_error(errno, "socket"));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    ::inet_pton(AF_INET, addr.c_str(), &sa.sin_addr);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0) return true;
    if (errno != EINPROGRESS) return false;
    pollfd p{.fd = fd.get(), .events = POLLOUT, .revents = 0};
    if (::poll(&p, 1, 1000) != 1) return false;
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    return err == 0;
  });
  return r.value_or(false);
}

// Accepts one pending connection; returns the peer address, "" when there is none.
std::string accept_peer(const Fd& listener) {
  pollfd p{.fd = listener.get(), .events = POLLIN, .revents = 0};
  if (::poll(&p, 1, 1000) != 1) return "";
  sockaddr_in peer{};
  socklen_t len = sizeof(peer);
  Fd conn(::accept4(listener.get(), reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC));
  if (conn.get() < 0) return "";
  char buf[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &peer.sin_addr, buf, sizeof(buf));
  return buf;
}

bool pings(const test::TestNetns& from, const std::string& to) {
  int status = -1;
  sh_in(from, "ping -c1 -W1 " + to, &status);
  return status == 0;
}

// host: bridge weir0 10.89.0.1/24 with ports to c1 (.2) and c2 (.3), bridge weir1 10.90.0.1/24
// with a port to c3 (.2), and an "uplink" 192.0.2.10/24 standing for the host's address.
class FirewallTrafficTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WEIR_REQUIRE_ROOT();
    host_.emplace("fwhost");
    c1_.emplace("fwc1");
    c2_.emplace("fwc2");
    c3_.emplace("fwc3");
    const std::string h = "ip -n " + host_->name() + " ";
    must(h + "link set lo up");
    must(h + "link add uplink type veth peer name uplink-peer");  // no dummy driver here
    must(h + "link set uplink-peer up");
    must(h + "addr add 192.0.2.10/24 dev uplink");
    must(h + "link set uplink up");
    // route_localnet: what the bridge plugin sets so that 127.0.0.1:<published port> works;
    // bridge-nf-call-iptables: bridged traffic through the inet forward hook (icc=false).
    must("ip netns exec " + host_->name() +
         " sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1");
    make_bridge("weir0", "10.89.0.1/24");
    make_bridge("weir1", "10.90.0.1/24");
    attach(*c1_, "weir0", "vc1", "10.89.0.2/24", "10.89.0.1");
    attach(*c2_, "weir0", "vc2", "10.89.0.3/24", "10.89.0.1");
    attach(*c3_, "weir1", "vc3", "10.90.0.2/24", "10.90.0.1");
  }

  void make_bridge(const std::string& name, const std::string& addr) {
    const std::string h = "ip -n " + host_->name() + " ";
    must(h + "link add " + name + " type bridge");
    must(h + "addr add " + addr + " dev " + name);
    must(h + "link set " + name + " up");
    must("ip netns exec " + host_->name() + " sysctl -qw net.ipv4.conf." + name +
         ".route_localnet=1");
  }

  void attach(const test::TestNetns& c, const std::string& bridge, const std::string& host_if,
              const std::string& addr, const std::string& gw) {
    const std::string h = "ip -n " + host_->name() + " ";
    const std::string n = "ip -n " + c.name() + " ";
    must(h + "link add " + host_if + " type veth peer name eth0 netns " + c.name());
    must(h + "link set " + host_if + " master " + bridge + " up");
    // What the bridge plugin does for hairpin: with br_netfilter a container's connection to
    // its own published port is bridged back out of the port it came from.
    must(h + "link set " + host_if + " type bridge_slave hairpin on");
    must(n + "link set lo up");
    must(n + "addr add " + addr + " dev eth0");
    must(n + "link set eth0 up");
    must(n + "route add default via " + gw);
  }

  static NetworkRules network(std::string name, std::string bridge, std::string subnet) {
    return NetworkRules{
        .network = std::move(name), .bridge = std::move(bridge), .subnets = {cidr(subnet)}};
  }

  // Declared first, destroyed last: the containers go before the host (their veths with them).
  std::optional<test::TestNetns> host_, c1_, c2_, c3_;
};

TEST_F(FirewallTrafficTest, PublishedPortReachesContainerUntilDelEndpoint) {
  auto listener = listen_tcp(*c1_, 8080);
  ASSERT_TRUE(listener) << listener.error().msg;
  EXPECT_FALSE(tcp_connects(*host_, "192.0.2.10", 18080));  // nothing published yet

  auto ok =
      in(*host_, [] { return firewall::ensure_network(network("n1", "weir0", "10.89.0.0/24")); });
  ASSERT_TRUE(ok) << ok.error().msg;
  const EndpointRules ep{.network = "n1",
                         .container_id = "c1",
                         .ifname = "eth0",
                         .bridge = "weir0",
                         .ips = {ip("10.89.0.2")},
                         .ports = {PortMapping{.host_port = 18080, .container_port = 8080}}};
  ok = in(*host_, [&] { return firewall::ensure_endpoint(ep); });
  ASSERT_TRUE(ok) << ok.error().msg;

  // The host to its own address: output DNAT; the container sees the host address.
  EXPECT_TRUE(tcp_connects(*host_, "192.0.2.10", 18080));
  EXPECT_EQ(accept_peer(*listener), "192.0.2.10");
  // The host to 127.0.0.1: route_localnet plus the 127.0.0.0/8 masquerade.
  EXPECT_TRUE(tcp_connects(*host_, "127.0.0.1", 18080));
  EXPECT_EQ(accept_peer(*listener), "10.89.0.1");
  // Hairpin: another container through the host address, masqueraded to the gateway.
  EXPECT_TRUE(tcp_connects(*c2_, "192.0.2.10", 18080));
  EXPECT_EQ(accept_peer(*listener), "10.89.0.1");
  // Self-hairpin: the container to its own published port.
  EXPECT_TRUE(tcp_connects(*c1_, "192.0.2.10", 18080));
  EXPECT_EQ(accept_peer(*listener), "10.89.0.1");
  // A container of another, isolated network: published ports are for everyone, so DNATed
  // traffic passes the isolation; n2's masquerade shows it as weir0's gateway.
  ok = in(*host_, [] { return firewall::ensure_network(network("n2", "weir1", "10.90.0.0/24")); });
  ASSERT_TRUE(ok) << ok.error().msg;
  EXPECT_FALSE(pings(*c3_, "10.89.0.2"));  // isolated otherwise
  EXPECT_TRUE(tcp_connects(*c3_, "192.0.2.10", 18080));
  EXPECT_EQ(accept_peer(*listener), "10.89.0.1");

  ok = in(*host_, [] { return firewall::del_endpoint("n1", "c1", "eth0"); });
  ASSERT_TRUE(ok) << ok.error().msg;
  EXPECT_FALSE(tcp_connects(*host_, "192.0.2.10", 18080));
  EXPECT_FALSE(tcp_connects(*host_, "127.0.0.1", 18080));
  EXPECT_FALSE(tcp_connects(*c2_, "192.0.2.10", 18080));
  EXPECT_EQ(accept_peer(*listener), "");
  // The container itself is still reachable directly.
  EXPECT_TRUE(tcp_connects(*host_, "10.89.0.2", 8080));
}

TEST_F(FirewallTrafficTest, IccFalseBlocksContainerToContainer) {
  NetworkRules n1 = network("n1", "weir0", "10.89.0.0/24");
  ASSERT_TRUE(in(*host_, [&] { return firewall::ensure_network(n1); }));
  EXPECT_TRUE(pings(*c1_, "10.89.0.3"));

  n1.icc = false;
  ASSERT_TRUE(in(*host_, [&] { return firewall::ensure_network(n1); }));
  EXPECT_FALSE(pings(*c1_, "10.89.0.3"));
  EXPECT_FALSE(pings(*c2_, "10.89.0.2"));
  EXPECT_TRUE(pings(*c1_, "10.89.0.1"));  // the host is still reachable

  n1.icc = true;
  ASSERT_TRUE(in(*host_, [&] { return firewall::ensure_network(n1); }));
  EXPECT_TRUE(pings(*c1_, "10.89.0.3"));
}

TEST_F(FirewallTrafficTest, IsolationAndInternal) {
  NetworkRules n1 = network("n1", "weir0", "10.89.0.0/24");
  NetworkRules n2 = network("n2", "weir1", "10.90.0.0/24");
  n1.masquerade = n2.masquerade = false;  // see the real source addresses across bridges
  ASSERT_TRUE(in(*host_, [&] { return firewall::ensure_network(n1); }));
  ASSERT_TRUE(in(*host_, [&] { return firewall::ensure_network(n2); }));
  EXPECT_FALSE(pings(*c1_, "10.90.0.2"));
  EXPECT_FALSE(pings(*c3_, "10.89.0.2"));
  EXPECT_TRUE(pings(*c1_, "10.89.0.3"));   // same bridge
  EXPECT_TRUE(pings(*c1_, "192.0.2.10"));  // the host

  // A strict network and a "none" one stay apart, both ways (issue 13: "none" was a way
  // around "strict").
  n2.isolate = false;
  ASSERT_TRUE(in(*host_, [&] { return firewall::ensure_network(n2); }));
  EXPECT_FALSE(pings(*c1_, "10.90.0.2"));
  EXPECT_FALSE(pings(*c3_, "10.89.0.2"));
  // Two "none" networks talk.
  n1.isolate = false;
  ASSERT_TRUE(in(*host_, [&] { return firewall::ensure_network(n1); }));
  EXPECT_TRUE(pings(*c1_, "10.90.0.2"));
  EXPECT_TRUE(pings(*c3_, "10.89.0.2"));

  // An internal network talks to nothing but its own bridge and the host.
  n1.internal = true;
  ASSERT_TRUE(in(*host_, [&] { return firewall::ensure_network(n1); }));
  EXPECT_FALSE(pings(*c1_, "10.90.0.2"));
  EXPECT_FALSE(pings(*c3_, "10.89.0.2"));
  EXPECT_TRUE(pings(*c1_, "10.89.0.3"));
  EXPECT_TRUE(pings(*c1_, "10.89.0.1"));

  // weir0 without rules is no weir network any more, as foreign to n2 as the LAN: its
  // containers get replies from n2 but open nothing there.
  ASSERT_TRUE(in(*host_, [] { return firewall::del_network("n1"); }));
  EXPECT_FALSE(pings(*c1_, "10.90.0.2"));
  EXPECT_TRUE(pings(*c3_, "10.89.0.2"));
}

}  // namespace
}  // namespace weir
