// The embedded DNS end to end: the real weir-bridge starts the real weir-agent, and dig runs in
// the containers' netns. Every test has its own host netns (the plugin runs in it with nsenter,
// so the agent it starts serves that netns) and its own data dir (store, the agent's control
// socket, locks and log). Every test DELs what it added, so its agent exits; TearDown fails a
// test that leaves one behind, and kills it.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <tuple>
#include <sys/socket.h>
#include <sys/un.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "agent/client/control.hpp"
#include "lib/store/sqlite.hpp"
#include "tests/support/bridge_fixture.hpp"
#include "tests/support/dns_fixture.hpp"
#include "tests/support/tempdir.hpp"

namespace weir::test {
namespace {

using bridge::Container;
using bridge::Host;
using dns_fixture::Dig;
using dns_fixture::FakeUpstream;
using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;
using namespace std::chrono_literals;

// Container ids as runtimes make them: 64 hex digits, the first 12 distinct (the short id).
std::string make_id(unsigned n) {
  char buf[13];
  std::snprintf(buf, sizeof(buf), "%012llx", 0xdec0de000000ull + n);
  return std::string(buf) + std::string(52, 'a');
}

std::string short_id(const std::string& id) {
  return id.substr(0, 12);
}

class DnsAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WEIR_REQUIRE_ROOT();
    if (::access("/usr/bin/dig", X_OK) != 0) GTEST_SKIP() << "dig missing (Debian: bind9-dnsutils)";
    host_.emplace();
    host_->exec("ip link set lo up");
  }
  void TearDown() override {
    if (!host_) return;
    if (HasFailure()) std::cerr << "agent.log:\n" << dns_fixture::agent_log(dir());
    dns_fixture::expect_no_agent_left(dir(), !HasFailure());
  }

  const std::string& dir() const { return host_->data_dir(); }

  // A network with the embedded DNS on; `extra` is merged into the plugin config.
  json conf(const std::string& network, const std::string& bridge,
            const std::vector<std::string>& subnets, const json& extra = json::object()) const {
    json c = bridge::bridge_conf(*host_, network, bridge, subnets);
    c["isGateway"] = true;
    c["embeddedDNS"] = true;
    c.update(extra);
    return c;
  }

  Container& container() {
    ctrs_.emplace_back(make_id(static_cast<unsigned>(ctrs_.size())));
    return ctrs_.back();
  }

  test::Run plugin(const std::string& verb, const Container& c, const json& conf,
                   const std::string& name, const std::string& ifname) const {
    std::map<std::string, std::string> env;
    if (!name.empty()) env["CNI_ARGS"] = "IgnoreUnknown=1;K8S_POD_NAME=" + name;
    return host_->plugin(verb, c.path(), c.id, conf, env, ifname);
  }

  // ADD; returns the container's first address of `family` on that interface ("" and a failure
  // when ADD failed).
  std::string add(const Container& c, const json& conf, const std::string& name = "",
                  const std::string& ifname = "eth0", int family = 4) {
    auto r = plugin("ADD", c, conf, name, ifname);
    if (r.exit_code != 0) {
      ADD_FAILURE() << "ADD " << c.id << " " << ifname << ": " << r.out << r.err;
      return "";
    }
    last_ = r.json();
    for (const auto& ip : last_["ips"]) {
      std::string a = ip["address"];
      if ((a.find(':') != std::string::npos) == (family == 6)) return a.substr(0, a.find('/'));
    }
    ADD_FAILURE() << "no IPv" << family << " address: " << r.out;
    return "";
  }
  void del(const Container& c, const json& conf, const std::string& ifname = "eth0") {
    auto r = plugin("DEL", c, conf, "", ifname);
    EXPECT_EQ(r.exit_code, 0) << "DEL " << c.id << ": " << r.out << r.err;
  }

  Dig dig(const Container& from, const std::string& server, const std::string& query,
          int timeout_s = 6) const {
    return dns_fixture::dig(from.ns.name(), server, query, timeout_s);
  }

  std::optional<pid_t> agent() const { return agent::running_agent(dir()); }

  // The host's "outside" netns (192.0.2.2, the host 192.0.2.1) with more addresses on it.
  const TestNetns& outside(const std::vector<std::string>& more = {}) {
    const TestNetns& o = host_->outside();
    for (const auto& a : more) sh("ip -n " + o.name() + " addr add " + a + "/24 dev wout");
    return o;
  }

  std::optional<Host> host_;
  std::deque<Container> ctrs_;
  json last_;  // the last ADD's result
};

// ---- Names, aliases, scopes

