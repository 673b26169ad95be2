// lib/netlink link kinds, neighbours, FDB entries and sysctls against the real kernel. Every
// test gets two fresh netns, "host" and "ctr", removed with everything in them even when the
// test fails. `ip` and `bridge` are used only to check what the product did.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <net/if.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <optional>
#include <string>
#include <chrono>
#include <thread>
#include <vector>

#include "lib/netlink/netlink.hpp"
#include "lib/netns/netns.hpp"
#include "tests/support/netns.hpp"

namespace weir {
namespace {

using netlink::LinkInfo;
using netlink::MacvlanMode;
using netlink::Socket;
using ::testing::HasSubstr;
using ::testing::Not;

net::IpAddr ip(std::string_view text) {
  auto a = net::IpAddr::parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(net::IpAddr{});
}

net::Mac mac(std::string_view text) {
  auto m = net::Mac::parse(text);
  EXPECT_TRUE(m.has_value()) << text;
  return m.value_or(net::Mac{});
}

int count(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

class LinksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WEIR_REQUIRE_ROOT();
    host_ns_.emplace("host");
    ctr_ns_.emplace("ctr");
    auto h = netns::Handle::open(host_ns_->path());
    ASSERT_TRUE(h) << h.error().msg;
    host_.emplace(std::move(*h));
    auto c = netns::Handle::open(ctr_ns_->path());
    ASSERT_TRUE(c) << c.error().msg;
    ctr_.emplace(std::move(*c));
    auto hs = Socket::open_in(*host_);
    ASSERT_TRUE(hs) << hs.error().msg;
    hs_.emplace(std::move(*hs));
    auto cs = Socket::open_in(*ctr_);
    ASSERT_TRUE(cs) << cs.error().msg;
    cs_.emplace(std::move(*cs));
  }

  std::string ip_host(const std::string& args) {
    return test::sh("ip -n " + host_ns_->name() + " " + args + " 2>&1");
  }
  std::string ip_ctr(const std::string& args) {
    return test::sh("ip -n " + ctr_ns_->name() + " " + args + " 2>&1");
  }
  std::string bridge_host(const std::string& args) {
    return test::sh("bridge -n " + host_ns_->name() + " " + args + " 2>&1");
  }

  // The names of every link in a netns, by lib/netlink's own dump.
  static std::vector<std::string> link_names(Socket& sock) {
    std::vector<std::string> out;
    auto links = netlink::list_links(sock);
    EXPECT_TRUE(links) << links.error().msg;
    if (links) {
      for (const auto& l : *links) out.push_back(l.name);
    }
    return out;
  }
  static bool any_temporary(Socket& sock) {
    for (const auto& name : link_names(sock)) {
      if (name.starts_with("weirtmp")) return true;
    }
    return false;
  }

  // A veth pair with both ends in the host netns; returns the first end.
  LinkInfo host_veth(const std::string& a, const std::string& b,
                     std::optional<net::Mac> a_mac = std::nullopt) {
    auto pair = netlink::create_veth(
        *hs_, {.host_name = a, .peer_name = b, .peer_netns = nullptr, .host_mac = a_mac});
    EXPECT_TRUE(pair) << pair.error().msg;
    return pair ? pair->host : LinkInfo{};
  }

