// weir-macvlan with embeddedDNS through the real binaries. The host cannot reach its own macvlan
// children, so weir-agent serves each container on 127.0.0.11:53 from sockets it binds inside
// the container's netns (as Docker does). The plugin runs in a test netns that plays the host,
// with a veth end as the master (macvlan_test.cpp); the agent it starts lives there too, and
// the test's data dir holds its socket, locks and log.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>

#include "tests/support/dns_fixture.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tempdir.hpp"

namespace weir::test {
namespace {

using dns_fixture::FakeUpstream;
using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using namespace std::chrono_literals;

constexpr const char* kResolver = "127.0.0.11";

struct Ctr {
  explicit Ctr(std::string id_) : ns("mvdns"), id(std::move(id_)) {}
  TestNetns ns;
  std::string id;
  std::string ip;
};

class MacvlanDnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WEIR_REQUIRE_ROOT();
    if (::access("/usr/bin/dig", X_OK) != 0) GTEST_SKIP() << "dig missing (Debian: bind9-dnsutils)";
    host_.emplace("mvdnsh");
    int rc = -1;
    sh(ip_host("link add mvm0 type veth peer name mvp0") + " && " + ip_host("link set mvm0 up") +
           " && " + ip_host("link set mvp0 up") + " && " + ip_host("link set lo up"),
       &rc);
    ASSERT_EQ(rc, 0) << "cannot make the master veth";
    sh("for i in $(seq 50); do " + ip_host("link show mvm0") +
           " | grep -q 'state UP' && exit 0; sleep 0.1; done; exit 1",
       &rc);
    ASSERT_EQ(rc, 0) << "the master has no carrier";
    conf_ = {{"cniVersion", "1.1.0"},
             {"name", "lan"},
             {"type", "weir-macvlan"},
             {"master", "mvm0"},
             {"embeddedDNS", true},
             {"ipam",
              {{"type", "weir-ipam"},
               {"ranges", {{{{"subnet", "10.89.0.0/24"}}}}},
               {"dataDir", tmp_.path()}}}};
  }
  void TearDown() override {
    if (!host_) return;
    if (HasFailure()) std::cerr << "agent.log:\n" << dns_fixture::agent_log(tmp_.path());
    dns_fixture::expect_no_agent_left(tmp_.path(), !HasFailure());
  }

  std::string ip_host(const std::string& args) const {
    return "ip -n " + host_->name() + " " + args;
  }

  Ctr& container() {
    char buf[13];
    std::snprintf(buf, sizeof(buf), "%012x", 0xfeed00 + static_cast<unsigned>(ctrs_.size()));
    ctrs_.emplace_back(std::string(buf) + std::string(52, 'b'));
    return ctrs_.back();
  }

  test::Run plugin(const std::string& verb, const Ctr& c, const std::string& name = "") const {
    auto env = cni_env(verb, c.ns.path(), c.id);
    if (!name.empty()) env["CNI_ARGS"] = "K8S_POD_NAME=" + name;
    return run_cmd("/usr/bin/nsenter", {"--net=" + host_->path(), bin("weir-macvlan")}, env,
                   conf_.dump());
  }
  // ADD; keeps the container's address, and returns the result.
  json add(Ctr& c, const std::string& name) {
    auto r = plugin("ADD", c, name);
    if (r.exit_code != 0) {
      ADD_FAILURE() << "ADD " << name << ": " << r.out << r.err;
      return nullptr;
    }
    json j = r.json();
    std::string a = j["ips"][0]["address"];
    c.ip = a.substr(0, a.find('/'));
    return j;
  }
  void del(const Ctr& c) {
    auto r = plugin("DEL", c);
    EXPECT_EQ(r.exit_code, 0) << "DEL " << c.id << ": " << r.out << r.err;
  }
  dns_fixture::Dig dig(const Ctr& from, const std::string& query, int timeout_s = 6) const {
    return dns_fixture::dig(from.ns.name(), kResolver, query, timeout_s);
  }
  // Whether something listens on 127.0.0.11:53 (UDP) in the container.
  bool resolver_bound(const Ctr& c) const {
    return sh("ip netns exec " + c.ns.name() + " ss -Hlun").find("127.0.0.11:53") !=
           std::string::npos;
  }

  TempDir tmp_{"weir-mvdns"};
  std::optional<TestNetns> host_;
  std::deque<Ctr> ctrs_;
  json conf_;
};