TEST_F(DnsAgentTest, NamesAndAliasesResolveFromTheirNetworksOnly) {
  FakeUpstream up(outside().path(), "192.0.2.2");
  const json servers = {{"dnsServers", {"192.0.2.2"}}};
  json front = conf("front", "wfront", {"10.91.1.0/24"}, servers);
  json back = conf("back", "wback", {"10.91.2.0/24"}, servers);
  // podman's form of aliases ({"<network>": [...]}); a plain list works too (NameSources).
  auto with_alias = [](json c, const std::string& alias) {
    c["runtimeConfig"] = {{"aliases", {{c["name"].get<std::string>(), {alias}}}}};
    return c;
  };
  Container& f1 = container();
  Container& f2 = container();
  Container& b1 = container();
  Container& fb = container();
  const std::string ip_f1 = add(f1, with_alias(front, "db"), "web");
  const std::string ip_f2 = add(f2, with_alias(front, "db"), "api");
  const std::string ip_b1 = add(b1, with_alias(back, "db"), "store");
  const std::string ip_fb_front = add(fb, front, "both", "eth0");
  const std::string ip_fb_back = add(fb, back, "both", "eth1");
  ASSERT_FALSE(ip_f1.empty() || ip_f2.empty() || ip_b1.empty() || ip_fb_front.empty() ||
               ip_fb_back.empty());
  const std::string gw_front = "10.91.1.1", gw_back = "10.91.2.1";

  // A container on front: its network's names, case-insensitive, bare or under the network.
  EXPECT_THAT(dig(f1, gw_front, "web").records, ElementsAre(ip_f1));
  EXPECT_THAT(dig(f1, gw_front, "WeB").records, ElementsAre(ip_f1));
  EXPECT_THAT(dig(f1, gw_front, "web.front").records, ElementsAre(ip_f1));
  EXPECT_THAT(dig(f1, gw_front, "API.Front.").records, ElementsAre(ip_f2));
  EXPECT_THAT(dig(f1, gw_front, short_id(f2.id)).records, ElementsAre(ip_f2));
  EXPECT_THAT(dig(f1, gw_front, short_id(f2.id) + ".front").records, ElementsAre(ip_f2));
  EXPECT_THAT(dig(f1, gw_front, "db").set(), UnorderedElementsAre(ip_f1, ip_f2));
  EXPECT_THAT(dig(f1, gw_front, "both").records, ElementsAre(ip_fb_front));
  // back's names do not exist for it: under back's domain NXDOMAIN (never forwarded); a bare
  // name of back is not weir's to answer here, so it goes upstream like any unknown name.
  Dig store_back = dig(f1, gw_front, "store.back");
  EXPECT_EQ(store_back.status, "NXDOMAIN") << store_back;
  EXPECT_TRUE(store_back.records.empty());
  EXPECT_FALSE(up.asked("store.back"));
  Dig bare = dig(f1, gw_front, "store");
  EXPECT_EQ(bare.status, "NXDOMAIN") << bare;  // the upstream's answer
  EXPECT_TRUE(bare.records.empty());
  EXPECT_TRUE(up.asked("store"));
  EXPECT_EQ(dig(f1, gw_front, short_id(b1.id) + ".back").status, "NXDOMAIN");

  // A container on back sees back's names and nothing of front.
  EXPECT_THAT(dig(b1, gw_back, "store").records, ElementsAre(ip_b1));
  EXPECT_THAT(dig(b1, gw_back, "db").records, ElementsAre(ip_b1));
  EXPECT_THAT(dig(b1, gw_back, "both.back").records, ElementsAre(ip_fb_back));
  EXPECT_EQ(dig(b1, gw_back, "web.front").status, "NXDOMAIN");
  EXPECT_TRUE(dig(b1, gw_back, "web").records.empty());

  // A container on both networks sees both, whichever gateway it asks.
  EXPECT_THAT(dig(fb, gw_front, "store").records, ElementsAre(ip_b1));
  EXPECT_THAT(dig(fb, gw_back, "web").records, ElementsAre(ip_f1));
  EXPECT_THAT(dig(fb, gw_front, "db").set(), UnorderedElementsAre(ip_f1, ip_f2, ip_b1));
  EXPECT_THAT(dig(fb, gw_front, "both").set(), UnorderedElementsAre(ip_fb_front, ip_fb_back));

  // PTR: the name under the network; an address of a subnet out of scope is NXDOMAIN, and no
  // reverse name of a weir subnet is ever forwarded.
  EXPECT_THAT(dig(f1, gw_front, "-x " + ip_f2).records, ElementsAre("api.front."));
  EXPECT_THAT(dig(f1, gw_front, "-x " + ip_fb_front).records, ElementsAre("both.front."));
  EXPECT_EQ(dig(f1, gw_front, "-x " + ip_b1).status, "NXDOMAIN");
  EXPECT_THAT(dig(b1, gw_back, "-x " + ip_b1).records, ElementsAre("store.back."));
  for (const auto& q : up.queries()) EXPECT_THAT(q, Not(HasSubstr("in-addr.arpa")));

  for (Container* c : {&f1, &f2}) del(*c, front);
  del(b1, back);
  del(fb, front, "eth0");
  del(fb, back, "eth1");
  EXPECT_TRUE(dns_fixture::agent_gone(dir(), 3s));
}

TEST_F(DnsAgentTest, AnswersAaaaAndPtrOverBothFamilies) {
  json c = conf("dual", "wdual", {"10.91.3.0/24", "fd91:3::/64"});
  Container& a = container();
  Container& b = container();
  const std::string a4 = add(a, c, "alpha");
  ASSERT_FALSE(a4.empty());
  std::string alpha6;
  for (const auto& ip : last_["ips"]) {
    std::string s = ip["address"];
    if (s.find(':') != std::string::npos) alpha6 = s.substr(0, s.find('/'));
  }
  ASSERT_FALSE(alpha6.empty()) << last_.dump();
  ASSERT_FALSE(add(b, c, "beta").empty());
  // Both gateways are resolvers, and the result says so.
  EXPECT_THAT(last_["dns"]["nameservers"], ElementsAre("10.91.3.1", "fd91:3::1"));

  EXPECT_THAT(dig(b, "10.91.3.1", "alpha AAAA").records, ElementsAre(alpha6));
  EXPECT_THAT(dig(b, "fd91:3::1", "alpha AAAA").records, ElementsAre(alpha6));
  EXPECT_THAT(dig(b, "fd91:3::1", "alpha.dual A").records, ElementsAre(a4));
  EXPECT_THAT(dig(b, "fd91:3::1", "-x " + alpha6).records, ElementsAre("alpha.dual."));
  EXPECT_THAT(dig(b, "10.91.3.1", "-x " + a4).records, ElementsAre("alpha.dual."));
  EXPECT_THAT(dig(b, "10.91.3.1", "+tcp alpha").records, ElementsAre(a4));

  del(a, c);
  del(b, c);
}