  // Declared first, destroyed last: sockets and handles go before their netns.
  std::optional<test::TestNetns> host_ns_;
  std::optional<test::TestNetns> ctr_ns_;
  std::optional<netns::Handle> host_;
  std::optional<netns::Handle> ctr_;
  std::optional<Socket> hs_;
  std::optional<Socket> cs_;
};

// ---- Bridge

TEST_F(LinksTest, BridgeIsCreatedUpAndFoundAgain) {
  const net::Mac pinned = mac("02:42:ac:11:00:01");
  bool created = false;
  auto br = netlink::ensure_bridge(*hs_, {.name = "wbr0", .mtu = 1400, .mac = pinned}, &created);
  ASSERT_TRUE(br) << br.error().msg;
  EXPECT_TRUE(created);
  EXPECT_EQ(br->name, "wbr0");
  EXPECT_EQ(br->kind, "bridge");
  EXPECT_TRUE(br->up);
  EXPECT_EQ(br->mtu, 1400u);
  EXPECT_EQ(br->mac, pinned);
  EXPECT_THAT(ip_host("-d link show wbr0"), HasSubstr("bridge forward_delay"));
  EXPECT_THAT(ip_host("-d link show wbr0"), HasSubstr("vlan_filtering 0"));

  // Idempotent: the same link, still up, also after someone took it down.
  ASSERT_TRUE(netlink::set_link_up(*hs_, br->index, false));
  auto again = netlink::ensure_bridge(*hs_, {.name = "wbr0", .mtu = 1400, .mac = pinned}, &created);
  ASSERT_TRUE(again) << again.error().msg;
  EXPECT_FALSE(created);
  EXPECT_EQ(again->index, br->index);
  EXPECT_TRUE(again->up);
  EXPECT_TRUE(netlink::get_link(*hs_, "wbr0")->up);
  EXPECT_EQ(count(ip_host("link show type bridge"), "wbr0"), 1);
}

TEST_F(LinksTest, BridgeVlanFiltering) {
  auto filtering = netlink::ensure_bridge(*hs_, {.name = "wbr1", .vlan_filtering = true});
  if (!filtering && filtering.error().sys_errno == EOPNOTSUPP) {
    // A kernel without CONFIG_BRIDGE_VLAN_FILTERING: the request fails whole, nothing is left.
    EXPECT_THAT(filtering.error().msg, HasSubstr("with vlan_filtering"));
    EXPECT_FALSE(netlink::get_link(*hs_, "wbr1"));
    GTEST_SKIP() << "kernel without bridge VLAN filtering: " << filtering.error().msg;
  }
  ASSERT_TRUE(filtering) << filtering.error().msg;
  EXPECT_THAT(ip_host("-d link show wbr1"), HasSubstr("vlan_filtering 1"));
  // An existing bridge gets vlan_filtering on when asked.
  ASSERT_TRUE(netlink::ensure_bridge(*hs_, {.name = "wbr0"}));
  ASSERT_TRUE(netlink::ensure_bridge(*hs_, {.name = "wbr0", .vlan_filtering = true}));
  EXPECT_THAT(ip_host("-d link show wbr0"), HasSubstr("vlan_filtering 1"));
}

TEST_F(LinksTest, BridgeNameTakenByAnotherKindIsInvalidConfig) {
  ASSERT_GT(host_veth("wbr9", "wbr9p").index, 0);
  auto br = netlink::ensure_bridge(*hs_, {.name = "wbr9"});
  ASSERT_FALSE(br);
  EXPECT_EQ(br.error().code, cni::Code::kInvalidConfig);
  EXPECT_THAT(br.error().msg, HasSubstr("\"wbr9\" exists and is a veth, not a bridge"));
  EXPECT_THAT(ip_host("-d link show wbr9"), HasSubstr("veth"));

  auto bad = netlink::ensure_bridge(*hs_, {.name = "no/slash"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, cni::Code::kInvalidConfig);
  EXPECT_EQ(bad.error().sys_errno, EINVAL);
}

TEST_F(LinksTest, PinnedBridgeMacStaysWhenAPortJoins) {
  const net::Mac pinned = mac("02:ff:ff:ff:ff:01");
  const net::Mac low = mac("02:00:00:00:00:01");
  auto pinned_br = netlink::ensure_bridge(*hs_, {.name = "wbr0", .mac = pinned});
  auto free_br = netlink::ensure_bridge(*hs_, {.name = "wbr1"});
  ASSERT_TRUE(pinned_br && free_br);
  LinkInfo p0 = host_veth("wp0", "wq0", low);
  LinkInfo p1 = host_veth("wp1", "wq1", low);
  ASSERT_TRUE(netlink::set_master(*hs_, p0.index, pinned_br->index));
  ASSERT_TRUE(netlink::set_master(*hs_, p1.index, free_br->index));
  EXPECT_EQ(netlink::get_link(*hs_, "wbr0")->mac, pinned);
  // Without a pinned address the bridge takes its lowest port MAC: what the pin prevents.
  EXPECT_EQ(netlink::get_link(*hs_, "wbr1")->mac, low);
}

// ---- Veth

TEST_F(LinksTest, VethPeerIsBornInTheContainerWithItsFinalName) {
  // The host netns has an "eth0" of its own: names are per netns, and the peer is never there.
  ASSERT_GT(host_veth("eth0", "eth0p").index, 0);
  const std::string host_name = netlink::veth_name("ctr1", "eth0");
  const net::Mac peer_mac = mac("02:00:00:aa:bb:01");
  const net::Mac host_mac = mac("02:00:00:aa:bb:02");
  auto pair = netlink::create_veth(*hs_, {.host_name = host_name,
                                          .peer_name = "eth0",
                                          .peer_netns = &*ctr_,
                                          .mtu = 1400,
                                          .peer_mac = peer_mac,
                                          .host_mac = host_mac});
  ASSERT_TRUE(pair) << pair.error().msg;
  EXPECT_EQ(pair->host.name, host_name);
  EXPECT_EQ(pair->host.kind, "veth");
  EXPECT_TRUE(pair->host.up);
  EXPECT_EQ(pair->host.mtu, 1400u);
  EXPECT_EQ(pair->host.mac, host_mac);
  EXPECT_EQ(pair->peer_mac, peer_mac);
  EXPECT_EQ(pair->host.link, pair->peer_index);

  auto peer = netlink::get_link(*cs_, "eth0");
  ASSERT_TRUE(peer) << peer.error().msg;
  EXPECT_EQ(peer->index, pair->peer_index);
  EXPECT_EQ(peer->kind, "veth");
  EXPECT_EQ(peer->mac, peer_mac);
  EXPECT_EQ(peer->mtu, 1400u);
  EXPECT_FALSE(peer->up);
  EXPECT_EQ(peer->link, pair->host.index);
  EXPECT_THAT(ip_ctr("link show eth0"), HasSubstr(peer_mac.str()));
  EXPECT_THAT(ip_host("link show " + host_name), HasSubstr(host_mac.str()));
  // The host's own eth0 is untouched and still the veth it was.
  EXPECT_EQ(netlink::get_link(*hs_, "eth0")->link, netlink::get_link(*hs_, "eth0p")->index);
}

TEST_F(LinksTest, VethHostEndCanBeBornOnABridge) {
  auto br = netlink::ensure_bridge(*hs_, {.name = "wbr5"});
  ASSERT_TRUE(br) << br.error().msg;
  auto pair = netlink::create_veth(
      *hs_, {.host_name = "vh5", .peer_name = "eth0", .peer_netns = &*ctr_, .host_master = br->index});
  ASSERT_TRUE(pair) << pair.error().msg;
  EXPECT_EQ(pair->host.master, br->index);
  EXPECT_TRUE(pair->host.up);
  EXPECT_THAT(ip_host("link show vh5"), HasSubstr("master wbr5"));
  // A master that does not exist fails the whole request: no half-made pair.
  auto bad = netlink::create_veth(
      *hs_, {.host_name = "vh6", .peer_name = "eth1", .peer_netns = &*ctr_, .host_master = 99999});
  ASSERT_FALSE(bad);
  EXPECT_FALSE(netlink::get_link(*hs_, "vh6"));
  EXPECT_FALSE(netlink::get_link(*cs_, "eth1"));
}

TEST_F(LinksTest, VethHostEndWithoutIpv6LinkLocalAddress) {
  auto pair = netlink::create_veth(
      *hs_, {.host_name = "vh7", .peer_name = "eth0", .peer_netns = &*ctr_, .host_without_ipv6_lladdr = true});
  ASSERT_TRUE(pair) << pair.error().msg;
  EXPECT_TRUE(pair->host.up);
  EXPECT_TRUE(netlink::get_link(*hs_, "vh7")->up);
  ASSERT_TRUE(netlink::set_link_up(*cs_, pair->peer_index, true));  // carrier on both ends
  // A control pair made the default way gets its link-local address once it has carrier:
  // wait for that, then vh7 has had the same chance.
  auto control = netlink::create_veth(*hs_, {.host_name = "vh8", .peer_name = "eth1", .peer_netns = &*ctr_});
  ASSERT_TRUE(control) << control.error().msg;
  ASSERT_TRUE(netlink::set_link_up(*cs_, control->peer_index, true));
  for (int i = 0; i < 60 && ip_host("-6 addr show dev vh8").find("inet6 fe80") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_THAT(ip_host("-6 addr show dev vh8"), HasSubstr("inet6 fe80"));
  EXPECT_THAT(ip_host("-d link show vh7"), HasSubstr("addrgenmode none"));
  EXPECT_THAT(ip_host("-6 addr show dev vh7"), Not(HasSubstr("inet6")));
  EXPECT_THAT(ip_host("-6 route show table all dev vh7"), Not(HasSubstr("fe80::/64")));
  // The peer is a normal IPv6 link.
  EXPECT_THAT(ip_ctr("-d link show eth0"), Not(HasSubstr("addrgenmode none")));
}

TEST_F(LinksTest, VethWithoutMacsReportsThePeerMacItGot) {
  auto pair =
      netlink::create_veth(*hs_, {.host_name = "vh0", .peer_name = "eth0", .peer_netns = &*ctr_});
  ASSERT_TRUE(pair) << pair.error().msg;
  auto peer = netlink::get_link(*cs_, "eth0");
  ASSERT_TRUE(peer);
  EXPECT_EQ(peer->mac, pair->peer_mac);
  EXPECT_FALSE(pair->peer_mac.is_zero());
  EXPECT_EQ(pair->peer_mac.data()[0] & 0x03, 0x02);  // unicast, locally administered
  EXPECT_EQ(peer->mtu, 1500u);
}

TEST_F(LinksTest, VethNameTakenIsEexistNamingIt) {
  ASSERT_TRUE(
      netlink::create_veth(*hs_, {.host_name = "vh0", .peer_name = "eth0", .peer_netns = &*ctr_}));

  auto host_taken =
      netlink::create_veth(*hs_, {.host_name = "vh0", .peer_name = "eth1", .peer_netns = &*ctr_});
  ASSERT_FALSE(host_taken);
  EXPECT_EQ(host_taken.error().sys_errno, EEXIST);
  EXPECT_THAT(host_taken.error().msg, HasSubstr("link \"vh0\" already exists: File exists"));

  auto peer_taken =
      netlink::create_veth(*hs_, {.host_name = "vh1", .peer_name = "eth0", .peer_netns = &*ctr_});
  ASSERT_FALSE(peer_taken);
  EXPECT_EQ(peer_taken.error().sys_errno, EEXIST);
  EXPECT_THAT(peer_taken.error().msg,
              HasSubstr("link \"eth0\" already exists in netns \"" + ctr_ns_->path() + "\""));
  // Nothing half-made is left behind.
  EXPECT_FALSE(netlink::get_link(*hs_, "vh1"));
  EXPECT_FALSE(netlink::get_link(*cs_, "eth1"));
}

// ---- Generic link changes

TEST_F(LinksTest, EnslaveHairpinAndPromisc) {
  auto br = netlink::ensure_bridge(*hs_, {.name = "wbr0"});
  ASSERT_TRUE(br) << br.error().msg;
  auto pair =
      netlink::create_veth(*hs_, {.host_name = "vh0", .peer_name = "eth0", .peer_netns = &*ctr_});
  ASSERT_TRUE(pair) << pair.error().msg;
  const int port = pair->host.index;

  // Hairpin needs a bridge port: the kernel says EOPNOTSUPP before.
  auto early = netlink::set_bridge_port_hairpin(*hs_, port, true);
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().sys_errno, EOPNOTSUPP);

  auto enslaved = netlink::set_master(*hs_, port, br->index);
  ASSERT_TRUE(enslaved) << enslaved.error().msg;
  EXPECT_EQ(netlink::get_link(*hs_, port)->master, br->index);
  EXPECT_THAT(ip_host("link show vh0"), HasSubstr("master wbr0"));

  auto hairpin = netlink::set_bridge_port_hairpin(*hs_, port, true);
  ASSERT_TRUE(hairpin) << hairpin.error().msg;
  EXPECT_THAT(bridge_host("-d link show dev vh0"), HasSubstr("hairpin on"));
  ASSERT_TRUE(netlink::set_bridge_port_hairpin(*hs_, port, false));
  EXPECT_THAT(bridge_host("-d link show dev vh0"), HasSubstr("hairpin off"));

  ASSERT_TRUE(netlink::set_promisc(*hs_, port, true));
  EXPECT_TRUE(netlink::get_link(*hs_, port)->flags & IFF_PROMISC);
  EXPECT_THAT(ip_host("link show vh0"), HasSubstr("PROMISC"));
  ASSERT_TRUE(netlink::set_promisc(*hs_, port, false));
  EXPECT_THAT(ip_host("link show vh0"), Not(HasSubstr("PROMISC")));
  EXPECT_TRUE(netlink::get_link(*hs_, port)->up);  // other flags untouched

  ASSERT_TRUE(netlink::set_master(*hs_, port, 0));
  EXPECT_EQ(netlink::get_link(*hs_, port)->master, 0);
  EXPECT_THAT(ip_host("link show vh0"), Not(HasSubstr("master")));
}

TEST_F(LinksTest, MtuMacAliasRenameAndMove) {
  LinkInfo a = host_veth("wa0", "wb0");
  ASSERT_GT(a.index, 0);
  ASSERT_TRUE(netlink::set_mtu(*hs_, a.index, 1300));
  EXPECT_EQ(netlink::get_link(*hs_, a.index)->mtu, 1300u);
  const net::Mac m = mac("02:11:22:33:44:55");
  ASSERT_TRUE(netlink::set_mac(*hs_, a.index, m));
  EXPECT_EQ(netlink::get_link(*hs_, a.index)->mac, m);

  ASSERT_TRUE(netlink::set_link_alias(*hs_, a.index, "weir ctr1/eth0"));
  EXPECT_EQ(netlink::get_link(*hs_, a.index)->alias, "weir ctr1/eth0");
  EXPECT_THAT(ip_host("link show wa0"), HasSubstr("alias weir ctr1/eth0"));
  ASSERT_TRUE(netlink::set_link_alias(*hs_, a.index, ""));
  EXPECT_EQ(netlink::get_link(*hs_, a.index)->alias, "");
  EXPECT_THAT(ip_host("link show wa0"), Not(HasSubstr("alias")));

  ASSERT_TRUE(netlink::set_link_up(*hs_, a.index, false));
  auto renamed = netlink::rename_link(*hs_, a.index, "wa1");
  ASSERT_TRUE(renamed) << renamed.error().msg;
  EXPECT_EQ(netlink::get_link(*hs_, a.index)->name, "wa1");
  auto taken = netlink::rename_link(*hs_, a.index, "wb0");
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().sys_errno, EEXIST);
  auto bad = netlink::rename_link(*hs_, a.index, "a name");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, cni::Code::kInvalidConfig);