TEST_F(MacvlanDnsTest, ContainersResolveEachOtherOnTheirOwnLoopback) {
  FakeUpstream up(host_->path(), "127.0.0.1");
  up.answer("www.example.test", "198.51.100.7");
  conf_["dnsServers"] = {"127.0.0.1"};
  Ctr& a = container();
  Ctr& b = container();
  // The container's loopback starts down (a bare netns): ADD brings it up for the resolver.
  ASSERT_THAT(sh("ip -n " + a.ns.name() + " link show lo"), HasSubstr("DOWN"));
  json ra = add(a, "alpha");
  ASSERT_FALSE(ra.is_null());
  EXPECT_THAT(ra["dns"]["nameservers"], ElementsAre(kResolver));
  EXPECT_THAT(ra["dns"]["search"], ElementsAre("lan"));
  EXPECT_THAT(sh("ip -n " + a.ns.name() + " link show lo"), HasSubstr("UP"));
  ASSERT_FALSE(add(b, "bravo").is_null());
  EXPECT_TRUE(resolver_bound(a));
  EXPECT_TRUE(resolver_bound(b));

  // Each finds the other, and itself, as soon as ADD has returned.
  EXPECT_THAT(dig(a, "bravo").records, ElementsAre(b.ip));
  EXPECT_THAT(dig(a, "BRAVO.lan").records, ElementsAre(b.ip));
  EXPECT_THAT(dig(b, "alpha").records, ElementsAre(a.ip));
  EXPECT_THAT(dig(b, "alpha").records, ElementsAre(a.ip));
  EXPECT_THAT(dig(a, "+tcp alpha").records, ElementsAre(a.ip));
  EXPECT_THAT(dig(a, b.id.substr(0, 12)).records, ElementsAre(b.ip));
  EXPECT_THAT(dig(a, "-x " + b.ip).records, ElementsAre("bravo.lan."));
  EXPECT_EQ(dig(a, "nosuch.lan").status, "NXDOMAIN");
  // Other names go to the network's servers, from the agent in the host.
  EXPECT_THAT(dig(a, "www.example.test").records, ElementsAre("198.51.100.7"));
  EXPECT_TRUE(up.asked("www.example.test"));
  EXPECT_FALSE(up.asked("nosuch.lan"));

  // DEL: the name is gone, and so is the resolver in that container's netns.
  del(a);
  EXPECT_FALSE(resolver_bound(a));
  EXPECT_EQ(dig(b, "alpha.lan").status, "NXDOMAIN");
  EXPECT_THAT(dig(b, "bravo").records, ElementsAre(b.ip));
  del(b);
  EXPECT_TRUE(dns_fixture::agent_gone(tmp_.path(), 3s)) << "no DNS network left";
  EXPECT_FALSE(resolver_bound(b));
}

// The resolvers inside the containers are the agent's sockets: after a SIGKILL, the next ADD
// starts an agent that binds every container's resolver again.
TEST_F(MacvlanDnsTest, RestartedAgentBindsEveryContainerAgain) {
  Ctr& a = container();
  Ctr& b = container();
  ASSERT_FALSE(add(a, "alpha").is_null());
  ASSERT_FALSE(add(b, "bravo").is_null());
  const auto pid = agent::running_agent(tmp_.path());
  ASSERT_TRUE(pid);
  ASSERT_EQ(::kill(*pid, SIGKILL), 0);
  ASSERT_TRUE(dns_fixture::agent_gone(tmp_.path(), 3s));
  EXPECT_FALSE(resolver_bound(a));

  Ctr& c = container();
  ASSERT_FALSE(add(c, "charlie").is_null());
  EXPECT_TRUE(resolver_bound(a));
  EXPECT_THAT(dig(a, "charlie").records, ElementsAre(c.ip));
  EXPECT_THAT(dig(b, "alpha").records, ElementsAre(a.ip));
  EXPECT_THAT(dig(c, "bravo").records, ElementsAre(b.ip));
  for (Ctr* x : {&a, &b, &c}) del(*x);
}

// A container whose netns went without a DEL leaves a record whose resolver cannot be bound
// again (after the agent restarts): that must not fail the next container's ADD.
TEST_F(MacvlanDnsTest, ARecordWhoseNetnsIsGoneDoesNotFailOtherAdds) {
  Ctr& a = container();
  ASSERT_FALSE(add(a, "alpha").is_null());
  for (pid_t p : dns_fixture::agent_processes(tmp_.path())) ::kill(p, SIGKILL);
  ASSERT_TRUE(dns_fixture::agent_gone(tmp_.path(), 3s));
  sh("ip netns del " + a.ns.name());  // the runtime lost it: no DEL
  Ctr& b = container();
  ASSERT_FALSE(add(b, "bravo").is_null());
  EXPECT_TRUE(resolver_bound(b));
  EXPECT_THAT(dig(b, "bravo").records, ElementsAre(b.ip));
  del(b);
  del(a);  // DEL of the lost one still succeeds and forgets it
}

}  // namespace
}  // namespace weir::test