TEST_F(DnsAgentTest, SharedAliasAnswersEveryAddressRotated) {
  json c = conf("pool", "wpool", {"10.91.4.0/24"});
  c["runtimeConfig"] = {{"aliases", {{"pool", {"cache"}}}}};
  std::set<std::string> ips;
  for (int i = 0; i < 3; ++i) {
    Container& r = container();
    const std::string ip = add(r, c, "replica" + std::to_string(i));
    ASSERT_FALSE(ip.empty());
    ips.insert(ip);
  }
  Container& client = container();
  ASSERT_FALSE(add(client, conf("pool", "wpool", {"10.91.4.0/24"}), "client").empty());
  std::set<std::string> firsts;
  for (int i = 0; i < 3; ++i) {
    Dig d = dig(client, "10.91.4.1", "cache");
    ASSERT_EQ(d.records.size(), 3u) << d;
    EXPECT_EQ(d.set(), ips);
    firsts.insert(d.records.front());
  }
  EXPECT_EQ(firsts, ips) << "each of 3 replies leads with another address";
  for (auto& r : ctrs_) del(r, c);
}

TEST_F(DnsAgentTest, NameSources) {
  json base = conf("names", "wnames", {"10.91.5.0/24"});
  Container& k8s = container();
  Container& args_cni = container();
  Container& args_plain = container();
  Container& list_alias = container();
  Container& anon = container();
  const std::string ip_k8s = add(k8s, base, "podname");
  json c1 = base;
  c1["args"] = {{"cni", {{"name", "cniargs"}}}};
  const std::string ip_cni = add(args_cni, c1);
  json c2 = base;
  c2["args"] = {{"name", "plainargs"}};
  const std::string ip_plain = add(args_plain, c2);
  json c3 = base;
  c3["runtimeConfig"] = {{"aliases", {"listed", "Other-Name"}}};
  const std::string ip_list = add(list_alias, c3, "withlist");
  const std::string ip_anon = add(anon, base);
  ASSERT_FALSE(ip_k8s.empty() || ip_cni.empty() || ip_plain.empty() || ip_list.empty() ||
               ip_anon.empty());
  // The result points the container at the agent, with the network as its search domain.
  EXPECT_THAT(last_["dns"]["nameservers"], ElementsAre("10.91.5.1"));
  EXPECT_THAT(last_["dns"]["search"], ElementsAre("names"));

  EXPECT_THAT(dig(anon, "10.91.5.1", "podname").records, ElementsAre(ip_k8s));
  EXPECT_THAT(dig(anon, "10.91.5.1", "cniargs").records, ElementsAre(ip_cni));
  EXPECT_THAT(dig(anon, "10.91.5.1", "plainargs").records, ElementsAre(ip_plain));
  EXPECT_THAT(dig(anon, "10.91.5.1", "listed").records, ElementsAre(ip_list));
  EXPECT_THAT(dig(anon, "10.91.5.1", "other-name.names").records, ElementsAre(ip_list));
  // Without a name, the short id is the name, and the PTR target.
  EXPECT_THAT(dig(k8s, "10.91.5.1", short_id(anon.id)).records, ElementsAre(ip_anon));
  EXPECT_THAT(dig(k8s, "10.91.5.1", "-x " + ip_anon).records,
              ElementsAre(short_id(anon.id) + ".names."));
  // With one, the PTR is the name only.
  EXPECT_THAT(dig(anon, "10.91.5.1", "-x " + ip_k8s).records, ElementsAre("podname.names."));

  del(k8s, base);
  del(args_cni, c1);
  del(args_plain, c2);
  del(list_alias, c3);
  del(anon, base);
}

// ---- The name is live when ADD returns, and gone when DEL returns

TEST_F(DnsAgentTest, NameResolvesAsSoonAsAddReturns) {
  json c = conf("live", "wlive", {"10.91.6.0/24"});
  Container& asker = container();
  ASSERT_FALSE(add(asker, c, "asker").empty());
  for (int i = 0; i < 6; ++i) {
    Container& n = container();
    const std::string name = "new" + std::to_string(i);
    const std::string ip = add(n, c, name);
    ASSERT_FALSE(ip.empty());
    // No wait, no retry: the first query after ADD is answered.
    Dig d = dig(asker, "10.91.6.1", name);
    EXPECT_EQ(d.status, "NOERROR") << d;
    EXPECT_THAT(d.records, ElementsAre(ip)) << d;
  }
  for (auto& n : ctrs_) del(n, c);
}