  // Move the other end into the container, renamed on the way.
  auto b = netlink::get_link(*hs_, "wb0");
  ASSERT_TRUE(b);
  auto moved = netlink::move_link_to_netns(*hs_, b->index, *ctr_, "eth1");
  ASSERT_TRUE(moved) << moved.error().msg;
  EXPECT_FALSE(netlink::get_link(*hs_, "wb0"));
  auto in_ctr = netlink::get_link(*cs_, "eth1");
  ASSERT_TRUE(in_ctr) << in_ctr.error().msg;
  EXPECT_EQ(in_ctr->kind, "veth");
  // And back, keeping its name.
  ASSERT_TRUE(netlink::move_link_to_netns(*cs_, in_ctr->index, *host_));
  EXPECT_TRUE(netlink::get_link(*hs_, "eth1"));

  auto missing = netlink::set_mtu(*hs_, 4242, 1400);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().sys_errno, ENODEV);
  EXPECT_EQ(missing.error().msg, "set mtu of link ifindex 4242 to 1400: No such device");
}

// Regression: the kernel moves the link under its current name, then renames it (do_setlink), so
// a new name taken in the target used to leave the link there under its old name.
TEST_F(LinksTest, MoveToATakenNameLeavesTheLinkWhereItWas) {
  LinkInfo a = host_veth("wa0", "wb0");
  ASSERT_GT(a.index, 0);
  ASSERT_TRUE(netlink::set_link_alias(*hs_, a.index, "weir-host-device:wa0"));
  ASSERT_TRUE(netlink::set_link_up(*hs_, a.index, true));
  ASSERT_TRUE(
      netlink::create_veth(*hs_, {.host_name = "vh0", .peer_name = "eth0", .peer_netns = &*ctr_}));
  const auto ctr_before = link_names(*cs_);

  auto moved = netlink::move_link_to_netns(*hs_, a.index, *ctr_, "eth0");
  ASSERT_FALSE(moved);
  EXPECT_EQ(moved.error().sys_errno, EEXIST);
  EXPECT_THAT(moved.error().msg, HasSubstr("as \"eth0\""));
  EXPECT_TRUE(moved.error().details.empty()) << moved.error().details;
  auto back = netlink::get_link(*hs_, "wa0");
  ASSERT_TRUE(back) << back.error().msg;
  EXPECT_EQ(back->kind, "veth");
  EXPECT_EQ(back->alias, "weir-host-device:wa0");
  EXPECT_TRUE(back->up);  // a move takes it down; it was up
  EXPECT_FALSE(netlink::get_link(*cs_, "wa0"));
  EXPECT_EQ(link_names(*cs_), ctr_before);
  EXPECT_EQ(netlink::get_link(*cs_, "eth0")->kind, "veth");

  // Its own name is taken in the target too: the kernel refuses before moving anything.
  ASSERT_TRUE(
      netlink::create_veth(*hs_, {.host_name = "vh1", .peer_name = "wa0", .peer_netns = &*ctr_}));
  ASSERT_TRUE(netlink::set_link_up(*hs_, back->index, false));
  auto refused = netlink::move_link_to_netns(*hs_, back->index, *ctr_, "eth0");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().sys_errno, EEXIST);
  auto still = netlink::get_link(*hs_, "wa0");
  ASSERT_TRUE(still) << still.error().msg;
  EXPECT_EQ(still->index, back->index);
  EXPECT_FALSE(still->up);
  EXPECT_EQ(netlink::get_link(*cs_, "wa0")->kind, "veth");
  EXPECT_EQ(netlink::get_link(*cs_, "wa0")->alias, "");

  // A free name works, and the moved link keeps neither its old name nor a copy here.
  ASSERT_TRUE(netlink::move_link_to_netns(*hs_, still->index, *ctr_, "eth9"));
  EXPECT_FALSE(netlink::get_link(*hs_, "wa0"));
  EXPECT_EQ(netlink::get_link(*cs_, "eth9")->alias, "weir-host-device:wa0");
}

