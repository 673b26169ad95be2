// weir-bridge's traffic rules, proven with real traffic between private netns: masquerade,
// isolation between networks, icc off, internal networks, and published TCP and UDP ports
// (from outside, from the host's own addresses and localhost, hairpin), gone after DEL.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/bridge_fixture.hpp"

namespace weir::test::bridge {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

class BridgeFirewall : public ::testing::Test {
 protected:
  void SetUp() override { WEIR_REQUIRE_ROOT(); }
};

TEST_F(BridgeFirewall, MasqueradeOnlyWithIpMasq) {
  Host host;
  host.outside();
  Container masq("ctr-masq"), plain("ctr-plain");
  json on = bridge_conf(host, "masqnet", "wbmq", {"10.60.0.0/24"});
  on["isDefaultGateway"] = true;
  on["ipMasq"] = true;
  json off = bridge_conf(host, "plainnet", "wbpl", {"10.60.1.0/24"});
  off["isDefaultGateway"] = true;
  ASSERT_EQ(host.add(masq, on).exit_code, 0);
  ASSERT_EQ(host.add(plain, off).exit_code, 0);
  // The outside has no route back to the containers: only a masqueraded ping gets an answer.
  EXPECT_TRUE(masq.ping("192.0.2.2"));
  EXPECT_FALSE(plain.ping("192.0.2.2"));
  // And the outside sees the host's address, not the container's.
  EXPECT_TRUE(reach(host.outside().name(), masq.ns.name(), "192.0.2.2", 9100));
  EXPECT_EQ(host.del(masq, on).exit_code, 0);
  EXPECT_EQ(host.del(plain, off).exit_code, 0);
}

TEST_F(BridgeFirewall, NetworksAreIsolatedUnlessBothSayNone) {
  Host host;
  Container a("ctr-iso-a"), b("ctr-iso-b");
  json na = bridge_conf(host, "isoa", "wbisoa", {"10.61.0.0/24"});
  json nb = bridge_conf(host, "isob", "wbisob", {"10.61.1.0/24"});
  for (json* n : {&na, &nb}) (*n)["isDefaultGateway"] = true;
  ASSERT_EQ(host.add(a, na).exit_code, 0);
  ASSERT_EQ(host.add(b, nb).exit_code, 0);
  // Each reaches its own gateway, and the host's address on the other bridge (the host stays
  // reachable), but not the other network's container.
  EXPECT_TRUE(a.ping("10.61.0.1"));
  EXPECT_TRUE(b.ping("10.61.1.1"));
  EXPECT_FALSE(a.ping("10.61.1.2"));
  EXPECT_FALSE(b.ping("10.61.0.2"));
  EXPECT_TRUE(has(host.nft(), "chain isolation"));
  EXPECT_EQ(host.del(a, na).exit_code, 0);
  EXPECT_EQ(host.del(b, nb).exit_code, 0);

  // isolation "none" on both: routed through the host.
  na["isolation"] = "none";
  nb["isolation"] = "none";
  ASSERT_EQ(host.add(a, na).exit_code, 0);
  ASSERT_EQ(host.add(b, nb).exit_code, 0);
  EXPECT_TRUE(a.ping(b.addr()));  // round-robin: not the addresses of the first round
  EXPECT_TRUE(b.ping(a.addr()));
  EXPECT_EQ(host.del(a, na).exit_code, 0);
  EXPECT_EQ(host.del(b, nb).exit_code, 0);
}

TEST_F(BridgeFirewall, IccOffKeepsContainersApartButNotFromTheGateway) {
  Host host;
  Container a("ctr-icc-a"), b("ctr-icc-b");
  json conf = bridge_conf(host, "iccnet", "wbicc", {"10.62.0.0/24"});
  conf["isGateway"] = true;
  conf["icc"] = false;
  ASSERT_EQ(host.add(a, conf).exit_code, 0);
  ASSERT_EQ(host.add(b, conf).exit_code, 0);
  EXPECT_EQ(host.exec("cat /proc/sys/net/bridge/bridge-nf-call-iptables"), "1\n");
  EXPECT_TRUE(a.ping("10.62.0.1"));
  EXPECT_FALSE(a.ping("10.62.0.3"));
  EXPECT_FALSE(reach(b.ns.name(), a.ns.name(), "10.62.0.3", 9101, "tcp", 3));
  EXPECT_EQ(host.del(a, conf).exit_code, 0);
  EXPECT_EQ(host.del(b, conf).exit_code, 0);

  // The same network with icc on (the default): they talk.
  conf.erase("icc");
  ASSERT_EQ(host.add(a, conf).exit_code, 0);
  ASSERT_EQ(host.add(b, conf).exit_code, 0);
  EXPECT_TRUE(a.ping(b.addr()));
  EXPECT_EQ(host.del(a, conf).exit_code, 0);
  EXPECT_EQ(host.del(b, conf).exit_code, 0);
}

TEST_F(BridgeFirewall, InternalNetworkReachesOnlyItself) {
  Host host;
  host.outside();
  Container a("ctr-int-a"), b("ctr-int-b");
  json conf = bridge_conf(host, "intnet", "wbint", {"10.63.0.0/24"});
  conf["isDefaultGateway"] = true;
  conf["ipMasq"] = true;
  conf["internal"] = true;
  auto add = host.add(a, conf);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  ASSERT_EQ(host.add(b, conf).exit_code, 0);
  // No default route, no masquerade; a route added by hand still goes nowhere.
  EXPECT_EQ(add.json()["routes"].size(), 0u) << add.out;
  EXPECT_EQ(a.ip("route show default"), "");
  EXPECT_FALSE(has(host.nft(), "masquerade comment \"weir:intnet\"\n\t\toifname"));
  a.ip("route add default via 10.63.0.1");
  EXPECT_FALSE(a.ping("192.0.2.2"));
  EXPECT_TRUE(a.ping("192.0.2.1"));  // the host itself is not "outside"
  EXPECT_TRUE(a.ping("10.63.0.1"));
  EXPECT_TRUE(a.ping(b.addr()));
  EXPECT_EQ(host.check(a, conf).exit_code, 0) << host.check(a, conf).out;
  EXPECT_EQ(host.del(a, conf).exit_code, 0);
  EXPECT_EQ(host.del(b, conf).exit_code, 0);
}

// macspoofchk, as the reference plugin's: what enters the bridge from a container's port with
// a source MAC that is not the container's own is dropped, whether it goes to another container
// (bridged, never seen by the inet hooks) or to the host, IPv4, IPv6 and ARP alike. A container
// of the same network without macspoofchk doing the same thing is the control: its spoofed
// frames pass, so what stops the first one is the check.
TEST_F(BridgeFirewall, MacSpoofCheckDropsForeignSourceMacs) {
  Host host;
  json conf = bridge_conf(host, "spoof", "wbsp0", {"10.68.0.0/24", "fd68::/64"});
  conf["isGateway"] = true;
  json checked = conf;
  checked["macspoofchk"] = true;
  Container a("ctr-sp-a"), b("ctr-sp-b"), c("ctr-sp-c");
  auto add = host.add(a, checked);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  ASSERT_EQ(host.add(b, conf).exit_code, 0);
  ASSERT_EQ(host.add(c, conf).exit_code, 0);
  const std::string mac = add.json()["interfaces"][2]["mac"];
  const std::string veth = add.json()["interfaces"][1]["name"];
  const std::string b4 = b.addr(), b6 = b.addr(6);
  ASSERT_FALSE(b6.empty());
  EXPECT_TRUE(a.ping(b4));
  EXPECT_TRUE(a.ping(b6));
  EXPECT_TRUE(a.ping("10.68.0.1"));
  EXPECT_TRUE(a.ping("fd68::1"));
  EXPECT_THAT(host.nft(), HasSubstr("iifname \"" + veth + "\" ether saddr != " + mac +
                                    " drop comment \"weir:spoof:ctr-sp-a:eth0\""));
  EXPECT_THAT(host.exec("nft list table bridge weir"), HasSubstr("hook prerouting priority dstnat"));
  auto check = host.check(a, checked);
  EXPECT_EQ(check.exit_code, 0) << check.out;

  auto spoof = [](const Container& x, const std::string& m) {
    x.ip("link set eth0 address " + m);
    x.ip("neigh flush all");
  };
  const std::string forged_a = "02:66:66:66:66:66", forged_c = "02:77:77:77:77:77";
  spoof(a, forged_a);
  EXPECT_FALSE(a.ping(b4)) << "a spoofed source MAC reaches another container";
  EXPECT_FALSE(a.ping(b6)) << "a spoofed source MAC reaches another container over IPv6";
  EXPECT_FALSE(a.ping("10.68.0.1")) << "a spoofed source MAC reaches the host";
  EXPECT_FALSE(a.ping("fd68::1")) << "a spoofed source MAC reaches the host over IPv6";
  // Its ARP requests and neighbour solicitations never got through: nobody learned the MAC.
  EXPECT_FALSE(has(b.ip("neigh show"), forged_a)) << b.ip("neigh show");
  EXPECT_FALSE(has(host.ip("neigh show"), forged_a)) << host.ip("neigh show");
  EXPECT_FALSE(has(host.exec("bridge fdb show br wbsp0"), forged_a));

  spoof(c, forged_c);
  EXPECT_TRUE(c.ping(b4)) << "the control: without macspoofchk a spoofed MAC passes";
  EXPECT_TRUE(c.ping("10.68.0.1"));
  EXPECT_TRUE(has(b.ip("neigh show"), forged_c)) << b.ip("neigh show");

  spoof(a, mac);
  EXPECT_TRUE(a.ping(b4));
  EXPECT_TRUE(a.ping(b6));
  EXPECT_TRUE(a.ping("10.68.0.1"));
  check = host.check(a, checked);
  EXPECT_EQ(check.exit_code, 0) << check.out;

  // The rule gone behind weir's back: CHECK says so.
  host.exec("nft flush chain bridge weir prerouting");
  check = host.check(a, checked);
  EXPECT_EQ(check.exit_code, 1);
  EXPECT_EQ(check.json()["code"], 101) << check.out;
  EXPECT_THAT(check.json().value("msg", ""), HasSubstr("ether saddr != " + mac)) << check.out;

  EXPECT_EQ(host.del(a, checked).exit_code, 0);
  EXPECT_FALSE(has(host.nft(), mac));
  EXPECT_EQ(host.del(b, conf).exit_code, 0);
  EXPECT_EQ(host.del(c, conf).exit_code, 0);
  EXPECT_EQ(host.nft(), "");
}

// The spoof check's rule is the endpoint's: DEL removes it without the netns, and without any
// IPAM (an L2-only network still has it); GC removes those of the endpoints it collects; each
// time the last one takes table bridge weir with it.
TEST_F(BridgeFirewall, MacSpoofCheckRulesGoWithTheirEndpoint) {
  Host host;
  json conf = bridge_conf(host, "spoofdel", "wbsp1", {"10.68.1.0/24"});
  conf["macspoofchk"] = true;
  Container keep("ctr-spd-keep");
  ASSERT_EQ(host.add(keep, conf).exit_code, 0);
  std::string path;
  {
    Container gone("ctr-spd-gone");
    path = gone.path();
    auto add = host.add(gone, conf);
    ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
    EXPECT_TRUE(has(host.nft(), "weir:spoofdel:ctr-spd-gone:eth0"));
  }
  auto del = host.plugin("DEL", path, "ctr-spd-gone", conf, {{"CNI_NETNS", ""}});
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_FALSE(has(host.nft(), "weir:spoofdel:ctr-spd-gone:eth0")) << host.nft();
  EXPECT_TRUE(has(host.nft(), "weir:spoofdel:ctr-spd-keep:eth0")) << host.nft();

  json gc = conf;
  gc["cni.dev/valid-attachments"] = json::array();
  auto r = host.plugin("GC", "", "", gc, {{"CNI_NETNS", ""}, {"CNI_CONTAINERID", ""}, {"CNI_IFNAME", ""}});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(host.endpoint_count("spoofdel"), 0u);
  EXPECT_EQ(host.nft(), "");

  json l2 = bridge_conf(host, "spoofl2", "wbsp2", {});
  l2["macspoofchk"] = true;
  Container x("ctr-spd-l2");
  auto add = host.add(x, l2);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  const std::string mac = add.json()["interfaces"][2]["mac"];
  EXPECT_THAT(host.nft(), HasSubstr("ether saddr != " + mac + " drop comment \"weir:spoofl2:ctr-spd-l2:eth0\""));
  EXPECT_EQ(host.check(x, l2).exit_code, 0) << host.check(x, l2).out;
  EXPECT_EQ(host.del(x, l2).exit_code, 0);
  EXPECT_EQ(host.nft(), "");
}

// The spoof check's batch refused by the kernel (a chain of another hook under its name), after
// the network's rules went in: ADD fails and rolls everything back, rules included.
TEST_F(BridgeFirewall, MacSpoofCheckRefusedRollsBack) {
  Host host;
  host.exec("nft 'add table bridge weir; add chain bridge weir prerouting "
            "{ type filter hook input priority 0; }'");
  json conf = bridge_conf(host, "spoofrb", "wbsp3", {"10.68.3.0/24"});
  conf["macspoofchk"] = true;
  Container a("ctr-sprb");
  auto r = host.add(a, conf);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.json().value("msg", ""), HasSubstr("add chain prerouting")) << r.out;
  EXPECT_FALSE(has(host.nft(), "weir:spoofrb")) << host.nft();
  EXPECT_FALSE(has(host.exec("nft list tables"), "table inet weir"));
  EXPECT_FALSE(host.link_exists("wbsp3"));
  EXPECT_EQ(host.veth_count(), 0);
  EXPECT_EQ(host.lease_count("spoofrb"), 0u);
  EXPECT_EQ(host.endpoint_count("spoofrb"), 0u);
}