TEST_F(DnsAgentTest, DelThenQueryIsNxdomain) {
  FakeUpstream up(outside().path(), "192.0.2.2");
  json c = conf("gone", "wgone", {"10.91.7.0/24"}, {{"dnsServers", {"192.0.2.2"}}});
  Container& a = container();
  Container& b = container();
  ASSERT_FALSE(add(a, c, "stays").empty());
  const std::string ip_b = add(b, c, "leaves");
  ASSERT_FALSE(ip_b.empty());
  ASSERT_THAT(dig(a, "10.91.7.1", "leaves").records, ElementsAre(ip_b));
  const pid_t pid = agent().value_or(0);

  del(b, c);
  for (const std::string& q : std::vector<std::string>{"leaves.gone", "LEAVES.GONE",
                                                       short_id(b.id) + ".gone", "-x " + ip_b}) {
    Dig d = dig(a, "10.91.7.1", q);
    EXPECT_EQ(d.status, "NXDOMAIN") << q << ": " << d;
    EXPECT_TRUE(d.records.empty()) << q;
  }
  // The bare name is no longer weir's: it is forwarded, and the upstream does not know it.
  Dig bare = dig(a, "10.91.7.1", "leaves");
  EXPECT_EQ(bare.status, "NXDOMAIN") << bare;
  EXPECT_TRUE(up.asked("leaves"));
  EXPECT_FALSE(up.asked("leaves.gone"));
  EXPECT_EQ(agent().value_or(-1), pid) << "the same agent serves on";

  del(a, c);
  // A second DEL is success, and starts no agent.
  del(a, c);
  EXPECT_TRUE(dns_fixture::agent_gone(dir(), 3s));
}

// ---- Forwarding

TEST_F(DnsAgentTest, ForwardsOtherNamesToTheNetworksServers) {
  FakeUpstream up(outside().path(), "192.0.2.2");
  up.answer("www.example.test", "198.51.100.7");
  up.answer("printer", "198.51.100.9");
  json c = conf("fwd", "wfwd", {"10.91.8.0/24"}, {{"dnsServers", {"192.0.2.2"}}});
  Container& a = container();
  ASSERT_FALSE(add(a, c, "asker").empty());

  Dig d = dig(a, "10.91.8.1", "www.example.test");
  EXPECT_EQ(d.status, "NOERROR") << d;
  EXPECT_THAT(d.records, ElementsAre("198.51.100.7"));
  EXPECT_TRUE(up.asked("www.example.test"));
  Dig nx = dig(a, "10.91.8.1", "nosuch.example.test");
  EXPECT_EQ(nx.status, "NXDOMAIN") << nx;
  EXPECT_TRUE(up.asked("nosuch.example.test"));
  // A single-label name weir does not know is forwarded, as Docker does (a LAN's dnsmasq
  // answers its hosts' bare names).
  EXPECT_THAT(dig(a, "10.91.8.1", "printer").records, ElementsAre("198.51.100.9"));
  EXPECT_TRUE(up.asked("printer"));
  // weir's own names and domains never go upstream.
  EXPECT_EQ(dig(a, "10.91.8.1", "nosuch.fwd").status, "NXDOMAIN");
  EXPECT_EQ(dig(a, "10.91.8.1", "-x 10.91.8.200").status, "NXDOMAIN");
  EXPECT_THAT(dig(a, "10.91.8.1", "asker").records, Not(::testing::IsEmpty()));
  EXPECT_FALSE(up.asked("nosuch.fwd"));
  EXPECT_FALSE(up.asked("asker"));
  EXPECT_FALSE(up.asked("200.8.91.10.in-addr.arpa"));
  del(a, c);
}

