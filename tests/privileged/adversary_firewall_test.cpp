// weir-bridge's firewall probed as an attacker would probe it (issue 13, "Firewall"): a private
// "host" netns, a LAN neighbour routed to it (Host::outside, 192.0.2.2 / 2001:db8:ff::2), and
// containers on published, strict, "none" and internal networks, all through the real
// weir-bridge. Each hole is a test that failed before its fix; the checks that held already are
// kept next to them, as is what must keep working (the host's own 127.0.0.1:<published port>,
// published ports from the LAN, egress).
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>

#include "lib/netns/netns.hpp"
#include "tests/support/bridge_fixture.hpp"

namespace weir::test::bridge {
namespace {

using ::testing::HasSubstr;

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::array<uint8_t, 6> parse_mac(const std::string& s) {
  std::array<uint8_t, 6> m{};
  unsigned v[6] = {};
  if (std::sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) == 6) {
    for (int i = 0; i < 6; ++i) m[i] = static_cast<uint8_t>(v[i]);
  }
  return m;
}

uint16_t ip_checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += (p[i] << 8) | p[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// One hand-made Ethernet frame out of `ifname` of the netns at `netns_path`, through an
// AF_PACKET socket (CAP_NET_RAW alone, no route, no sysctl of the container's): to `dst_mac`,
// IPv4 UDP from `src` to `dst`:`port`. The container's own routing never sees it.
Expected<void> send_udp_frame(const std::string& netns_path, const std::string& ifname,
                              const std::string& dst_mac, const std::string& src,
                              const std::string& dst, uint16_t port, const std::string& payload) {
  auto ns = netns::Handle::open(netns_path);
  if (!ns) return fail(ns.error());
  return netns::run_in(*ns, [&]() -> Expected<void> {
    const int fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(cni::sys_error(errno, "socket(AF_PACKET)"));
    struct Close {
      int fd;
      ~Close() { ::close(fd); }
    } close_fd{fd};
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
    if (::ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) return fail(cni::sys_error(errno, "SIOCGIFHWADDR"));
    const unsigned ifindex = ::if_nametoindex(ifname.c_str());
    if (ifindex == 0) return fail(cni::sys_error(errno, "if_nametoindex"));

    std::vector<uint8_t> f(14 + 20 + 8 + payload.size());
    const auto to = parse_mac(dst_mac);
    std::memcpy(&f[0], to.data(), 6);
    std::memcpy(&f[6], ifr.ifr_hwaddr.sa_data, 6);
    f[12] = 0x08;  // ETH_P_IP
    f[13] = 0x00;
    uint8_t* ip = &f[14];
    const size_t ip_len = 20 + 8 + payload.size();
    ip[0] = 0x45;
    ip[2] = static_cast<uint8_t>(ip_len >> 8);
    ip[3] = static_cast<uint8_t>(ip_len);
    ip[6] = 0x40;  // DF
    ip[8] = 64;    // TTL
    ip[9] = IPPROTO_UDP;
    ::inet_pton(AF_INET, src.c_str(), ip + 12);
    ::inet_pton(AF_INET, dst.c_str(), ip + 16);
    const uint16_t csum = ip_checksum(ip, 20);
    ip[10] = static_cast<uint8_t>(csum >> 8);
    ip[11] = static_cast<uint8_t>(csum);
    uint8_t* udp = ip + 20;
    udp[0] = 0x9c;  // source port 40000
    udp[1] = 0x40;
    udp[2] = static_cast<uint8_t>(port >> 8);
    udp[3] = static_cast<uint8_t>(port);
    udp[4] = static_cast<uint8_t>((8 + payload.size()) >> 8);
    udp[5] = static_cast<uint8_t>(8 + payload.size());  // checksum 0: none, legal for IPv4
    std::memcpy(udp + 8, payload.data(), payload.size());

    sockaddr_ll ll{};
    ll.sll_family = AF_PACKET;
    ll.sll_protocol = htons(ETH_P_IP);
    ll.sll_ifindex = static_cast<int>(ifindex);
    ll.sll_halen = 6;
    std::memcpy(ll.sll_addr, to.data(), 6);
    if (::sendto(fd, f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&ll), sizeof(ll)) < 0) {
      return fail(cni::sys_error(errno, "sendto"));
    }
    return {};
  });
}

// A listener of the host's (or anyone's) bound to one address, as a loopback-only service is:
// `nc -l ADDR PORT`; got() says whether a token arrived, waiting up to ~2 s for it.
class Listener {
 public:
  Listener(const std::string& ns, const std::string& addr, uint16_t port, bool udp) {
    static int seq = 0;
    log_ = std::filesystem::temp_directory_path() /
           ("weir-adv-" + std::to_string(::getpid()) + "-" + std::to_string(++seq));
    pid_ = spawn(ns,
                 "timeout 30 nc " + std::string(udp ? "-u " : "") + "-l " + addr + " " +
                     std::to_string(port),
                 log_);
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
  }
  ~Listener() {
    stop(pid_);
    std::filesystem::remove(log_);
  }
  bool got(const std::string& token) const {
    for (int i = 0; i < 10; ++i) {
      if (has(read_file(log_), token)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }

 private:
  std::string log_;
  int pid_ = -1;
};

std::string token(const std::string& what) {
  static int seq = 0;
  return "weir-adv-" + what + "-" + std::to_string(::getpid()) + "-" + std::to_string(++seq);
}

// Sends `tok` over UDP from `ns` to addr:port a few times (a first datagram can be lost to ARP).
void udp_send(const std::string& ns, const std::string& addr, uint16_t port,
              const std::string& tok) {
  for (int i = 0; i < 3; ++i) {
    sh("ip netns exec " + ns + " sh -c 'echo " + tok + " | timeout 2 nc -u -w0 " + addr + " " +
       std::to_string(port) + "' >/dev/null 2>&1");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// Makes 127.0.0.0/8 routable out of `dev` via `gw` in a netns whose owner has CAP_NET_ADMIN
// there (a container can): its own loopback routes gone, a route via the gateway, and
// route_localnet so that it accepts replies from 127.0.0.1.
void route_loopback_via(const std::string& ns, const std::string& dev, const std::string& gw) {
  const std::string n = "ip -n " + ns + " ";
  sh(n + "route del local 127.0.0.1 dev lo table local");
  sh(n + "route del local 127.0.0.0/8 dev lo table local");
  sh(n + "route del broadcast 127.255.255.255 dev lo table local 2>/dev/null");
  sh(n + "route add 127.0.0.0/8 via " + gw + " dev " + dev);
  sh("ip netns exec " + ns + " sysctl -qw net.ipv4.conf.all.route_localnet=1 net.ipv4.conf." + dev +
     ".route_localnet=1");
}

class Adversary : public ::testing::Test {
 protected:
  void SetUp() override { WEIR_REQUIRE_ROOT(); }

  json network(const std::string& name, const std::string& bridge,
               const std::vector<std::string>& subnets) {
    json c = bridge_conf(host_, name, bridge, subnets);
    c["isDefaultGateway"] = true;
    c["ipMasq"] = true;
    return c;
  }
  static json publish(json c, std::vector<json> mappings) {
    c["capabilities"] = {{"portMappings", true}};
    c["runtimeConfig"] = {{"portMappings", mappings}};
    return c;
  }
  // The LAN neighbour, with a route to each prefix through the host.
  std::string neighbour(const std::vector<std::string>& routed = {}) {
    const std::string out = host_.outside().name();
    for (const auto& p : routed) {
      const bool v6 = p.find(':') != std::string::npos;
      sh("ip -n " + out + (v6 ? " -6" : "") + " route replace " + p + " via " +
         (v6 ? "2001:db8:ff::1" : "192.0.2.1"));
    }
    return out;
  }

  Host host_;
};

// Items 1 and 2. A published port sets route_localnet on the bridge, for the host's own
// 127.0.0.1:<port>. Neither a container (raw frame with CAP_NET_RAW; or its own route to
// 127.0.0.0/8 via the gateway) nor a LAN neighbour routing 127.0.0.0/8 to the host may reach
// what listens on the host's loopback, nor a port published on 127.0.0.1.
TEST_F(Adversary, HostLoopbackIsTheHostsAlone) {
  const std::string out = neighbour();  // also brings the host's lo up
  Container web("ctr-adv-web"), evil("ctr-adv-evil");
  json base = network("advlo", "wbadvlo", {"10.71.0.0/24"});
  json pub = publish(
      base,
      {{{"hostPort", 8080}, {"containerPort", 80}, {"hostIP", "127.0.0.1"}},
       {{"hostPort", 5353}, {"containerPort", 53}, {"protocol", "udp"}, {"hostIP", "127.0.0.1"}},
       {{"hostPort", 5354}, {"containerPort", 54}, {"protocol", "udp"}}});
  auto add = host_.add(web, pub);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  ASSERT_EQ(host_.add(evil, base).exit_code, 0);
  EXPECT_EQ(host_.exec("cat /proc/sys/net/ipv4/conf/wbadvlo/route_localnet"), "1\n");
  const std::string gw_mac = trimmed(host_.exec("cat /sys/class/net/wbadvlo/address"));
  const std::string evil_ip = evil.addr();
  ASSERT_FALSE(evil_ip.empty());

  // What must keep working: the host itself on 127.0.0.1:<published>.
  EXPECT_TRUE(reach(web.ns.name(), host_.name(), "127.0.0.1", 8080, "tcp", 15, 80))
      << "the host's own 127.0.0.1:8080 no longer reaches the container";

  {  // A raw frame to the gateway's MAC, IPv4 to 127.0.0.1: CAP_NET_RAW is all it takes.
    Listener loopback(host_.name(), "127.0.0.1", 9301, true);
    Listener gateway(host_.name(), "10.71.0.1", 9302, true);
    const std::string t1 = token("raw-lo"), t2 = token("raw-gw");
    for (int i = 0; i < 3; ++i) {
      auto ok = send_udp_frame(evil.path(), "eth0", gw_mac, evil_ip, "127.0.0.1", 9301, t1);
      ASSERT_TRUE(ok) << ok.error().msg;
      ok = send_udp_frame(evil.path(), "eth0", gw_mac, evil_ip, "10.71.0.1", 9302, t2);
      ASSERT_TRUE(ok) << ok.error().msg;
    }
    EXPECT_TRUE(gateway.got(t2)) << "the control: the same frame to the gateway's address arrives";
    EXPECT_FALSE(loopback.got(t1)) << "a raw frame from a container reached the host's 127.0.0.1";
  }

  // The container routes 127.0.0.0/8 via the gateway (CAP_NET_ADMIN in its own netns).
  route_loopback_via(evil.ns.name(), "eth0", "10.71.0.1");
  {
    Listener loopback(host_.name(), "127.0.0.1", 9303, true);
    const std::string t = token("routed-udp");
    udp_send(evil.ns.name(), "127.0.0.1", 9303, t);
    EXPECT_FALSE(loopback.got(t)) << "UDP routed from a container reached the host's 127.0.0.1";
  }
  {
    Listener loopback(host_.name(), "127.0.0.1", 9304, false);
    const std::string t = token("routed-tcp");
    sh("ip netns exec " + evil.ns.name() + " sh -c 'echo " + t +
       " | timeout 2 nc -N -w1 127.0.0.1 9304' >/dev/null 2>&1");
    // Whether or not a session comes of it, its SYN must not even reach the listener.
    const std::string half_open = host_.exec("ss -Htn state syn-recv '( sport = :9304 )'") +
                                  host_.exec("ss -Htn state established '( sport = :9304 )'");
    EXPECT_FALSE(has(half_open, evil_ip))
        << "TCP from a container reached 127.0.0.1:9304: " << half_open;
    EXPECT_FALSE(loopback.got(t));
  }
  {  // Nor the ports published on 127.0.0.1 (and on every address) through 127.0.0.1.
    Listener udp53(web.ns.name(), "0.0.0.0", 53, true);
    const std::string t = token("routed-pub");
    udp_send(evil.ns.name(), "127.0.0.1", 5353, t);
    EXPECT_FALSE(udp53.got(t)) << "a container reached a port published on 127.0.0.1";
  }

  // A LAN neighbour that routes 127.0.0.0/8 to the host.
  route_loopback_via(out, "wout", "192.0.2.1");
  {
    Listener udp53(web.ns.name(), "0.0.0.0", 53, true);
    const std::string t = token("lan-pub-lo");
    udp_send(out, "127.0.0.1", 5353, t);
    EXPECT_FALSE(udp53.got(t)) << "the LAN reached a port published on 127.0.0.1";
  }
  {  // (A listener each: nc -u -l answers only the first peer it hears from.)
    Listener udp54(web.ns.name(), "0.0.0.0", 54, true);
    const std::string t = token("lan-any-lo");
    udp_send(out, "127.0.0.1", 5354, t);
    EXPECT_FALSE(udp54.got(t)) << "the LAN reached a port published on every address via 127.0.0.1";
  }
  {
    Listener udp54(web.ns.name(), "0.0.0.0", 54, true);
    const std::string t = token("lan-any");
    udp_send(out, "192.0.2.1", 5354, t);
    EXPECT_TRUE(udp54.got(t)) << "the control: that port through the host's LAN address";
  }
  {
    Listener loopback(host_.name(), "127.0.0.1", 9305, true);
    const std::string t = token("lan-lo");
    udp_send(out, "127.0.0.1", 9305, t);
    EXPECT_FALSE(loopback.got(t)) << "the LAN reached the host's 127.0.0.1";
  }
  // And still, after all that, the host's own 127.0.0.1 (TCP and UDP).
  EXPECT_TRUE(reach(web.ns.name(), host_.name(), "127.0.0.1", 8080, "tcp", 15, 80));
  EXPECT_TRUE(reach(web.ns.name(), host_.name(), "127.0.0.1", 5353, "udp", 15, 53));

  auto check = host_.check(web, pub);
  EXPECT_EQ(check.exit_code, 0) << check.out;
  EXPECT_EQ(host_.del(web, pub).exit_code, 0);
  EXPECT_EQ(host_.del(evil, base).exit_code, 0);
  EXPECT_EQ(host_.nft(), "");
}

// Item 3. A neighbour with a route to the container subnets gets nothing but the published
// ports (through the host's address), over IPv4 and IPv6; the containers' egress and its
// replies still pass.
TEST_F(Adversary, UnpublishedPortsAreNotReachableFromTheLan) {
  Container web("ctr-adv-direct");
  json c = publish(network("advdir", "wbadvdir", {"10.72.0.0/24", "fd72::/64"}),
                   {{{"hostPort", 8082}, {"containerPort", 80}}});
  auto add = host_.add(web, c);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  const std::string w = web.ns.name(), w4 = web.addr(4), w6 = web.addr(6);
  ASSERT_FALSE(w6.empty());
  const std::string out = neighbour({"10.72.0.0/24", "fd72::/64"});

  EXPECT_FALSE(reach(w, out, w4, 9400, "tcp", 3)) << "the LAN reached an unpublished port";
  EXPECT_FALSE(reach(w, out, w6, 9400, "tcp", 3))
      << "the LAN reached an unpublished port over IPv6";
  EXPECT_FALSE(reach(w, out, w4, 9401, "udp", 3)) << "the LAN reached an unpublished UDP port";
  // The published container port too, but for its publication.
  EXPECT_FALSE(reach(w, out, w4, 80, "tcp", 3)) << "the LAN reached the container's port directly";
  EXPECT_FALSE(
      has(sh("ip netns exec " + out + " ping -c1 -W1 " + w4 + " 2>&1"), " 0% packet loss"));

  EXPECT_TRUE(reach(w, out, "192.0.2.1", 8082, "tcp", 15, 80)) << "the published port from the LAN";
  EXPECT_TRUE(reach(w, out, "2001:db8:ff::1", 8082, "tcp", 15, 80)) << "... and over IPv6";
  EXPECT_TRUE(reach(out, w, "192.0.2.2", 9402)) << "egress, and its replies";
  EXPECT_TRUE(reach(out, w, "2001:db8:ff::2", 9403)) << "egress over IPv6, and its replies";
  EXPECT_TRUE(reach(w, host_.name(), w4, 9404, "tcp", 15)) << "the host itself reaches any port";

  auto check = host_.check(web, c);
  EXPECT_EQ(check.exit_code, 0) << check.out;
  EXPECT_EQ(host_.del(web, c).exit_code, 0);
  EXPECT_EQ(host_.nft(), "");
}

// The opt-in to direct routing (Docker's trusted_host_interfaces): new connections from the
// named host interfaces reach any port of the network's containers; from other interfaces, and
// into networks without it, still only published ports.
TEST_F(Adversary, TrustedHostInterfacesOptIn) {
  Container t("ctr-adv-trusted"), u("ctr-adv-untrusted");
  json trusted = network("advtrust", "wbadvt", {"10.75.0.0/24", "fd75::/64"});
  trusted["trustedHostInterfaces"] = json::array({"wout"});
  json other = network("advnotrust", "wbadvu", {"10.75.1.0/24"});
  const std::string out = neighbour({"10.75.0.0/24", "10.75.1.0/24", "fd75::/64"});
  auto add = host_.add(t, trusted);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  ASSERT_EQ(host_.add(u, other).exit_code, 0);
  EXPECT_THAT(host_.nft(),
              HasSubstr("oifname \"wbadvt\" iifname \"wout\" accept comment \"weir:advtrust\""));

  EXPECT_TRUE(reach(t.ns.name(), out, t.addr(), 9700)) << "from the trusted interface";
  EXPECT_TRUE(reach(t.ns.name(), out, t.addr(6), 9701)) << "from the trusted interface, IPv6";
  EXPECT_FALSE(reach(u.ns.name(), out, u.addr(), 9702, "tcp", 3)) << "into a network without it";
  // Not from another interface: the other network's container is no LAN.
  EXPECT_FALSE(reach(t.ns.name(), u.ns.name(), t.addr(), 9703, "tcp", 3)) << "from another network";
  auto check = host_.check(t, trusted);
  EXPECT_EQ(check.exit_code, 0) << check.out;

  // An internal network cannot be opened to the outside: refused before anything is made.
  Container i("ctr-adv-trusted-int");
  json internal = trusted;
  internal["name"] = "advtrustint";
  internal["bridge"] = "wbadvti";
  internal["internal"] = true;
  auto refused = host_.add(i, internal);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_EQ(refused.json()["code"], 7) << refused.out;
  EXPECT_THAT(refused.json().value("msg", ""), HasSubstr("trustedHostInterfaces")) << refused.out;
  EXPECT_FALSE(host_.link_exists("wbadvti"));
  for (const char* bad : {"", "a/b", "0123456789abcdefg"}) {
    json b = other;
    b["trustedHostInterfaces"] = json::array({bad});
    EXPECT_EQ(host_.add(i, b).json()["code"], 7) << bad;
  }

  EXPECT_EQ(host_.del(t, trusted).exit_code, 0);
  EXPECT_EQ(host_.del(u, other).exit_code, 0);
  EXPECT_EQ(host_.nft(), "");
}

// Item 4 and the model between networks: a strict network reaches no other weir network and is
// reached by none (over IPv4 and IPv6), "none" networks reach each other, and a published port
// is for everyone, through the host's address.
TEST_F(Adversary, StrictIsolationHoldsAgainstNoneNetworks) {
  Container s("ctr-adv-strict"), n("ctr-adv-none"), m("ctr-adv-none2");
  json strict = publish(network("advstrict", "wbadvs", {"10.73.0.0/24", "fd73::/64"}),
                        {{{"hostPort", 8083}, {"containerPort", 80}}});
  json none = network("advnone", "wbadvn", {"10.73.1.0/24", "fd73:1::/64"});
  none["isolation"] = "none";
  json none2 = network("advnone2", "wbadvm", {"10.73.2.0/24"});
  none2["isolation"] = "none";
  ASSERT_EQ(host_.add(s, strict).exit_code, 0);
  ASSERT_EQ(host_.add(n, none).exit_code, 0);
  ASSERT_EQ(host_.add(m, none2).exit_code, 0);
  const std::string sn = s.ns.name(), nn = n.ns.name(), mn = m.ns.name();

  EXPECT_FALSE(reach(sn, nn, s.addr(), 9500, "tcp", 3)) << "none -> strict";
  EXPECT_FALSE(reach(nn, sn, n.addr(), 9501, "tcp", 3)) << "strict -> none";
  EXPECT_FALSE(reach(sn, nn, s.addr(6), 9502, "tcp", 3)) << "none -> strict over IPv6";
  EXPECT_FALSE(reach(nn, sn, n.addr(6), 9503, "tcp", 3)) << "strict -> none over IPv6";
  EXPECT_FALSE(reach(sn, nn, s.addr(), 9504, "udp", 3)) << "none -> strict, UDP";
  EXPECT_FALSE(n.ping(s.addr()));
  EXPECT_FALSE(s.ping(n.addr()));

  // "none" with "none": routed through the host, both ways.
  EXPECT_TRUE(reach(mn, nn, m.addr(), 9505)) << "none -> none";
  EXPECT_TRUE(reach(nn, mn, n.addr(), 9506)) << "none -> none, back";
  // A published port is for everyone, through a host address; the host reaches everyone.
  EXPECT_TRUE(reach(sn, nn, "10.73.1.1", 8083, "tcp", 15, 80)) << "none -> strict's published port";
  EXPECT_TRUE(reach(sn, host_.name(), s.addr(), 9507)) << "the host -> strict";
  EXPECT_TRUE(reach(nn, host_.name(), n.addr(), 9508)) << "the host -> none";
  // The gateways are the host: each container reaches the other networks' gateway addresses.
  EXPECT_TRUE(s.ping("10.73.1.1"));
  EXPECT_TRUE(n.ping("10.73.0.1"));

  for (const auto& [c, conf] :
       {std::pair{&s, &strict}, std::pair{&n, &none}, std::pair{&m, &none2}}) {
    auto check = host_.check(*c, *conf);
    EXPECT_EQ(check.exit_code, 0) << check.out;
  }
  // GC with no valid attachment takes every rule of every network with it.
  for (const json* conf : {&strict, &none, &none2}) {
    json gc = *conf;
    gc["cni.dev/valid-attachments"] = json::array();
    auto r = host_.plugin("GC", "", "", gc,
                          {{"CNI_NETNS", ""}, {"CNI_CONTAINERID", ""}, {"CNI_IFNAME", ""}});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  EXPECT_EQ(host_.nft(), "");
}

// The checks that held before issue 13, kept: an internal network is closed both ways (also to
// a neighbour with a route to it), icc=false keeps containers apart but for the gateway.
TEST_F(Adversary, InternalAndIccHold) {
  Container i("ctr-adv-int"), a("ctr-adv-icc-a"), b("ctr-adv-icc-b");
  json internal = network("advint", "wbadvi", {"10.74.0.0/24"});
  internal["internal"] = true;
  json icc = network("advicc", "wbadvc", {"10.74.1.0/24"});
  icc["icc"] = false;
  ASSERT_EQ(host_.add(i, internal).exit_code, 0);
  ASSERT_EQ(host_.add(a, icc).exit_code, 0);
  ASSERT_EQ(host_.add(b, icc).exit_code, 0);
  const std::string out = neighbour({"10.74.0.0/24", "10.74.1.0/24"});
  i.ip("route add default via 10.74.0.1");

  EXPECT_FALSE(reach(i.ns.name(), out, i.addr(), 9600, "tcp", 3)) << "LAN -> internal";
  EXPECT_FALSE(reach(out, i.ns.name(), "192.0.2.2", 9601, "tcp", 3)) << "internal -> LAN";
  EXPECT_FALSE(reach(a.ns.name(), i.ns.name(), a.addr(), 9602, "tcp", 3)) << "internal -> icc";
  EXPECT_FALSE(reach(b.ns.name(), a.ns.name(), b.addr(), 9603, "tcp", 3)) << "icc=false";
  EXPECT_FALSE(reach(a.ns.name(), out, a.addr(), 9604, "tcp", 3)) << "LAN -> icc=false network";
  EXPECT_TRUE(a.ping("10.74.1.1"));
  EXPECT_TRUE(reach(out, a.ns.name(), "192.0.2.2", 9605)) << "egress of the icc=false network";

  EXPECT_EQ(host_.del(i, internal).exit_code, 0);
  EXPECT_EQ(host_.del(a, icc).exit_code, 0);
  EXPECT_EQ(host_.del(b, icc).exit_code, 0);
  EXPECT_EQ(host_.nft(), "");
}

}  // namespace
}  // namespace weir::test::bridge