// A network with a published port, a second container, and the outside client.
class PublishedPorts : public BridgeFirewall {
 protected:
  json conf(const std::string& proto, uint16_t host_port, std::optional<std::string> host_ip = {}) {
    json c = bridge_conf(host_, "pubnet", "wbpub", {"10.64.0.0/24"});
    c["isDefaultGateway"] = true;
    c["ipMasq"] = true;
    c["capabilities"] = {{"portMappings", true}};
    json m = {{"hostPort", host_port}, {"containerPort", 80}, {"protocol", proto}};
    if (host_ip) m["hostIP"] = *host_ip;
    c["runtimeConfig"] = {{"portMappings", json::array({m})}};
    return c;
  }
  Host host_;
};

TEST_F(PublishedPorts, TcpReachableFromEverywhereAndGoneAfterDel) {
  const auto out = host_.outside().name();
  Container web("ctr-web"), peer("ctr-peer");
  json c = conf("tcp", 8080);
  auto add = host_.add(web, c);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  json plain = conf("tcp", 8080);
  plain.erase("runtimeConfig");
  ASSERT_EQ(host_.add(peer, plain).exit_code, 0);
  const std::string w = web.ns.name();

  EXPECT_TRUE(reach(w, out, "192.0.2.1", 8080, "tcp", 15, 80)) << "from outside to a host address";
  EXPECT_TRUE(reach(w, host_.name(), "127.0.0.1", 8080, "tcp", 15, 80)) << "from the host to localhost";
  EXPECT_TRUE(reach(w, host_.name(), "192.0.2.1", 8080, "tcp", 15, 80)) << "from the host to its own address";
  EXPECT_TRUE(reach(w, peer.ns.name(), "192.0.2.1", 8080, "tcp", 15, 80)) << "from another container";
  EXPECT_TRUE(reach(w, w, "192.0.2.1", 8080, "tcp", 15, 80)) << "hairpin: from the container itself";

  // DEL without runtimeConfig removes exactly these rules; nothing answers any more.
  auto del = host_.del(web, plain);
  ASSERT_EQ(del.exit_code, 0) << del.out;
  EXPECT_FALSE(has(host_.nft(), "dport 8080"));
  EXPECT_FALSE(reach(w, out, "192.0.2.1", 8080, "tcp", 2, 80));
  EXPECT_EQ(host_.del(peer, plain).exit_code, 0);
}