TEST_F(DnsAgentTest, ForwardsToTheFirstThreeHostResolvers) {
  // resolv.conf of the host as the agent sees it (the plugin, and so the agent it starts, runs
  // in a mount namespace where the test's file is /etc/resolv.conf). .3 and .4 have no server
  // (port unreachable: the next one is asked at once), .5 answers, .6 is the fourth: never used.
  const TestNetns& o = outside({"192.0.2.3", "192.0.2.4", "192.0.2.5", "192.0.2.6"});
  FakeUpstream fifth(o.path(), "192.0.2.5");
  FakeUpstream sixth(o.path(), "192.0.2.6");
  fifth.answer("www.example.test", "198.51.100.5");
  sixth.answer("www.example.test", "198.51.100.6");
  const std::string resolv = dir() + "/resolv.conf";
  std::ofstream(resolv) << "# the test's host\nsearch example.test\nnameserver 192.0.2.3\n"
                           "nameserver 192.0.2.4\nnameserver 192.0.2.5\nnameserver 192.0.2.6\n";

  json c = conf("hostfwd", "whost", {"10.91.9.0/24"});
  Container& a = container();
  auto env = cni_env("ADD", a.path(), a.id, "eth0");
  env["CNI_PATH"] = WEIR_BIN_DIR;
  std::vector<std::string> args = {"--mount",
                                   "--propagation",
                                   "private",
                                   "/bin/sh",
                                   "-c",
                                   "mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"",
                                   resolv,
                                   bridge::kNsenter,
                                   "--net=" + host_->path(),
                                   "/usr/bin/env",
                                   "-i",
                                   "PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  for (const auto& [k, v] : env) args.push_back(k + "=" + v);
  args.push_back(bin("weir-bridge"));
  test::Run r = run_cmd("/usr/bin/unshare", args, {}, c.dump());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  Dig d = dig(a, "10.91.9.1", "www.example.test");
  EXPECT_EQ(d.status, "NOERROR") << d;
  EXPECT_THAT(d.records, ElementsAre("198.51.100.5"));
  EXPECT_LT(d.seconds, 1.5) << "unreachable upstreams are passed over at once";
  EXPECT_TRUE(fifth.asked("www.example.test"));
  EXPECT_TRUE(sixth.queries().empty()) << "the fourth nameserver is never asked";
  del(a, c);
}

TEST_F(DnsAgentTest, UpstreamDownIsServfailWithinTheBound) {
  const TestNetns& o = outside({"192.0.2.3"});
  json c = conf("down", "wdown", {"10.91.10.0/24"}, {{"dnsServers", {"192.0.2.2", "192.0.2.3"}}});
  Container& a = container();
  ASSERT_FALSE(add(a, c, "asker").empty());
  {
    // Both upstreams take the query and never answer: SERVFAIL once the bound (2.5 s for a
    // query in all) has passed, not dig's own timeout.
    FakeUpstream silent1(o.path(), "192.0.2.2", FakeUpstream::Mode::kSilent);
    FakeUpstream silent2(o.path(), "192.0.2.3", FakeUpstream::Mode::kSilent);
    Dig d = dig(a, "10.91.10.1", "www.example.test", 10);
    EXPECT_EQ(d.status, "SERVFAIL") << d;
    EXPECT_GT(d.seconds, 1.5) << d;
    EXPECT_LT(d.seconds, 4.0) << d;
    EXPECT_TRUE(silent1.asked("www.example.test"));
    EXPECT_TRUE(silent2.asked("www.example.test")) << "the second is tried before the bound";
  }
  // Nothing listens any more: the upstreams refuse (ICMP), SERVFAIL at once.
  Dig d = dig(a, "10.91.10.1", "www.example.test", 10);
  EXPECT_EQ(d.status, "SERVFAIL") << d;
  EXPECT_LT(d.seconds, 1.5) << d;
  // weir's names are answered all the same.
  EXPECT_THAT(dig(a, "10.91.10.1", "asker").records, Not(::testing::IsEmpty()));
  del(a, c);
}

// ---- The agent's life cycle

TEST_F(DnsAgentTest, StartedByTheFirstAddExitsWhenIdle) {
  const auto p = agent::paths_for(dir());
  // A network without DNS starts one too, in the background: it runs weir-bridge's ADDs and
  // DELs that follow on the store it keeps open (plugins/front/front.cpp).
  json plain = bridge::bridge_conf(*host_, "plain", "wplain", {"10.91.11.0/24"});
  Container& n = container();
  ASSERT_EQ(host_->add(n, plain).exit_code, 0);
  ASSERT_TRUE(dns_fixture::wait_until([&] { return agent().has_value(); }, 3s))
      << "a weir-bridge ADD starts the agent";
  const auto pid = agent();

  json c = conf("cycle", "wcycle", {"10.91.12.0/24"});
  Container& a = container();
  Container& b = container();
  ASSERT_FALSE(add(a, c, "first").empty());
  EXPECT_EQ(agent(), pid) << "the first ADD of a DNS network uses it";
  EXPECT_EQ(dns_fixture::agent_processes(dir()), std::vector<pid_t>{*pid});
  EXPECT_TRUE(std::filesystem::exists(p.socket));
  ASSERT_FALSE(add(b, c, "second").empty());
  EXPECT_EQ(agent(), pid) << "the second ADD uses it";
  del(a, c);
  EXPECT_EQ(agent(), pid) << "a DNS network is left";
  EXPECT_FALSE(dig(b, "10.91.12.1", "second").records.empty());
  del(b, c);
  EXPECT_EQ(agent(), pid) << "no DNS network is left, but a container is, whose DEL it runs";
  EXPECT_EQ(host_->del(n, plain).exit_code, 0);
  EXPECT_TRUE(dns_fixture::agent_gone(dir(), 2s)) << "the last DEL leaves it idle: it exits";
  EXPECT_FALSE(std::filesystem::exists(p.socket));
  EXPECT_THAT(dns_fixture::agent_log(dir()), HasSubstr("exiting"));
}

TEST_F(DnsAgentTest, OneAgentAfter32ParallelAdds) {
  constexpr int kN = 32;
  json c = conf("many", "wmany", {"10.91.16.0/24"});
  for (int i = 0; i < kN; ++i) container();
  std::vector<test::Run> runs(kN);
  std::vector<std::thread> threads;
  for (int i = 0; i < kN; ++i) {
    threads.emplace_back(
        [&, i] { runs[i] = plugin("ADD", ctrs_[i], c, "p" + std::to_string(i), "eth0"); });
  }
  for (auto& t : threads) t.join();
  std::map<std::string, std::string> ips;
  for (int i = 0; i < kN; ++i) {
    ASSERT_EQ(runs[i].exit_code, 0) << i << ": " << runs[i].out << runs[i].err;
    std::string a = runs[i].json()["ips"][0]["address"];
    ips["p" + std::to_string(i)] = a.substr(0, a.find('/'));
  }
  const auto procs = dns_fixture::agent_processes(dir());
  EXPECT_EQ(procs.size(), 1u) << "one weir-agent, whatever the race";
  EXPECT_EQ(agent(), procs.empty() ? std::nullopt : std::optional<pid_t>(procs.front()));
  for (const auto& [name, ip] : ips) {
    EXPECT_THAT(dig(ctrs_[0], "10.91.16.1", name).records, ElementsAre(ip)) << name;
  }

  threads.clear();
  for (int i = 0; i < kN; ++i) {
    threads.emplace_back([&, i] { runs[i] = plugin("DEL", ctrs_[i], c, "", "eth0"); });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kN; ++i)
    EXPECT_EQ(runs[i].exit_code, 0) << i << ": " << runs[i].out << runs[i].err;
  EXPECT_TRUE(dns_fixture::agent_gone(dir(), 3s));
}

// The last DEL makes the agent exit while an ADD comes in: the ADD must get a live agent (the
// exiting one, or a fresh one) and its name must resolve.
TEST_F(DnsAgentTest, AddRacingTheLastDelStillResolves) {
  json c = conf("race", "wrace", {"10.91.17.0/24"});
  Container& a = container();
  Container& b = container();
  for (int round = 0; round < 8; ++round) {
    ASSERT_FALSE(add(a, c, "a").empty());
    test::Run del_a, add_b;
    std::thread t1([&] { del_a = plugin("DEL", a, c, "", "eth0"); });
    std::thread t2([&] { add_b = plugin("ADD", b, c, "b", "eth0"); });
    t1.join();
    t2.join();
    ASSERT_EQ(del_a.exit_code, 0) << del_a.out << del_a.err;
    ASSERT_EQ(add_b.exit_code, 0) << "round " << round << ": " << add_b.out << add_b.err;
    std::string ip = add_b.json()["ips"][0]["address"];
    Dig d = dig(b, "10.91.17.1", "b");
    EXPECT_THAT(d.records, ElementsAre(ip.substr(0, ip.find('/'))))
        << "round " << round << ": " << d;
    // The agent that exited may linger a moment after its successor took over.
    EXPECT_TRUE(dns_fixture::wait_until(
        [&] { return dns_fixture::agent_processes(dir()).size() == 1; }, 2s));
    del(b, c);
    ASSERT_TRUE(dns_fixture::agent_gone(dir(), 3s));
  }
}

TEST_F(DnsAgentTest, RestartedAfterSigkillServesEveryRecord) {
  json c = conf("phoenix", "wphx", {"10.91.18.0/24"});
  Container& a = container();
  Container& b = container();
  Container& gone = container();
  const std::string ip_a = add(a, c, "alpha");
  const std::string ip_b = add(b, c, "bravo");
  ASSERT_FALSE(add(gone, c, "charlie").empty());
  ASSERT_FALSE(ip_a.empty() || ip_b.empty());
  const auto pid = agent();
  ASSERT_TRUE(pid);
  ASSERT_EQ(::kill(*pid, SIGKILL), 0);
  ASSERT_TRUE(dns_fixture::agent_gone(dir(), 3s));
  EXPECT_EQ(dig(a, "10.91.18.1", "bravo", 1).status, "") << "nothing serves now";

  // DEL without an agent: success, and no agent is started for it (the stale socket is there).
  del(gone, c);
  EXPECT_FALSE(agent());
  // The next ADD starts a new one, which serves every record of the store again.
  Container& d = container();
  const std::string ip_d = add(d, c, "delta");
  ASSERT_FALSE(ip_d.empty());
  const auto again = agent();
  ASSERT_TRUE(again);
  EXPECT_NE(*again, *pid);
  EXPECT_THAT(dig(a, "10.91.18.1", "bravo").records, ElementsAre(ip_b));
  EXPECT_THAT(dig(b, "10.91.18.1", "alpha.phoenix").records, ElementsAre(ip_a));
  EXPECT_THAT(dig(a, "10.91.18.1", "delta").records, ElementsAre(ip_d));
  EXPECT_THAT(dig(a, "10.91.18.1", "-x " + ip_b).records, ElementsAre("bravo.phoenix."));
  EXPECT_EQ(dig(a, "10.91.18.1", "charlie.phoenix").status, "NXDOMAIN");
  for (Container* x : {&a, &b, &d}) del(*x, c);
}

// ---- weirctl sees what the agent serves

TEST_F(DnsAgentTest, WeirctlQueryAgreesWithTheAgent) {
  json front = conf("front", "wfront", {"10.91.19.0/24"});
  json back = conf("back", "wback", {"10.91.20.0/24"});
  Container& f = container();
  Container& b = container();
  const std::string ip_f = add(f, front, "web");
  const std::string ip_b = add(b, back, "store");
  ASSERT_FALSE(ip_f.empty() || ip_b.empty());
  auto ctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--json", "dns"});
    args.push_back("--data-dir=" + dir());
    return run_cmd("weirctl", args);
  };
  test::Run q = ctl({"query", "web", "--from", f.id});
  ASSERT_EQ(q.exit_code, 0) << q.out << q.err;
  EXPECT_EQ(q.json()["lookups"][0]["answers"], json::array({ip_f}));
  EXPECT_THAT(dig(f, "10.91.19.1", "web").records, ElementsAre(ip_f));
  test::Run cross = ctl({"query", "store.back", "--from", "web"});
  ASSERT_EQ(cross.exit_code, 0) << cross.out << cross.err;
  EXPECT_EQ(cross.json()["lookups"][0]["result"], "nxdomain");
  EXPECT_EQ(dig(f, "10.91.19.1", "store.back").status, "NXDOMAIN");
  test::Run ls = ctl({"ls"});
  ASSERT_EQ(ls.exit_code, 0) << ls.out << ls.err;
  EXPECT_EQ(ls.json()["networks"].size(), 2u);
  del(f, front);
  del(b, back);
}