// ---- Listing

TEST_F(LinksTest, ListLinksReturnsEveryLinkWithItsKindAndMacvlanMode) {
  LinkInfo parent = host_veth("wp0", "wq0");
  ASSERT_GT(parent.index, 0);
  ASSERT_TRUE(netlink::ensure_bridge(*hs_, {.name = "wbr0"}));
  int n = 0;
  for (MacvlanMode mode : {MacvlanMode::kBridge, MacvlanMode::kPrivate, MacvlanMode::kVepa}) {
    auto mv = netlink::create_macvlan(
        *hs_, {.parent = parent.index, .mode = mode, .name = "mv" + std::to_string(n++)});
    ASSERT_TRUE(mv) << mv.error().msg;
    EXPECT_EQ(mv->macvlan_mode, mode);
    EXPECT_EQ(netlink::get_link(*hs_, mv->index)->macvlan_mode, mode);
  }
  auto links = netlink::list_links(*hs_);
  ASSERT_TRUE(links) << links.error().msg;
  std::map<std::string, LinkInfo> by_name;
  for (const auto& l : *links) by_name[l.name] = l;
  EXPECT_EQ(by_name.size(), links->size());  // one entry per link
  for (const char* name : {"lo", "wp0", "wq0", "wbr0", "mv0", "mv1", "mv2"}) {
    EXPECT_TRUE(by_name.contains(name)) << name;
  }
  EXPECT_TRUE(by_name["lo"].flags & IFF_LOOPBACK);
  EXPECT_EQ(by_name["wp0"].kind, "veth");
  EXPECT_EQ(by_name["wp0"].index, parent.index);
  EXPECT_EQ(by_name["wp0"].mac, parent.mac);
  EXPECT_EQ(by_name["wp0"].macvlan_mode, std::nullopt);
  EXPECT_EQ(by_name["wbr0"].kind, "bridge");
  EXPECT_EQ(by_name["wbr0"].macvlan_mode, std::nullopt);
  EXPECT_EQ(by_name["mv0"].kind, "macvlan");
  EXPECT_EQ(by_name["mv0"].link, parent.index);
  EXPECT_EQ(by_name["mv0"].macvlan_mode, MacvlanMode::kBridge);
  EXPECT_EQ(by_name["mv1"].macvlan_mode, MacvlanMode::kPrivate);
  EXPECT_EQ(by_name["mv2"].macvlan_mode, MacvlanMode::kVepa);
  // Each listed link reads back the same on its own.
  for (const auto& l : *links) {
    auto one = netlink::get_link(*hs_, l.index);
    ASSERT_TRUE(one) << l.name;
    EXPECT_EQ(one->name, l.name);
    EXPECT_EQ(one->kind, l.kind);
    EXPECT_EQ(one->mac, l.mac);
  }
  // A fresh netns: its loopback (and whatever fallback tunnels the loaded modules add).
  const auto fresh = link_names(*cs_);
  EXPECT_NE(std::find(fresh.begin(), fresh.end(), "lo"), fresh.end());
  EXPECT_EQ(std::find(fresh.begin(), fresh.end(), "wp0"), fresh.end());
}

