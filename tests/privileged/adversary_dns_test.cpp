// The embedded DNS probed as an attacker would (issue 13, items 5-8), through the real
// weir-bridge and weir-agent, in private namespaces: a host netns, an "outside" netns that plays
// a LAN neighbour routed to the host, and containers on DNS networks, an internal network and
// a network without DNS. Each test failed before the fix it names; the checks that passed
// already stay as regression tests.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <optional>
#include <vector>

#include "lib/netns/netns.hpp"
#include "tests/support/bridge_fixture.hpp"
#include "tests/support/dns_fixture.hpp"

namespace weir::test {
namespace {

using bridge::Container;
using bridge::Host;
using dns_fixture::Dig;
using dns_fixture::FakeUpstream;
using nlohmann::json;
using ::testing::ElementsAre;
using namespace std::chrono_literals;

std::string make_id(unsigned n) {
  char buf[13];
  std::snprintf(buf, sizeof(buf), "%012llx", 0xad7e00000000ull + n);
  return std::string(buf) + std::string(52, 'b');
}

// A DNS query for `name` (A, RD set), as dig sends it.
std::vector<uint8_t> query_for(const std::string& name, uint16_t id) {
  std::vector<uint8_t> q = {static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id), 0x01, 0, 0, 1,
                            0, 0, 0, 0, 0, 0};
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    q.push_back(static_cast<uint8_t>(dot - start));
    q.insert(q.end(), name.begin() + static_cast<std::ptrdiff_t>(start),
             name.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  q.insert(q.end(), {0, 0, 1, 0, 1});
  return q;
}

class AdversaryDnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WEIR_REQUIRE_ROOT();
    if (::access("/usr/bin/dig", X_OK) != 0) GTEST_SKIP() << "dig missing (Debian: bind9-dnsutils)";
    host_.emplace();
    host_->exec("ip link set lo up");
  }
  void TearDown() override {
    if (!host_) return;
    for (const auto& [c, conf, ifname] : added_) {
      (void)host_->plugin("DEL", c->path(), c->id, conf, {}, ifname);
    }
    if (HasFailure()) std::cerr << "agent.log:\n" << dns_fixture::agent_log(dir());
    dns_fixture::expect_no_agent_left(dir(), !HasFailure());
  }

  const std::string& dir() const { return host_->data_dir(); }

  json conf(const std::string& network, const std::string& bridge, const std::string& subnet,
            const json& extra = json::object()) const {
    json c = bridge::bridge_conf(*host_, network, bridge, {subnet});
    c["isGateway"] = true;
    c["embeddedDNS"] = true;
    c["dnsServers"] = {"192.0.2.2"};  // the fake upstream in the outside netns
    c.update(extra);
    return c;
  }

  // ADD (DELed by TearDown); the container's IPv4 address.
  std::string add(Container& c, const json& conf, const std::string& name,
                  const std::string& ifname = "eth0") {
    std::map<std::string, std::string> env{{"CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAME=" + name}};
    auto r = host_->plugin("ADD", c.path(), c.id, conf, env, ifname);
    if (r.exit_code != 0) {
      ADD_FAILURE() << "ADD " << name << ": " << r.out << r.err;
      return "";
    }
    added_.push_back({&c, conf, ifname});
    const json result = r.json();
    for (const auto& ip : result["ips"]) {
      std::string a = ip["address"];
      if (a.find(':') == std::string::npos) return a.substr(0, a.find('/'));
    }
    return "";
  }

  Container& container() {
    ctrs_.emplace_back(make_id(static_cast<unsigned>(ctrs_.size())));
    return ctrs_.back();
  }

  Dig dig(const Container& from, const std::string& server, const std::string& query) const {
    return dns_fixture::dig(from.ns.name(), server, query, 6);
  }

  // The outside netns as a LAN neighbour whose route to `subnet` points at the host.
  const TestNetns& neighbour(const std::string& subnet) {
    const TestNetns& o = host_->outside();
    sh("ip -n " + o.name() + " route replace " + subnet + " via 192.0.2.1");
    return o;
  }

  std::optional<Host> host_;
  std::deque<Container> ctrs_;
  struct Added {
    Container* c;
    json conf;
    std::string ifname;
  };
  std::vector<Added> added_;
};