TEST_F(DnsAgentTest, BadDnsServersIsInvalidConfig) {
  Container& a = container();
  json c = conf("bad", "wbad", {"10.91.21.0/24"}, {{"dnsServers", {"192.0.2.2", "not-an-ip"}}});
  test::Run r = plugin("ADD", a, c, "x", "eth0");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.json()["code"], 7) << r.out;
  EXPECT_THAT(r.out, HasSubstr("dnsServers[1]"));
  EXPECT_FALSE(agent());
}

// ---- The plugins' side of the agent, at its edges

// A sync that reaches an agent in the instant it exits (its last network just went) gets its
// connection reset: that is no error, but an agent to start. Stressed with the client API
// directly: four "plugins" ADD and DEL their own endpoint in a loop, so the store is often
// empty and the agent often exiting as another one syncs. Every sync must succeed. The
// endpoints have no resolver address, so the agent binds no DNS socket (no netns needed).
TEST(AgentClient, SyncMeetingAnExitingAgentStartsAFreshOne) {
  TempDir tmp("weir-agent-race");
  const agent::SyncRequest add{.data_dir = tmp.path(), .agent_binary = bin("weir-agent")};
  agent::SyncRequest del = add;
  del.start = false;
  std::atomic<int> syncs{0};
  std::mutex mu;
  std::vector<std::string> errors;
  std::vector<std::thread> plugins;
  for (int p = 0; p < 4; ++p) {
    plugins.emplace_back([&, p] {
      auto db = store::SqliteStore::open(store::database_path(tmp.path()));
      if (!db) {
        std::lock_guard l(mu);
        errors.push_back(db.error().msg);
        return;
      }
      const store::Endpoint ep{.network = "race",
                               .container_id = "ctr" + std::to_string(p),
                               .ifname = "eth0",
                               .ips = {*net::Cidr::parse("10.99.0.2/24")},
                               .extra = R"({"embeddedDNS":true})"};
      for (int round = 0; round < 25; ++round) {
        Expected<void> ok = db->transact([&](store::Txn& t) { return t.put_endpoint(ep); });
        if (ok) ok = agent::sync_agent(add);
        if (ok)
          ok = db->transact(
              [&](store::Txn& t) { return t.del_endpoint("race", ep.container_id, "eth0"); });
        if (ok) ok = agent::sync_agent(del);
        ++syncs;
        if (!ok) {
          std::lock_guard l(mu);
          errors.push_back("plugin " + std::to_string(p) + " round " + std::to_string(round) +
                           ": " + ok.error().msg);
        }
      }
    });
  }
  for (auto& t : plugins) t.join();
  EXPECT_THAT(errors, ::testing::IsEmpty()) << dns_fixture::agent_log(tmp.path());
  EXPECT_EQ(syncs, 100);
  EXPECT_TRUE(dns_fixture::agent_gone(tmp.path(), 3s)) << "the last DEL leaves none";
  dns_fixture::expect_no_agent_left(tmp.path());
}