TEST_F(LinksTest, DelLinkTwice) {
  LinkInfo a = host_veth("wa0", "wb0");
  ASSERT_GT(a.index, 0);
  for (int i = 0; i < 2; ++i) {
    auto ok = netlink::del_link(*hs_, "wa0");
    ASSERT_TRUE(ok) << ok.error().msg;
  }
  EXPECT_FALSE(netlink::get_link(*hs_, "wb0"));  // the pair goes together

  LinkInfo c = host_veth("wc0", "wd0");
  ASSERT_GT(c.index, 0);
  for (int i = 0; i < 2; ++i) {
    auto ok = netlink::del_link(*hs_, c.index);
    ASSERT_TRUE(ok) << ok.error().msg;
  }
  EXPECT_FALSE(netlink::get_link(*hs_, "wc0"));
  EXPECT_EQ(netlink::del_link(*hs_, "").error().code, cni::Code::kInvalidConfig);
}

// ---- Macvlan

TEST_F(LinksTest, MacvlanInEveryModeIsMovedAndRenamedIntoTheContainer) {
  // The parent is called eth0 too, as on many hosts: the child's final name must never be
  // checked in the host netns.
  LinkInfo parent = host_veth("eth0", "wpeer0");
  ASSERT_GT(parent.index, 0);
  int n = 0;
  for (MacvlanMode mode : {MacvlanMode::kBridge, MacvlanMode::kPrivate, MacvlanMode::kVepa}) {
    SCOPED_TRACE(std::string(netlink::to_string(mode)));
    const net::Mac m = mac("02:00:00:00:0" + std::to_string(++n) + ":01");
    auto mv = netlink::create_macvlan(*hs_, {.parent = parent.index,
                                             .mode = mode,
                                             .mtu = 1400,
                                             .mac = m,
                                             .netns = &*ctr_,
                                             .name = "eth0"});
    ASSERT_TRUE(mv) << mv.error().msg;
    EXPECT_EQ(mv->name, "eth0");
    EXPECT_EQ(mv->kind, "macvlan");
    EXPECT_EQ(mv->mac, m);
    EXPECT_EQ(mv->mtu, 1400u);
    EXPECT_EQ(mv->link, parent.index);
    EXPECT_FALSE(mv->up);
    auto seen = netlink::get_link(*cs_, "eth0");
    ASSERT_TRUE(seen);
    EXPECT_EQ(seen->index, mv->index);
    EXPECT_THAT(ip_ctr("-d link show eth0"),
                HasSubstr("macvlan mode " + std::string(netlink::to_string(mode))));
    EXPECT_THAT(ip_host("link show"), Not(HasSubstr("weirtmp")));
    EXPECT_EQ(netlink::get_link(*hs_, "eth0")->kind, "veth");
    ASSERT_TRUE(netlink::del_link(*cs_, "eth0"));
  }
}