TEST_F(PublishedPorts, UdpReachableAndGoneAfterDel) {
  const auto out = host_.outside().name();
  Container dns("ctr-udp");
  json c = conf("udp", 5353);
  ASSERT_EQ(host_.add(dns, c).exit_code, 0);
  const std::string d = dns.ns.name();
  EXPECT_TRUE(reach(d, out, "192.0.2.1", 5353, "udp", 15, 80));
  EXPECT_TRUE(reach(d, host_.name(), "127.0.0.1", 5353, "udp", 15, 80));
  EXPECT_TRUE(has(host_.nft(), "udp dport 5353 dnat ip to 10.64.0.2:80"));
  // TCP on the same port is not published.
  EXPECT_FALSE(reach(d, out, "192.0.2.1", 5353, "tcp", 2, 80));
  ASSERT_EQ(host_.del(dns, c).exit_code, 0);
  EXPECT_FALSE(has(host_.nft(), "5353"));
  EXPECT_FALSE(reach(d, out, "192.0.2.1", 5353, "udp", 3, 80));
}

TEST_F(PublishedPorts, BothFamiliesOnADualStackNetwork) {
  const auto out = host_.outside().name();
  Container web("ctr-ds-web");
  json c = conf("tcp", 8085);
  c["ipam"]["ranges"].push_back(json::array({{{"subnet", "fd00:64::/64"}}}));
  auto add = host_.add(web, c);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_TRUE(reach(web.ns.name(), out, "192.0.2.1", 8085, "tcp", 15, 80));
  EXPECT_TRUE(reach(web.ns.name(), out, "2001:db8:ff::1", 8085, "tcp", 15, 80));
  EXPECT_TRUE(has(host_.nft(), "dnat ip6 to [fd00:64::2]:80")) << host_.nft();
  EXPECT_EQ(host_.check(web, c).exit_code, 0);
  EXPECT_EQ(host_.del(web, c).exit_code, 0);
  EXPECT_EQ(host_.nft(), "");
}