// The agent's error reaches the plugin with the agent's CNI code (an agent of an older build,
// without a code, is an I/O failure).
TEST(AgentClient, AgentErrorsKeepTheirCode) {
  TempDir tmp("weir-agent-code");
  const std::string path = tmp.path() + "/agent.sock";
  for (auto [reply, code, msg] : {std::tuple{"error 102 store: disk full\n", 102, "store: disk full"},
                                  std::tuple{"error no code here\n", 5, "no code here"}}) {
    ::unlink(path.c_str());
    const int srv = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(srv, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path.c_str());
    ASSERT_EQ(::bind(srv, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    ASSERT_EQ(::listen(srv, 1), 0);
    std::thread fake([srv, reply = std::string(reply)] {
      const int c = ::accept(srv, nullptr, nullptr);
      char buf[64];
      (void)::read(c, buf, sizeof(buf));
      (void)::write(c, reply.data(), reply.size());
      ::close(c);
    });
    auto ok = agent::sync_agent({.data_dir = tmp.path(), .start = false});
    fake.join();
    ::close(srv);
    ASSERT_FALSE(ok);
    EXPECT_EQ(static_cast<int>(ok.error().code), code);
    EXPECT_THAT(ok.error().msg, ::testing::HasSubstr(msg));
  }
}

// ---- conf/weir-agent.service

// The unit as a host installs it: ExecStart runs weir-agent from the plugin folder with --stay,
// and an agent started that way stays up without any DNS network (a plugin-started one exits).
TEST(WeirAgentUnit, SystemdUnitRunsAnAgentThatStays) {
  std::ifstream in(std::string(WEIR_SOURCE_DIR) + "/conf/weir-agent.service");
  ASSERT_TRUE(in) << "conf/weir-agent.service";
  std::map<std::string, std::string> keys;
  std::set<std::string> sections;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '[') sections.insert(line);
    const size_t eq = line.find('=');
    if (eq != std::string::npos) keys[line.substr(0, eq)] = line.substr(eq + 1);
  }
  EXPECT_THAT(sections, ::testing::Contains("[Service]"));
  EXPECT_THAT(sections, ::testing::Contains("[Install]"));
  EXPECT_EQ(keys["Restart"], "on-failure");
  std::istringstream exec(keys["ExecStart"]);
  std::vector<std::string> argv{std::istream_iterator<std::string>(exec), {}};
  ASSERT_GE(argv.size(), 2u) << keys["ExecStart"];
  EXPECT_EQ(argv[0], "/usr/lib/cni/weir-agent");  // as installed (multicall/install.cmake)
  EXPECT_THAT(argv, ::testing::Contains("--stay"));

  // systemd's own check, when it is installed, with the built binary in ExecStart.
  TempDir tmp("weir-unit");
  if (::access("/usr/bin/systemd-analyze", X_OK) == 0) {
    std::ifstream src(std::string(WEIR_SOURCE_DIR) + "/conf/weir-agent.service");
    std::string unit(std::istreambuf_iterator<char>(src), {});
    unit.replace(unit.find(argv[0]), argv[0].size(), bin("weir-agent"));
    std::ofstream(tmp / "weir-agent.service") << unit;
    int rc = -1;
    std::string out =
        sh("/usr/bin/systemd-analyze verify " + (tmp / "weir-agent.service") + " 2>&1", &rc);
    EXPECT_EQ(rc, 0) << out;
  }

  // Run the ExecStart arguments (the test's data dir added) in a netns of its own: the flags
  // parse, and the agent stays, serves a network that is there from the start, takes SIGHUP
  // (systemctl reload) as a sync, and SIGTERM as a clean exit.
  WEIR_REQUIRE_ROOT();
  const std::string data = tmp / "data";
  std::filesystem::create_directories(data);
  auto db = store::SqliteStore::open(store::database_path(data));
  ASSERT_TRUE(db) << db.error().msg;
  const store::Endpoint ep{.network = "early",
                           .container_id = make_id(1),
                           .ifname = "eth0",
                           .ips = {*net::Cidr::parse("10.99.0.2/24")},
                           .extra = R"({"embeddedDNS":true,"dnsListen":["127.0.0.1"]})"};
  ASSERT_TRUE(db->transact([&](store::Txn& t) { return t.put_endpoint(ep); }));
  std::vector<std::string> args(argv.begin() + 1, argv.end());
  args.push_back("--data-dir=" + data);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string binary = bin("weir-agent");
    std::vector<char*> cargv{const_cast<char*>(binary.c_str())};
    for (auto& a : args) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    const int log = ::open((tmp / "agent.err").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ::dup2(log, 2);
    if (::unshare(CLONE_NEWNET) != 0) ::_exit(126);
    ::execv(binary.c_str(), cargv.data());
    ::_exit(127);
  }
  auto err_log = [&] { return bridge::read_file(tmp / "agent.err"); };
  ASSERT_TRUE(dns_fixture::wait_until(
      [&] { return std::filesystem::exists(agent::paths_for(data).socket); }, 5s))
      << err_log();
  EXPECT_EQ(agent::running_agent(data), pid);
  // Its DNS workers run from the start: the reload must reach the agent's loop, not kill it.
  ASSERT_EQ(::kill(pid, SIGHUP), 0);
  std::this_thread::sleep_for(300ms);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, WNOHANG), 0) << "SIGHUP killed the agent: " << status;
  // The last network goes: an on-demand agent would exit now.
  ASSERT_TRUE(db->transact(
      [&](store::Txn& t) { return t.del_endpoint("early", ep.container_id, "eth0"); }));
  // From the agent's netns, as a plugin on that host would (an agent refuses syncs from
  // another netns: it would bind their listeners in its own).
  auto agent_ns = netns::Handle::open("/proc/" + std::to_string(pid) + "/ns/net");
  ASSERT_TRUE(agent_ns) << agent_ns.error().msg;
  auto ok = netns::run_in(*agent_ns, [&] {
    return agent::sync_agent({.data_dir = data, .start = false});
  });
  EXPECT_TRUE(ok) << ok.error().msg;
  auto elsewhere = agent::sync_agent({.data_dir = data, .start = true});  // an ADD's sync
  ASSERT_FALSE(elsewhere);
  EXPECT_THAT(elsewhere.error().msg, HasSubstr("runs in another netns"));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(::waitpid(pid, &status, WNOHANG), 0) << "--stay: still serving";
  EXPECT_EQ(agent::running_agent(data), pid);

  // A second agent for the data dir waits a bounded while for the lock, then gives up.
  const auto t0 = dns_fixture::Clock::now();
  test::Run second = run_cmd("/usr/bin/timeout", {"20", bin("weir-agent"), "--data-dir=" + data});
  const double waited = std::chrono::duration<double>(dns_fixture::Clock::now() - t0).count();
  EXPECT_EQ(second.exit_code, 1) << second.err;
  EXPECT_THAT(second.err, HasSubstr("another weir-agent holds"));
  EXPECT_LT(waited, 10.0);
  EXPECT_EQ(agent::running_agent(data), pid);

  ::kill(pid, SIGTERM);
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << ": " << err_log();
  EXPECT_FALSE(agent::running_agent(data));
  EXPECT_FALSE(std::filesystem::exists(agent::paths_for(data).socket));
}

}  // namespace
}  // namespace weir::test