TEST_F(LinksTest, MacvlanPassthruTakesTheWholeParent) {
  LinkInfo parent = host_veth("wp0", "wq0");
  ASSERT_GT(parent.index, 0);
  auto first = netlink::create_macvlan(
      *hs_,
      {.parent = parent.index, .mode = MacvlanMode::kPassthru, .netns = &*ctr_, .name = "eth0"});
  ASSERT_TRUE(first) << first.error().msg;
  EXPECT_THAT(ip_ctr("-d link show eth0"), HasSubstr("macvlan mode passthru"));

  auto second = netlink::create_macvlan(
      *hs_,
      {.parent = parent.index, .mode = MacvlanMode::kPassthru, .netns = &*ctr_, .name = "eth1"});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().sys_errno, EINVAL);
  auto bridged = netlink::create_macvlan(
      *hs_,
      {.parent = parent.index, .mode = MacvlanMode::kBridge, .netns = &*ctr_, .name = "eth1"});
  ASSERT_FALSE(bridged);
  EXPECT_EQ(bridged.error().sys_errno, EINVAL);
  EXPECT_FALSE(netlink::get_link(*cs_, "eth1"));
  EXPECT_THAT(ip_host("link show"), Not(HasSubstr("weirtmp")));
}

TEST_F(LinksTest, MacvlanFailuresLeaveNothingBehind) {
  LinkInfo parent = host_veth("wp0", "wq0");
  ASSERT_GT(parent.index, 0);

  // The final name is taken in the container: the rename fails, the temporary link is deleted.
  ASSERT_TRUE(
      netlink::create_veth(*hs_, {.host_name = "vh0", .peer_name = "eth0", .peer_netns = &*ctr_}));
  auto taken =
      netlink::create_macvlan(*hs_, {.parent = parent.index, .netns = &*ctr_, .name = "eth0"});
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().sys_errno, EEXIST);
  EXPECT_THAT(taken.error().msg, HasSubstr("as \"eth0\": File exists"));
  EXPECT_THAT(ip_host("link show"), Not(HasSubstr("weirtmp")));
  EXPECT_EQ(netlink::get_link(*cs_, "eth0")->kind, "veth");

  // More MTU than the parent: the kernel refuses at creation.
  auto big = netlink::create_macvlan(
      *hs_, {.parent = parent.index, .mtu = 9000, .netns = &*ctr_, .name = "eth1"});
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().sys_errno, EINVAL);
  EXPECT_THAT(ip_host("link show"), Not(HasSubstr("weirtmp")));

  auto no_parent = netlink::create_macvlan(*hs_, {.parent = 4242, .netns = &*ctr_, .name = "eth1"});
  ASSERT_FALSE(no_parent);
  EXPECT_EQ(no_parent.error().sys_errno, ENODEV);
  EXPECT_FALSE(netlink::get_link(*cs_, "eth1"));
}

// Regression: the temporary link used to be moved into the container first and renamed there
// (do_setlink), so a taken name left "weirtmp..." in the container while the cleanup, run on the
// host socket, found nothing to delete.
TEST_F(LinksTest, MacvlanWithATakenNameLeavesNoTemporaryLinkInEitherNetns) {
  LinkInfo parent = host_veth("wp0", "wq0");
  ASSERT_GT(parent.index, 0);
  ASSERT_TRUE(
      netlink::create_veth(*hs_, {.host_name = "vh0", .peer_name = "eth0", .peer_netns = &*ctr_}));
  const auto ctr_before = link_names(*cs_);
  const auto host_before = link_names(*hs_);
  for (MacvlanMode mode : {MacvlanMode::kBridge, MacvlanMode::kPassthru}) {
    SCOPED_TRACE(std::string(netlink::to_string(mode)));
    auto taken = netlink::create_macvlan(
        *hs_, {.parent = parent.index, .mode = mode, .netns = &*ctr_, .name = "eth0"});
    ASSERT_FALSE(taken);
    EXPECT_EQ(taken.error().sys_errno, EEXIST);
    EXPECT_THAT(taken.error().msg, HasSubstr("\"eth0\""));
    EXPECT_TRUE(taken.error().details.empty()) << taken.error().details;
    EXPECT_FALSE(any_temporary(*cs_));
    EXPECT_FALSE(any_temporary(*hs_));
    EXPECT_THAT(ip_ctr("link show"), Not(HasSubstr("weirtmp")));
    EXPECT_THAT(ip_host("link show"), Not(HasSubstr("weirtmp")));
    EXPECT_EQ(link_names(*cs_), ctr_before);
    EXPECT_EQ(link_names(*hs_), host_before);
    EXPECT_EQ(netlink::get_link(*cs_, "eth0")->kind, "veth");
  }
  // The parent is free again: passthru, which needs it to itself, now works.
  auto mv = netlink::create_macvlan(
      *hs_,
      {.parent = parent.index, .mode = MacvlanMode::kPassthru, .netns = &*ctr_, .name = "eth1"});
  ASSERT_TRUE(mv) << mv.error().msg;
  EXPECT_EQ(mv->macvlan_mode, MacvlanMode::kPassthru);
}

TEST_F(LinksTest, MacvlanInTheParentsNetns) {
  LinkInfo parent = host_veth("wp0", "wq0");
  ASSERT_GT(parent.index, 0);
  auto mv = netlink::create_macvlan(
      *hs_, {.parent = parent.index, .mode = MacvlanMode::kPrivate, .name = "mv0"});
  ASSERT_TRUE(mv) << mv.error().msg;
  EXPECT_EQ(netlink::get_link(*hs_, "mv0")->index, mv->index);
  EXPECT_THAT(ip_host("-d link show mv0"), HasSubstr("macvlan mode private"));
}