TEST_F(PublishedPorts, HostIpLimitsTheAddress) {
  const auto out = host_.outside().name();
  host_.ip("addr add 192.0.2.11/24 dev wout");
  Container web("ctr-hostip");
  json c = conf("tcp", 8090, "192.0.2.11");
  ASSERT_EQ(host_.add(web, c).exit_code, 0);
  EXPECT_TRUE(reach(web.ns.name(), out, "192.0.2.11", 8090, "tcp", 15, 80));
  EXPECT_FALSE(reach(web.ns.name(), out, "192.0.2.1", 8090, "tcp", 2, 80));
  EXPECT_EQ(host_.del(web, c).exit_code, 0);
}

// A host port belongs to one container at a time, across networks (Docker: "port is already
// allocated"); the refused ADD leaves nothing behind.
TEST_F(PublishedPorts, AHostPortPublishedTwiceIsRefused) {
  Container a("ctr-dup-a"), b("ctr-dup-b"), u("ctr-dup-u"), o("ctr-dup-o");
  json ca = conf("tcp", 8110);
  auto add = host_.add(a, ca);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  const size_t leases = host_.lease_count("pubnet");
  const int veths = host_.veth_count();
  const std::string rules = host_.nft();

  auto twice = host_.add(b, conf("tcp", 8110));
  EXPECT_EQ(twice.exit_code, 1);
  EXPECT_EQ(twice.json()["code"], 103) << twice.out;
  EXPECT_THAT(twice.json()["msg"].get<std::string>(),
              AllOf(HasSubstr("8110/tcp is already published by container"), HasSubstr(a.id)))
      << twice.out;
  EXPECT_EQ(host_.lease_count("pubnet"), leases);
  EXPECT_EQ(host_.veth_count(), veths);
  EXPECT_FALSE(host_.endpoint("pubnet", b.id));
  EXPECT_EQ(host_.nft(), rules);

  // One host address of the ones a holds; another network of the host.
  host_.ip("addr add 192.0.2.11/24 dev wout");
  EXPECT_EQ(host_.add(b, conf("tcp", 8110, "192.0.2.11")).json()["code"], 103);
  json other = bridge_conf(host_, "pubnet2", "wbpub2", {"10.65.0.0/24"});
  other["capabilities"] = {{"portMappings", true}};
  other["runtimeConfig"] = {
      {"portMappings", json::array({{{"hostPort", 8110}, {"containerPort", 80}}})}};
  EXPECT_EQ(host_.add(o, other).json()["code"], 103);
  // The same number over UDP is another port; twice in one request is a bad config.
  json udp = conf("udp", 8110);
  ASSERT_EQ(host_.add(u, udp).exit_code, 0);
  json both = conf("tcp", 8111);
  both["runtimeConfig"]["portMappings"].push_back(both["runtimeConfig"]["portMappings"][0]);
  EXPECT_EQ(host_.add(b, both).json()["code"], 7);

  // Free again once a is gone.
  ASSERT_EQ(host_.del(a, ca).exit_code, 0);
  json cb = conf("tcp", 8110);
  auto again = host_.add(b, cb);
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_TRUE(reach(b.ns.name(), host_.outside().name(), "192.0.2.1", 8110, "tcp", 15, 80));
  EXPECT_EQ(host_.del(b, cb).exit_code, 0);
  EXPECT_EQ(host_.del(u, udp).exit_code, 0);
  EXPECT_EQ(host_.del(o, other).exit_code, 0);
}

TEST_F(PublishedPorts, DelRemovesOnlyItsOwnRules) {
  Container a("ctr-pa"), b("ctr-pb");
  json ca = conf("tcp", 8101);
  json cb = conf("tcp", 8102);
  ASSERT_EQ(host_.add(a, ca).exit_code, 0);
  ASSERT_EQ(host_.add(b, cb).exit_code, 0);
  json bare = ca;
  bare.erase("runtimeConfig");
  ASSERT_EQ(host_.del(a, bare).exit_code, 0);
  std::string rules = host_.nft();
  EXPECT_FALSE(has(rules, "dport 8101"));
  EXPECT_TRUE(has(rules, "dport 8102"));
  EXPECT_TRUE(has(rules, "comment \"weir:pubnet\""));  // the network's rules stay
  EXPECT_EQ(host_.check(b, cb).exit_code, 0);
  EXPECT_TRUE(reach(b.ns.name(), host_.outside().name(), "192.0.2.1", 8102, "tcp", 15, 80));
  ASSERT_EQ(host_.del(b, bare).exit_code, 0);
  EXPECT_EQ(host_.nft(), "");
}

}  // namespace
}  // namespace weir::test::bridge