// Item 5 (Moby CVE-2024-29018): a container of an internal network gets its network's names
// and nothing from outside; the agent asks no upstream for it. Before: the agent forwarded.
TEST_F(AdversaryDnsTest, InternalNetworkDoesNotForward) {
  FakeUpstream up(host_->outside().path(), "192.0.2.2");
  up.answer("exfil.example", "198.51.100.7");
  const json sealed = conf("sealed", "wadvint", "10.93.1.0/24", {{"internal", true}});
  const json open = conf("open", "wadvopen", "10.93.2.0/24");
  Container& inside = container();
  Container& peer = container();
  Container& both = container();
  const std::string ip_inside = add(inside, sealed, "vault");
  const std::string ip_peer = add(peer, sealed, "keeper");
  ASSERT_FALSE(ip_inside.empty() || ip_peer.empty());
  ASSERT_FALSE(add(both, sealed, "bridgehead", "eth0").empty());
  ASSERT_FALSE(add(both, open, "bridgehead", "eth1").empty());

  EXPECT_THAT(dig(inside, "10.93.1.1", "keeper").records, ElementsAre(ip_peer));
  EXPECT_THAT(dig(inside, "10.93.1.1", "-x " + ip_peer).records, ElementsAre("keeper.sealed."));
  for (const std::string q : {"exfil.example", "+tcp exfil.example", "-x 198.51.100.7"}) {
    Dig d = dig(inside, "10.93.1.1", q);
    EXPECT_EQ(d.status, "REFUSED") << q << ": " << d;
    EXPECT_TRUE(d.records.empty()) << q << ": " << d;
  }
  EXPECT_TRUE(up.queries().empty()) << "asked upstream: " << up.queries().front();

  // A container that also has a network with a way out may resolve through either gateway,
  // as Docker does: it could reach the outside anyway.
  EXPECT_THAT(dig(both, "10.93.1.1", "exfil.example").records, ElementsAre("198.51.100.7"));
}