// ---- VXLAN

TEST_F(LinksTest, VxlanIsCreatedAndVerified) {
  LinkInfo underlay = host_veth("wu0", "wu1");
  ASSERT_GT(underlay.index, 0);
  const netlink::VxlanSpec spec{
      .name = "vx0", .vni = 42, .local = ip("10.0.0.1"), .underlay = underlay.index, .mtu = 1400};
  auto vx = netlink::ensure_vxlan(*hs_, spec);
  ASSERT_TRUE(vx) << vx.error().msg;
  EXPECT_EQ(vx->kind, "vxlan");
  EXPECT_EQ(vx->mtu, 1400u);
  EXPECT_TRUE(vx->up);
  const std::string shown = ip_host("-d link show vx0");
  EXPECT_THAT(shown, HasSubstr("vxlan id 42 local 10.0.0.1 dev wu0"));
  EXPECT_THAT(shown, HasSubstr("dstport 4789"));
  EXPECT_THAT(shown, HasSubstr("nolearning"));

  auto again = netlink::ensure_vxlan(*hs_, spec);
  ASSERT_TRUE(again) << again.error().msg;
  EXPECT_EQ(again->index, vx->index);

  netlink::VxlanSpec other = spec;
  other.vni = 43;
  other.learning = true;
  auto mismatch = netlink::ensure_vxlan(*hs_, other);
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().code, cni::Code::kInvalidConfig);
  EXPECT_THAT(mismatch.error().msg, HasSubstr("vni 42 instead of 43"));
  EXPECT_THAT(mismatch.error().msg, HasSubstr("learning off"));

  ASSERT_TRUE(netlink::ensure_bridge(*hs_, {.name = "wbr0"}));
  auto not_vxlan = netlink::ensure_vxlan(*hs_, {.name = "wbr0", .vni = 42});
  ASSERT_FALSE(not_vxlan);
  EXPECT_EQ(not_vxlan.error().code, cni::Code::kInvalidConfig);
  EXPECT_THAT(not_vxlan.error().msg, HasSubstr("is a bridge, not a vxlan"));

  // Defaults: no local, no underlay, learning on when asked, another port.
  auto plain =
      netlink::ensure_vxlan(*hs_, {.name = "vx1", .vni = 7, .port = 8472, .learning = true});
  ASSERT_TRUE(plain) << plain.error().msg;
  EXPECT_THAT(ip_host("-d link show vx1"), HasSubstr("dstport 8472"));
  EXPECT_THAT(ip_host("-d link show vx1"), Not(HasSubstr("nolearning")));
  EXPECT_TRUE(
      netlink::ensure_vxlan(*hs_, {.name = "vx1", .vni = 7, .port = 8472, .learning = true}));

  auto v6 = netlink::ensure_vxlan(*hs_, {.name = "vx6", .vni = 8, .local = ip("fd00::1")});
  ASSERT_TRUE(v6) << v6.error().msg;
  EXPECT_THAT(ip_host("-d link show vx6"), HasSubstr("local fd00::1"));
  EXPECT_TRUE(netlink::ensure_vxlan(*hs_, {.name = "vx6", .vni = 8, .local = ip("fd00::1")}));
}

// ---- Neighbours and FDB

TEST_F(LinksTest, NeighbourReplaceAndDelete) {
  LinkInfo a = host_veth("wa0", "wb0");
  ASSERT_GT(a.index, 0);
  for (const char* addr : {"10.1.0.9", "fd00:1::9"}) {
    SCOPED_TRACE(addr);
    const net::IpAddr n = ip(addr);
    auto ok = netlink::replace_neigh(*hs_, a.index, n, mac("02:00:00:00:00:01"));
    ASSERT_TRUE(ok) << ok.error().msg;
    ok = netlink::replace_neigh(*hs_, a.index, n, mac("02:00:00:00:00:02"));
    ASSERT_TRUE(ok) << ok.error().msg;
    const std::string shown = ip_host("neigh show dev wa0");
    EXPECT_THAT(shown, HasSubstr(std::string(addr) + " lladdr 02:00:00:00:00:02 PERMANENT"));
    EXPECT_EQ(count(shown, std::string(addr) + " "), 1);
    for (int i = 0; i < 2; ++i) {
      auto del = netlink::del_neigh(*hs_, a.index, n);
      ASSERT_TRUE(del) << del.error().msg;
    }
    EXPECT_THAT(ip_host("neigh show dev wa0"), Not(HasSubstr(std::string(addr) + " ")));
  }
  EXPECT_TRUE(netlink::del_neigh(*hs_, 4242, ip("10.1.0.9")));
  auto missing_link = netlink::replace_neigh(*hs_, 4242, ip("10.1.0.9"), mac("02:00:00:00:00:01"));
  ASSERT_FALSE(missing_link);
  EXPECT_EQ(missing_link.error().sys_errno, ENODEV);
}