namespace weir::test {
namespace {

// A host-networked container (weir-host) is found by name from a weir network's containers,
// at its host addresses; DEL of it takes the name away at once.
TEST_F(DnsAgentTest, HostNetworkNamesResolveFromEveryDnsNetwork) {
  json c = conf("hn", "whn", {"10.91.9.0/24"});
  Container& a = container();
  ASSERT_FALSE(add(a, c, "asker").empty());
  json hostnet = {{"cniVersion", "1.0.0"}, {"name", "hostnet"}, {"type", "weir-host"},
                  {"dataDir", dir()}};
  auto up = host_->plugin("ADD", host_->path(), "hostsvc", hostnet,
                          {{"CNI_ARGS", "K8S_POD_NAME=hostsvc"}}, "eth0", "weir-host");
  ASSERT_EQ(up.exit_code, 0) << up.out << up.err;
  Dig d = dig(a, "10.91.9.1", "hostsvc.hn");
  EXPECT_EQ(d.status, "NOERROR") << d;
  EXPECT_THAT(d.records, ::testing::Contains("10.91.9.1")) << d;

  auto down = host_->plugin("DEL", host_->path(), "hostsvc", hostnet, {}, "eth0", "weir-host");
  ASSERT_EQ(down.exit_code, 0) << down.out << down.err;
  EXPECT_EQ(dig(a, "10.91.9.1", "hostsvc.hn").status, "NXDOMAIN");
  del(a, c);
  EXPECT_TRUE(dns_fixture::agent_gone(dir(), 3s));
}

}  // namespace
}  // namespace weir::test