// Item 6: a member holding every TCP slot with connections that trickle bytes cannot keep
// another container's TCP query from being answered; its trickling connections are cut.
// Before: 256 slots, an idle timer reset by every byte, new connections refused.
TEST_F(AdversaryDnsTest, TcpTrickleCannotLockOthersOut) {
  const json busy = conf("busy", "wadvtcp", "10.93.3.0/24");
  Container& attacker = container();
  Container& victim = container();
  const std::string ip_attacker = add(attacker, busy, "attacker");
  ASSERT_FALSE(ip_attacker.empty());
  ASSERT_FALSE(add(victim, busy, "victim").empty());

  auto ns = netns::Handle::open(attacker.path());
  ASSERT_TRUE(ns) << ns.error().msg;
  std::vector<int> conns;
  auto opened = netns::run_in(*ns, [&] {
    for (int i = 0; i < 300; ++i) {
      const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (s < 0) return;
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(53);
      ::inet_pton(AF_INET, "10.93.3.1", &sa.sin_addr);
      if (::connect(s, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
        ::close(s);
        continue;
      }
      const uint8_t first = 0;  // the first byte of a length prefix, and no more
      (void)!::send(s, &first, 1, MSG_NOSIGNAL);
      conns.push_back(s);
    }
  });
  ASSERT_TRUE(opened) << opened.error().msg;
  ASSERT_GT(conns.size(), 256u);
  // One more byte on every one of them: the trickle.
  for (int s : conns) {
    const uint8_t more = 40;
    (void)!::send(s, &more, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  }

  Dig d = dig(victim, "10.93.3.1", "+tcp attacker");
  EXPECT_EQ(d.status, "NOERROR") << d;
  EXPECT_THAT(d.records, ElementsAre(ip_attacker));

  // The attacker keeps only a few of its connections: the rest were closed by the agent.
  auto still_open = [&] {
    size_t n = 0;
    for (int s : conns) {
      pollfd p{s, POLLIN, 0};
      if (::poll(&p, 1, 0) == 0) ++n;  // nothing to read: no FIN, no reset
    }
    return n;
  };
  EXPECT_TRUE(dns_fixture::wait_until([&] { return still_open() <= 16; }, 20s))
      << still_open() << " of " << conns.size() << " connections still open";
  // And none outlives the bound on one message, whatever it trickles.
  EXPECT_TRUE(dns_fixture::wait_until(
      [&] {
        for (int s : conns) {
          const uint8_t more = 1;
          (void)!::send(s, &more, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        return still_open() == 0;
      },
      30s))
      << still_open() << " trickling connections outlived the message bound";
  for (int s : conns) ::close(s);
}

// Item 7: names answer only to the network's members. Strangers — a LAN neighbour routed to
// the gateway, a container of a network without DNS, a container of another DNS network, a
// process on the host — get REFUSED, over UDP and TCP, for the network's names and for
// recursion. Before: the network's names (and recursion for the host).
TEST_F(AdversaryDnsTest, StrangersGetNothing) {
  FakeUpstream up(host_->outside().path(), "192.0.2.2");
  up.answer("leak.example", "198.51.100.9");
  const json named = conf("named", "wadvnamed", "10.93.4.0/24");
  const json other = conf("other", "wadvother", "10.93.5.0/24");
  json plain = bridge::bridge_conf(*host_, "plain", "wadvplain", {"10.93.6.0/24"});
  plain["isGateway"] = true;
  Container& member = container();
  Container& web = container();
  Container& elsewhere = container();
  Container& nodns = container();
  ASSERT_FALSE(add(member, named, "member").empty());
  const std::string ip_web = add(web, named, "web");
  ASSERT_FALSE(ip_web.empty());
  ASSERT_FALSE(add(elsewhere, other, "elsewhere").empty());
  ASSERT_FALSE(add(nodns, plain, "nodns").empty());
  const TestNetns& lan = neighbour("10.93.4.0/24");

  // The member: names and recursion (a regression check).
  EXPECT_THAT(dig(member, "10.93.4.1", "web").records, ElementsAre(ip_web));
  EXPECT_THAT(dig(member, "10.93.4.1", "+tcp web").records, ElementsAre(ip_web));
  EXPECT_THAT(dig(member, "10.93.4.1", "leak.example").records, ElementsAre("198.51.100.9"));

  auto expect_refused = [&](const std::string& who, const std::string& ns_name) {
    for (const std::string& q : std::vector<std::string>{"web", "+tcp web", "web.named",
                                                         "-x " + ip_web, "leak.example",
                                                         "+tcp leak.example"}) {
      Dig d = dns_fixture::dig(ns_name, "10.93.4.1", q, 6);
      // REFUSED, or no answer at all; never a record.
      EXPECT_TRUE(d.status == "REFUSED" || d.status.empty()) << who << " " << q << ": " << d;
      EXPECT_TRUE(d.records.empty()) << who << " " << q << ": " << d;
    }
  };
  expect_refused("LAN neighbour", lan.name());
  expect_refused("container of another DNS network", elsewhere.ns.name());
  expect_refused("container of a network without DNS", nodns.ns.name());
  expect_refused("host process", host_->name());
  // What a stranger got was not a silence: the agent refused it (the neighbour has a route).
  EXPECT_EQ(dns_fixture::dig(lan.name(), "10.93.4.1", "web", 6).status, "REFUSED");
  EXPECT_EQ(dns_fixture::dig(host_->name(), "10.93.4.1", "web", 6).status, "REFUSED");
  // Recursion only for the member's own query.
  const auto asked = up.queries();
  EXPECT_EQ(std::count(asked.begin(), asked.end(), "leak.example"), 1) << asked.size();
}

// Item 8: a datagram whose source claims the network's subnet but that arrived on another
// interface is no member's: no recursion (the exfiltration channel), no answer. Before: the
// agent forwarded it upstream.
TEST_F(AdversaryDnsTest, SpoofedSourceFromAnotherLinkGetsNoRecursion) {
  FakeUpstream up(host_->outside().path(), "192.0.2.2");
  const json named = conf("named", "wadvspoof", "10.93.7.0/24");
  Container& member = container();
  ASSERT_FALSE(add(member, named, "member").empty());
  const TestNetns& lan = neighbour("10.93.7.0/24");
  // The host does not drop it by reverse path (it may by default; the DNS must not rely on
  // it): the neighbour sends from 10.93.7.77, an address of the bridge's subnet.
  host_->exec("sysctl -qw net.ipv4.conf.all.rp_filter=0");
  host_->exec("sysctl -qw net.ipv4.conf.wout.rp_filter=0");
  sh("ip -n " + lan.name() + " addr add 10.93.7.77/32 dev wout");

  auto ns = netns::Handle::open(lan.path());
  ASSERT_TRUE(ns) << ns.error().msg;
  auto sent = netns::run_in(*ns, [&]() -> Expected<void> {
    const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return fail(cni::sys_error(errno, "socket"));
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, "10.93.7.77", &from.sin_addr);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(53);
    ::inet_pton(AF_INET, "10.93.7.1", &to.sin_addr);
    const auto q = query_for("spoofed-exfil.example", 0x5151);
    const bool ok = ::bind(s, reinterpret_cast<sockaddr*>(&from), sizeof(from)) == 0 &&
                    ::sendto(s, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&to),
                             sizeof(to)) == static_cast<ssize_t>(q.size());
    const int err = errno;
    ::close(s);
    if (!ok) return fail(cni::sys_error(err, "send the spoofed query"));
    return {};
  });
  ASSERT_TRUE(sent) << sent.error().msg;
  // The member's query comes after the spoofed one on the same socket of the same worker: by
  // the time it reached the upstream, a forwarded spoofed query would have too.
  Dig marker = dig(member, "10.93.7.1", "marker.example");
  EXPECT_EQ(marker.status, "NXDOMAIN") << marker;  // the upstream's answer
  EXPECT_TRUE(up.asked("marker.example"));
  EXPECT_FALSE(up.asked("spoofed-exfil.example")) << "the spoofed query was forwarded";
}

}  // namespace
}  // namespace weir::test