TEST_F(LinksTest, FdbReplaceAndDelete) {
  auto vx = netlink::ensure_vxlan(*hs_, {.name = "vx0", .vni = 42, .local = ip("10.0.0.1")});
  ASSERT_TRUE(vx) << vx.error().msg;
  const net::Mac m = mac("02:42:0a:00:00:05");
  auto ok = netlink::replace_fdb(*hs_, vx->index, m, ip("10.0.0.2"));
  ASSERT_TRUE(ok) << ok.error().msg;
  ASSERT_TRUE(netlink::replace_fdb(*hs_, vx->index, m, ip("10.0.0.2")));
  EXPECT_THAT(bridge_host("fdb show dev vx0"),
              HasSubstr("02:42:0a:00:00:05 dst 10.0.0.2 self permanent"));
  // Replace moves the entry to the new VTEP; it does not add a second remote.
  ASSERT_TRUE(netlink::replace_fdb(*hs_, vx->index, m, ip("10.0.0.3")));
  std::string shown = bridge_host("fdb show dev vx0");
  EXPECT_THAT(shown, HasSubstr("02:42:0a:00:00:05 dst 10.0.0.3 self permanent"));
  EXPECT_THAT(shown, Not(HasSubstr("10.0.0.2")));

  // With a VTEP that is not the entry's: nothing to delete, which is success.
  ASSERT_TRUE(netlink::del_fdb(*hs_, vx->index, m, ip("10.0.0.2")));
  EXPECT_THAT(bridge_host("fdb show dev vx0"), HasSubstr("dst 10.0.0.3"));
  for (int i = 0; i < 2; ++i) {
    auto del = netlink::del_fdb(*hs_, vx->index, m);
    ASSERT_TRUE(del) << del.error().msg;
  }
  EXPECT_THAT(bridge_host("fdb show dev vx0"), Not(HasSubstr("02:42:0a:00:00:05")));

  ASSERT_TRUE(netlink::replace_fdb(*hs_, vx->index, m, ip("10.0.0.4")));
  ASSERT_TRUE(netlink::del_fdb(*hs_, vx->index, m, ip("10.0.0.4")));
  EXPECT_THAT(bridge_host("fdb show dev vx0"), Not(HasSubstr("02:42:0a:00:00:05")));
  EXPECT_TRUE(netlink::del_fdb(*hs_, 4242, m));
}

// ---- Sysctls

TEST_F(LinksTest, SysctlsActInTheNetnsTheyAreGiven) {
  // This process's own netns stands for the real host: its values must not move.
  auto own = netlink::get_sysctl("net.ipv4.ip_forward");
  ASSERT_TRUE(own) << own.error().msg;
  const std::string flipped = *own == "1" ? "0" : "1";

  auto set = netlink::set_sysctl_in(*ctr_, "net.ipv4.ip_forward", flipped);
  ASSERT_TRUE(set) << set.error().msg;
  EXPECT_EQ(netlink::get_sysctl_in(*ctr_, "net/ipv4/ip_forward").value_or("?"), flipped);
  EXPECT_EQ(test::sh("ip netns exec " + ctr_ns_->name() + " cat /proc/sys/net/ipv4/ip_forward"),
            flipped + "\n");
  EXPECT_EQ(netlink::get_sysctl("net.ipv4.ip_forward").value_or("?"), *own);
  EXPECT_EQ(test::sh("cat /proc/sys/net/ipv4/ip_forward"), *own + "\n");
  EXPECT_EQ(netlink::get_sysctl_in(*host_, "net.ipv4.ip_forward").value_or("?"), "0");
  // Setting what is already there is success (and writes nothing).
  EXPECT_TRUE(netlink::set_sysctl_in(*ctr_, "net.ipv4.ip_forward", flipped));

  // set_sysctl acts in the calling thread's netns: inside run_in, that is ctr.
  auto in_thread =
      netns::run_in(*ctr_, [] { return netlink::set_sysctl("net.ipv4.conf.all.arp_notify", "1"); });
  ASSERT_TRUE(in_thread) << in_thread.error().msg;
  EXPECT_EQ(netlink::get_sysctl_in(*ctr_, "net.ipv4.conf.all.arp_notify").value_or("?"), "1");
  EXPECT_EQ(netlink::get_sysctl_in(*host_, "net.ipv4.conf.all.arp_notify").value_or("?"), "0");
}

TEST_F(LinksTest, PerInterfaceSysctls) {
  auto pair =
      netlink::create_veth(*hs_, {.host_name = "vh0", .peer_name = "eth0.1", .peer_netns = &*ctr_});
  ASSERT_TRUE(pair) << pair.error().msg;
  // A dotted interface name needs the slash form of the key.
  auto ok = netlink::set_sysctl_in(*ctr_, "net/ipv4/conf/eth0.1/arp_notify", "1");
  ASSERT_TRUE(ok) << ok.error().msg;
  ok = netlink::set_sysctl_in(*ctr_, "net/ipv6/conf/eth0.1/accept_dad", "0");
  ASSERT_TRUE(ok) << ok.error().msg;
  EXPECT_EQ(test::sh("ip netns exec " + ctr_ns_->name() +
                     " cat /proc/sys/net/ipv4/conf/eth0.1/arp_notify"),
            "1\n");
  EXPECT_EQ(netlink::get_sysctl_in(*ctr_, "net/ipv6/conf/eth0.1/accept_dad").value_or("?"), "0");
  ASSERT_TRUE(netlink::set_sysctl_in(*host_, "net.ipv4.conf.vh0.route_localnet", "1"));
  EXPECT_EQ(netlink::get_sysctl_in(*host_, "net.ipv4.conf.vh0.route_localnet").value_or("?"), "1");

  // The host side's interface is not in ctr, and vice versa.
  auto missing = netlink::set_sysctl_in(*ctr_, "net.ipv4.conf.vh0.arp_notify", "1");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().sys_errno, ENOENT);
  EXPECT_THAT(missing.error().msg, HasSubstr("\"net.ipv4.conf.vh0.arp_notify\""));
  auto read_missing = netlink::get_sysctl_in(*host_, "net/ipv4/conf/eth0.1/arp_notify");
  ASSERT_FALSE(read_missing);
  EXPECT_EQ(read_missing.error().sys_errno, ENOENT);

  auto bad_value = netlink::set_sysctl_in(*ctr_, "net.ipv4.conf.all.arp_notify", "x");
  ASSERT_FALSE(bad_value);
  EXPECT_EQ(bad_value.error().sys_errno, EINVAL);
}

}  // namespace
}  // namespace weir
