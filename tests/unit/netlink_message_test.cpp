// The rtnetlink requests lib/netlink sends, built as bytes without a socket and read back
// (lib/netlink/message.hpp): every link kind weir makes, neighbours, FDB entries, addresses and
// routes. The product's functions send exactly these builders' bytes, so this is what the kernel
// is asked. No root. Each field is asserted; a field that goes missing or wrong fails a test
// (PrintsEveryField shows the comparison sees every one of them).
#include <gtest/gtest.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "lib/netlink/message.hpp"
#include "lib/netns/netns.hpp"

namespace weir {
namespace {

using netlink::LinkFields;
using netlink::LinkMessage;
using netlink::MacvlanMode;
using netlink::MessageBytes;

net::IpAddr ip(const char* s) {
  auto a = net::IpAddr::parse(s);
  EXPECT_TRUE(a) << s;
  return a.value_or(net::IpAddr{});
}
net::Cidr cidr(const char* s) {
  auto c = net::Cidr::parse(s);
  EXPECT_TRUE(c) << s;
  return c.value_or(net::Cidr{});
}
net::Mac mac(const char* s) {
  auto m = net::Mac::parse(s);
  EXPECT_TRUE(m) << s;
  return m.value_or(net::Mac{});
}

template <class T>
std::string opt(const std::optional<T>& v) {
  if (!v) return "-";
  if constexpr (std::is_same_v<T, std::string>) {
    return "\"" + *v + "\"";
  } else if constexpr (std::is_same_v<T, net::Mac> || std::is_same_v<T, net::IpAddr>) {
    return v->str();
  } else if constexpr (std::is_same_v<T, bool>) {
    return *v ? "true" : "false";
  } else if constexpr (std::is_same_v<T, MacvlanMode>) {
    return std::string(netlink::to_string(*v));
  } else {
    return std::to_string(+*v);
  }
}

std::string list(const std::vector<int>& v) {
  std::string s = "[";
  for (int x : v) s += (s.size() > 1 ? "," : "") + std::to_string(x);
  return s + "]";
}

// Every field, one per line: for messages in failures and for PrintsEveryField.
std::string text(const LinkFields& f) {
  return "family=" + std::to_string(f.family) + " index=" + std::to_string(f.index) +
         " flags=" + std::to_string(f.flags) + " change=" + std::to_string(f.change) +
         "\nname=" + opt(f.name) + " mtu=" + opt(f.mtu) + " mac=" + opt(f.mac) +
         " netns_fd=" + opt(f.netns_fd) + " link=" + opt(f.link) + " master=" + opt(f.master) +
         " txq=" + opt(f.tx_queues) + " rxq=" + opt(f.rx_queues) + " alias=" + opt(f.alias) +
         " arp_notify=" + opt(f.arp_notify) + " addr_gen_mode=" + opt(f.ipv6_addr_gen_mode) +
         " unknown=" + list(f.unknown);
}

std::string text(const LinkMessage& m) {
  std::string s = "type=" + std::to_string(m.type) + " nlmsg_flags=" + std::to_string(m.nlmsg_flags) +
                  "\n" + text(static_cast<const LinkFields&>(m)) + "\nkind=" + m.kind +
                  " data=" + (m.has_info_data ? "yes" : "no") +
                  " vlan_filtering=" + opt(m.bridge_vlan_filtering) +
                  " macvlan_mode=" + opt(m.macvlan_mode) + " hairpin=" + opt(m.brport_hairpin) +
                  " unknown_data=" + list(m.unknown_info_data);
  if (m.veth_peer) s += "\npeer: " + text(*m.veth_peer);
  if (m.vxlan) {
    const auto& v = *m.vxlan;
    s += "\nvxlan: vni=" + opt(v.vni) + " local=" + opt(v.local) + " link=" + opt(v.link) +
         " port=" + opt(v.port) + " learning=" + opt(v.learning) + " proxy=" + opt(v.proxy) +
         " udp_csum=" + opt(v.udp_csum);
  }
  return s;
}

LinkMessage parse_link(const Expected<MessageBytes>& bytes) {
  EXPECT_TRUE(bytes) << (bytes ? "" : bytes.error().msg);
  if (!bytes) return {};
  auto m = netlink::parse_link_message(*bytes);
  EXPECT_TRUE(m) << (m ? "" : m.error().msg);
  return m.value_or(LinkMessage{});
}

constexpr uint16_t kCreate = NLM_F_CREATE | NLM_F_EXCL;

// ---- Links

TEST(NetlinkMessage, VethCarriesBothEndsAndThePeersNetns) {
  auto ns = netns::Handle::current();  // any open netns fd will do: it is only sent as a number
  ASSERT_TRUE(ns) << ns.error().msg;
  const netlink::VethSpec spec{.host_name = "veth0a1b2c3d",
                               .peer_name = "eth0",
                               .peer_netns = &*ns,
                               .mtu = 1400,
                               .host_mac = mac("02:00:00:00:00:01"),
                               .host_master = 7,
                               .queues = 1};
  const LinkMessage m = parse_link(netlink::create_veth_request(spec, mac("02:00:00:00:00:02")));
  SCOPED_TRACE(text(m));
  EXPECT_EQ(m.type, RTM_NEWLINK);
  EXPECT_EQ(m.nlmsg_flags, kCreate);
  EXPECT_EQ(m.family, AF_UNSPEC);
  EXPECT_EQ(m.index, 0);
  EXPECT_EQ(m.flags, unsigned{IFF_UP});
  EXPECT_EQ(m.change, unsigned{IFF_UP});
  EXPECT_EQ(m.name, "veth0a1b2c3d");
  EXPECT_EQ(m.mtu, 1400u);
  EXPECT_EQ(m.mac, mac("02:00:00:00:00:01"));
  EXPECT_EQ(m.master, 7);
  EXPECT_EQ(m.tx_queues, 1u);
  EXPECT_EQ(m.rx_queues, 1u);
  EXPECT_EQ(m.netns_fd, std::nullopt);  // the host end stays where the socket is
  EXPECT_EQ(m.link, std::nullopt);
  EXPECT_EQ(m.alias, std::nullopt);  // the kernel takes none with a new link
  EXPECT_EQ(m.arp_notify, std::nullopt);
  EXPECT_EQ(m.ipv6_addr_gen_mode, std::nullopt);
  EXPECT_TRUE(m.unknown.empty());
  EXPECT_EQ(m.kind, "veth");
  EXPECT_TRUE(m.has_info_data);
  EXPECT_TRUE(m.unknown_info_data.empty());
  EXPECT_FALSE(m.vxlan);
  EXPECT_FALSE(m.macvlan_mode);
  ASSERT_TRUE(m.veth_peer);
  const LinkFields& peer = *m.veth_peer;
  EXPECT_EQ(peer.family, AF_UNSPEC);
  EXPECT_EQ(peer.index, 0);
  EXPECT_EQ(peer.flags, 0u);  // left down
  EXPECT_EQ(peer.change, 0u);
  EXPECT_EQ(peer.name, "eth0");
  EXPECT_EQ(peer.mtu, 1400u);
  EXPECT_EQ(peer.mac, mac("02:00:00:00:00:02"));
  EXPECT_EQ(peer.netns_fd, ns->fd());  // born in the container's netns
  EXPECT_EQ(peer.tx_queues, 1u);
  EXPECT_EQ(peer.rx_queues, 1u);
  EXPECT_EQ(peer.master, std::nullopt);
  EXPECT_EQ(peer.alias, std::nullopt);
  EXPECT_TRUE(peer.unknown.empty());
}

TEST(NetlinkMessage, VethDefaultsSendNothingAndStayDownWithoutLinkLocal) {
  // No MTU, host MAC, master or queues asked: none sent. Without an IPv6 link-local address the
  // host end is created down (brought up by the address-settings request that follows).
  const netlink::VethSpec spec{.host_name = "vethhost",
                               .peer_name = "eth1",
                               .host_without_ipv6_lladdr = true,
                               .host_alias = "weir-port:x"};
  const LinkMessage m = parse_link(netlink::create_veth_request(spec, mac("02:aa:bb:cc:dd:ee")));
  SCOPED_TRACE(text(m));
  EXPECT_EQ(m.flags, 0u);
  EXPECT_EQ(m.change, 0u);
  EXPECT_EQ(m.name, "vethhost");
  EXPECT_EQ(m.mtu, std::nullopt);
  EXPECT_EQ(m.mac, std::nullopt);
  EXPECT_EQ(m.master, std::nullopt);
  EXPECT_EQ(m.tx_queues, std::nullopt);
  EXPECT_EQ(m.alias, std::nullopt);
  ASSERT_TRUE(m.veth_peer);
  EXPECT_EQ(m.veth_peer->name, "eth1");
  EXPECT_EQ(m.veth_peer->mac, mac("02:aa:bb:cc:dd:ee"));  // always chosen by weir
  EXPECT_EQ(m.veth_peer->netns_fd, std::nullopt);        // the socket's netns
  EXPECT_EQ(m.veth_peer->mtu, std::nullopt);
}

TEST(NetlinkMessage, AddressConfCarriesAliasArpNotifyAndAddrGenMode) {
  const LinkMessage m = parse_link(netlink::address_conf_request(
      42, {.arp_notify = true, .no_ipv6_lladdr = true, .up = true, .alias = "weir-port:s:c:eth0"}));
  SCOPED_TRACE(text(m));
  EXPECT_EQ(m.type, RTM_NEWLINK);
  EXPECT_EQ(m.nlmsg_flags, 0);  // a change, never a creation
  EXPECT_EQ(m.index, 42);
  EXPECT_EQ(m.flags, unsigned{IFF_UP});
  EXPECT_EQ(m.change, unsigned{IFF_UP});
  EXPECT_EQ(m.alias, "weir-port:s:c:eth0");
  EXPECT_EQ(m.arp_notify, true);
  EXPECT_EQ(m.ipv6_addr_gen_mode, uint8_t{IN6_ADDR_GEN_MODE_NONE});
  EXPECT_EQ(m.name, std::nullopt);
  EXPECT_EQ(m.kind, "");
  EXPECT_TRUE(m.unknown.empty());

  const LinkMessage off = parse_link(netlink::address_conf_request(42, {.arp_notify = false}));
  SCOPED_TRACE(text(off));
  EXPECT_EQ(off.arp_notify, false);
  EXPECT_EQ(off.ipv6_addr_gen_mode, std::nullopt);
  EXPECT_EQ(off.alias, std::nullopt);
  EXPECT_EQ(off.change, 0u);  // the link's up/down state is left alone

  auto too_long = netlink::address_conf_request(42, {.alias = std::string(300, 'a')});
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().code, cni::Code::kInvalidConfig);
}

TEST(NetlinkMessage, BridgeWithAndWithoutVlanFiltering) {
  const LinkMessage m = parse_link(netlink::create_bridge_request(
      {.name = "weir0", .mtu = 9000, .mac = mac("02:42:ac:11:00:01"), .vlan_filtering = true}));
  SCOPED_TRACE(text(m));
  EXPECT_EQ(m.type, RTM_NEWLINK);
  EXPECT_EQ(m.nlmsg_flags, kCreate);
  EXPECT_EQ(m.name, "weir0");
  EXPECT_EQ(m.mtu, 9000u);
  EXPECT_EQ(m.mac, mac("02:42:ac:11:00:01"));
  EXPECT_EQ(m.flags, unsigned{IFF_UP});
  EXPECT_EQ(m.change, unsigned{IFF_UP});
  EXPECT_EQ(m.kind, "bridge");
  EXPECT_EQ(m.bridge_vlan_filtering, true);
  EXPECT_TRUE(m.unknown.empty());
  EXPECT_TRUE(m.unknown_info_data.empty());

  const LinkMessage plain = parse_link(netlink::create_bridge_request({.name = "weir1"}));
  SCOPED_TRACE(text(plain));
  EXPECT_EQ(plain.kind, "bridge");
  EXPECT_FALSE(plain.has_info_data);  // the kernel's defaults
  EXPECT_EQ(plain.bridge_vlan_filtering, std::nullopt);
  EXPECT_EQ(plain.mtu, std::nullopt);
  EXPECT_EQ(plain.mac, std::nullopt);
}

TEST(NetlinkMessage, HairpinIsABridgePortSetting) {
  for (bool on : {true, false}) {
    const LinkMessage m = parse_link(netlink::bridge_port_hairpin_request(12, on));
    SCOPED_TRACE(text(m));
    EXPECT_EQ(m.type, RTM_SETLINK);
    EXPECT_EQ(m.family, AF_BRIDGE);  // to the bridge's ndo_bridge_setlink
    EXPECT_EQ(m.index, 12);
    EXPECT_EQ(m.brport_hairpin, on);
    EXPECT_EQ(m.kind, "");
    EXPECT_EQ(m.name, std::nullopt);
    EXPECT_TRUE(m.unknown.empty());
  }
}

TEST(NetlinkMessage, MacvlanEveryModeInItsNetnsUnderTheTemporaryName) {
  auto ns = netns::Handle::current();
  ASSERT_TRUE(ns) << ns.error().msg;
  for (MacvlanMode mode :
       {MacvlanMode::kBridge, MacvlanMode::kPrivate, MacvlanMode::kVepa, MacvlanMode::kPassthru}) {
    const netlink::MacvlanSpec spec{.parent = 3,
                                    .mode = mode,
                                    .mtu = 1450,
                                    .mac = mac("02:00:00:00:11:22"),
                                    .netns = &*ns,
                                    .name = "eth0"};
    const LinkMessage m = parse_link(netlink::create_macvlan_request(spec, "weirtmp0123abcd"));
    SCOPED_TRACE(text(m));
    EXPECT_EQ(m.type, RTM_NEWLINK);
    EXPECT_EQ(m.nlmsg_flags, kCreate);
    EXPECT_EQ(m.name, "weirtmp0123abcd");  // renamed to spec.name in a second request
    EXPECT_EQ(m.kind, "macvlan");
    EXPECT_EQ(m.macvlan_mode, mode);
    EXPECT_EQ(m.link, 3);
    EXPECT_EQ(m.netns_fd, ns->fd());
    EXPECT_EQ(m.mtu, 1450u);
    EXPECT_EQ(m.mac, mac("02:00:00:00:11:22"));
    EXPECT_EQ(m.flags, 0u);  // left down
    EXPECT_EQ(m.change, 0u);
    EXPECT_TRUE(m.unknown.empty());
    EXPECT_TRUE(m.unknown_info_data.empty());
  }
  auto no_parent = netlink::create_macvlan_request({.name = "eth0"}, "weirtmp00000000");
  ASSERT_FALSE(no_parent);
  EXPECT_EQ(no_parent.error().code, cni::Code::kInvalidConfig);
}

TEST(NetlinkMessage, VxlanCarriesVniPortLocalUnderlayAndLearning) {
  const LinkMessage m = parse_link(netlink::create_vxlan_request({.name = "weirvx42",
                                                                   .vni = 42,
                                                                   .local = ip("192.0.2.10"),
                                                                   .underlay = 2,
                                                                   .port = 4789,
                                                                   .learning = false,
                                                                   .mtu = 1450}));
  SCOPED_TRACE(text(m));
  EXPECT_EQ(m.type, RTM_NEWLINK);
  EXPECT_EQ(m.nlmsg_flags, kCreate);
  EXPECT_EQ(m.name, "weirvx42");
  EXPECT_EQ(m.mtu, 1450u);
  EXPECT_EQ(m.flags, unsigned{IFF_UP});
  EXPECT_EQ(m.kind, "vxlan");
  ASSERT_TRUE(m.vxlan);
  EXPECT_EQ(m.vxlan->vni, 42u);
  EXPECT_EQ(m.vxlan->local, ip("192.0.2.10"));
  EXPECT_EQ(m.vxlan->link, 2);
  EXPECT_EQ(m.vxlan->port, 4789);  // sent big-endian, read back in host order
  EXPECT_EQ(m.vxlan->learning, false);
  // Not sent today: the kernel's defaults (proxy off, UDP checksums on for IPv4 only).
  EXPECT_EQ(m.vxlan->proxy, std::nullopt);
  EXPECT_EQ(m.vxlan->udp_csum, std::nullopt);
  EXPECT_TRUE(m.unknown.empty());
  EXPECT_TRUE(m.unknown_info_data.empty());

  const LinkMessage v6 = parse_link(netlink::create_vxlan_request(
      {.name = "weirvx7", .vni = 0xffffff, .local = ip("fd00::7"), .port = 8472, .learning = true}));
  SCOPED_TRACE(text(v6));
  ASSERT_TRUE(v6.vxlan);
  EXPECT_EQ(v6.vxlan->vni, 0xffffffu);
  EXPECT_EQ(v6.vxlan->local, ip("fd00::7"));
  EXPECT_EQ(v6.vxlan->link, std::nullopt);  // no underlay
  EXPECT_EQ(v6.vxlan->port, 8472);
  EXPECT_EQ(v6.vxlan->learning, true);
  EXPECT_EQ(v6.mtu, std::nullopt);

  auto big = netlink::create_vxlan_request({.name = "weirvx", .vni = 1u << 24});
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, cni::Code::kInvalidConfig);
}

TEST(NetlinkMessage, BadNamesFailAsConfigErrorsBeforeAnythingIsSent) {
  for (const char* bad : {"", "a/b", "has space", "sixteen-chars-xx", ".."}) {
    auto veth = netlink::create_veth_request({.host_name = bad, .peer_name = "eth0"}, net::Mac{});
    ASSERT_FALSE(veth) << bad;
    EXPECT_EQ(veth.error().code, cni::Code::kInvalidConfig) << bad;
    EXPECT_EQ(veth.error().sys_errno, EINVAL) << bad;
    auto peer = netlink::create_veth_request({.host_name = "vethx", .peer_name = bad}, net::Mac{});
    EXPECT_FALSE(peer) << bad;
    EXPECT_FALSE(netlink::create_bridge_request({.name = bad})) << bad;
    EXPECT_FALSE(netlink::create_vxlan_request({.name = bad, .vni = 1})) << bad;
    EXPECT_FALSE(netlink::create_macvlan_request({.parent = 1, .name = bad}, "weirtmp0")) << bad;
  }
}

// The comparison above sees every field: changing any one input changes what is read back.
TEST(NetlinkMessage, PrintsEveryField) {
  auto ns = netns::Handle::current();
  ASSERT_TRUE(ns) << ns.error().msg;
  const netlink::VethSpec base{.host_name = "vethbase",
                               .peer_name = "eth0",
                               .peer_netns = &*ns,
                               .mtu = 1500,
                               .host_mac = mac("02:00:00:00:00:01"),
                               .host_master = 5,
                               .queues = 2};
  const net::Mac peer_mac = mac("02:00:00:00:00:02");
  const std::string before = text(parse_link(netlink::create_veth_request(base, peer_mac)));
  const std::vector<std::pair<const char*, std::function<void(netlink::VethSpec&)>>> changes = {
      {"host name", [](auto& s) { s.host_name = "vethother"; }},
      {"peer name", [](auto& s) { s.peer_name = "eth9"; }},
      {"peer netns", [](auto& s) { s.peer_netns = nullptr; }},
      {"mtu", [](auto& s) { s.mtu = 1280; }},
      {"host mac", [](auto& s) { s.host_mac = net::Mac::parse("02:00:00:00:00:09"); }},
      {"master", [](auto& s) { s.host_master = 6; }},
      {"queues", [](auto& s) { s.queues = 3; }},
      {"up", [](auto& s) { s.host_without_ipv6_lladdr = true; }},
  };
  for (const auto& [what, change] : changes) {
    netlink::VethSpec spec = base;
    change(spec);
    EXPECT_NE(text(parse_link(netlink::create_veth_request(spec, peer_mac))), before) << what;
  }
  EXPECT_NE(text(parse_link(netlink::create_veth_request(base, mac("02:00:00:00:00:03")))), before);

  const netlink::VxlanSpec vx{.name = "weirvx", .vni = 1, .local = ip("10.0.0.1"), .underlay = 2};
  const std::string vx_before = text(parse_link(netlink::create_vxlan_request(vx)));
  const std::vector<std::function<void(netlink::VxlanSpec&)>> vx_changes = {
      [](auto& s) { s.vni = 2; },        [](auto& s) { s.local = net::IpAddr::parse("10.0.0.2"); },
      [](auto& s) { s.underlay = 3; },   [](auto& s) { s.port = 4790; },
      [](auto& s) { s.learning = true; }, [](auto& s) { s.mtu = 1400; }};
  for (size_t i = 0; i < vx_changes.size(); ++i) {
    netlink::VxlanSpec spec = vx;
    vx_changes[i](spec);
    EXPECT_NE(text(parse_link(netlink::create_vxlan_request(spec))), vx_before) << i;
  }
}

// The reader reads the bytes, not a copy of the spec: one byte changed in the message shows.
TEST(NetlinkMessage, ReaderSeesTheBytesAndRefusesBrokenOnes) {
  auto bytes = netlink::create_bridge_request({.name = "weir0", .mtu = 1500});
  ASSERT_TRUE(bytes);
  // Find IFLA_MTU's value (1500, native order) after the ifinfomsg.
  const size_t attrs = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(ifinfomsg));
  size_t mtu_at = 0;
  for (size_t at = attrs; at + sizeof(nlattr) <= bytes->size();) {
    nlattr a;
    std::memcpy(&a, bytes->data() + at, sizeof(a));
    if (a.nla_type == IFLA_MTU) mtu_at = at;
    at += NLA_ALIGN(a.nla_len);
  }
  ASSERT_NE(mtu_at, 0u);
  MessageBytes changed = *bytes;
  uint32_t mtu = 9000;
  std::memcpy(changed.data() + mtu_at + NLA_HDRLEN, &mtu, sizeof(mtu));
  auto m = netlink::parse_link_message(changed);
  ASSERT_TRUE(m) << m.error().msg;
  EXPECT_EQ(m->mtu, 9000u);

  // An attribute of the wrong size, a truncated message, a length that lies, the wrong type.
  MessageBytes short_attr = *bytes;
  const uint16_t two = NLA_HDRLEN + 2;
  std::memcpy(short_attr.data() + mtu_at, &two, sizeof(two));
  MessageBytes truncated(bytes->begin(), bytes->end() - 4);
  MessageBytes lying = *bytes;
  lying.push_back(0);
  lying.push_back(0);
  lying.push_back(0);
  lying.push_back(0);
  for (const MessageBytes* broken : {&short_attr, &truncated, &lying}) {
    auto r = netlink::parse_link_message(*broken);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().sys_errno, EBADMSG) << r.error().msg;
  }
  EXPECT_FALSE(netlink::parse_neigh_message(*bytes));  // an RTM_NEWLINK is no neighbour
  EXPECT_FALSE(netlink::parse_link_message(MessageBytes{}));
}

// ---- Neighbours and FDB entries

TEST(NetlinkMessage, ReplaceNeighIsPermanentPerFamily) {
  for (const char* addr : {"10.1.0.7", "fd00::7"}) {
    auto bytes = netlink::replace_neigh_request(9, ip(addr), mac("02:00:00:00:aa:bb"));
    ASSERT_TRUE(bytes);
    auto m = netlink::parse_neigh_message(*bytes);
    ASSERT_TRUE(m) << m.error().msg;
    EXPECT_EQ(m->type, RTM_NEWNEIGH);
    EXPECT_EQ(m->nlmsg_flags, NLM_F_CREATE | NLM_F_REPLACE);
    EXPECT_EQ(m->family, ip(addr).is_v4() ? AF_INET : AF_INET6) << addr;
    EXPECT_EQ(m->ifindex, 9);
    EXPECT_EQ(m->state, NUD_PERMANENT);
    EXPECT_EQ(m->flags, 0);
    EXPECT_EQ(m->dst, ip(addr));
    EXPECT_EQ(m->lladdr, mac("02:00:00:00:aa:bb"));
    EXPECT_TRUE(m->unknown.empty());
  }
  auto del = netlink::parse_neigh_message(*netlink::del_neigh_request(9, ip("fd00::7")));
  ASSERT_TRUE(del);
  EXPECT_EQ(del->type, RTM_DELNEIGH);
  EXPECT_EQ(del->nlmsg_flags, 0);
  EXPECT_EQ(del->family, AF_INET6);
  EXPECT_EQ(del->ifindex, 9);
  EXPECT_EQ(del->dst, ip("fd00::7"));
  EXPECT_EQ(del->lladdr, std::nullopt);
}

TEST(NetlinkMessage, ReplaceFdbIsTheDevicesOwnPermanentEntry) {
  auto bytes = netlink::replace_fdb_request(11, mac("02:42:0a:01:00:05"), ip("192.0.2.20"));
  ASSERT_TRUE(bytes);
  auto m = netlink::parse_neigh_message(*bytes);
  ASSERT_TRUE(m) << m.error().msg;
  EXPECT_EQ(m->type, RTM_NEWNEIGH);
  EXPECT_EQ(m->nlmsg_flags, NLM_F_CREATE | NLM_F_REPLACE);
  EXPECT_EQ(m->family, AF_BRIDGE);
  EXPECT_EQ(m->ifindex, 11);
  EXPECT_EQ(m->state, NUD_NOARP | NUD_PERMANENT);
  EXPECT_EQ(m->flags, NTF_SELF);  // the vxlan's FDB, not the bridge it is a port of
  EXPECT_EQ(m->dst, ip("192.0.2.20"));  // the VTEP
  EXPECT_EQ(m->lladdr, mac("02:42:0a:01:00:05"));
  EXPECT_TRUE(m->unknown.empty());

  auto one = netlink::parse_neigh_message(
      *netlink::del_fdb_request(11, mac("02:42:0a:01:00:05"), ip("fd00::20")));
  ASSERT_TRUE(one);
  EXPECT_EQ(one->type, RTM_DELNEIGH);
  EXPECT_EQ(one->family, AF_BRIDGE);
  EXPECT_EQ(one->flags, NTF_SELF);
  EXPECT_EQ(one->dst, ip("fd00::20"));
  EXPECT_EQ(one->lladdr, mac("02:42:0a:01:00:05"));
  auto all = netlink::parse_neigh_message(*netlink::del_fdb_request(11, mac("02:42:0a:01:00:05")));
  ASSERT_TRUE(all);
  EXPECT_EQ(all->dst, std::nullopt);  // the whole entry
  EXPECT_EQ(all->lladdr, mac("02:42:0a:01:00:05"));
}

// ---- Addresses and routes

TEST(NetlinkMessage, AddAddrWithBroadcastForIpv4) {
  auto m = netlink::parse_addr_message(*netlink::add_addr_request(4, cidr("10.88.0.5/24")));
  ASSERT_TRUE(m) << m.error().msg;
  EXPECT_EQ(m->type, RTM_NEWADDR);
  EXPECT_EQ(m->nlmsg_flags & NLM_F_CREATE, NLM_F_CREATE);
  EXPECT_EQ(m->nlmsg_flags & (NLM_F_REPLACE | NLM_F_EXCL), 0);  // an existing address is success
  EXPECT_EQ(m->family, AF_INET);
  EXPECT_EQ(m->prefix_len, 24);
  EXPECT_EQ(m->ifindex, 4);
  EXPECT_EQ(m->local, ip("10.88.0.5"));
  EXPECT_EQ(m->broadcast, ip("10.88.0.255"));

  auto p2p = netlink::parse_addr_message(*netlink::add_addr_request(4, cidr("10.88.0.4/31")));
  ASSERT_TRUE(p2p);
  EXPECT_EQ(p2p->broadcast, std::nullopt);
  auto v6 = netlink::parse_addr_message(*netlink::add_addr_request(4, cidr("fd00:1::5/64")));
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->family, AF_INET6);
  EXPECT_EQ(v6->prefix_len, 64);
  EXPECT_EQ(v6->local, ip("fd00:1::5"));
  EXPECT_EQ(v6->broadcast, std::nullopt);

  auto del = netlink::parse_addr_message(*netlink::del_addr_request(4, cidr("10.88.0.5/24")));
  ASSERT_TRUE(del);
  EXPECT_EQ(del->type, RTM_DELADDR);
  EXPECT_EQ(del->local, ip("10.88.0.5"));
  EXPECT_EQ(del->prefix_len, 24);
}

TEST(NetlinkMessage, AddRouteReplacesUnicastInTheMainTable) {
  auto def = netlink::parse_route_message(*netlink::add_route_request(
      {.gw = ip("10.88.0.1"), .ifindex = 3, .family = net::Family::kV4}));
  ASSERT_TRUE(def) << def.error().msg;
  EXPECT_EQ(def->type, RTM_NEWROUTE);
  EXPECT_EQ(def->nlmsg_flags & (NLM_F_CREATE | NLM_F_REPLACE), NLM_F_CREATE | NLM_F_REPLACE);
  EXPECT_EQ(def->family, AF_INET);
  EXPECT_EQ(def->dst_len, 0);  // the default route
  EXPECT_EQ(def->table, uint32_t{RT_TABLE_MAIN});
  EXPECT_EQ(def->route_type, RTN_UNICAST);
  EXPECT_EQ(def->protocol, RTPROT_BOOT);
  EXPECT_EQ(def->gateway, ip("10.88.0.1"));
  EXPECT_EQ(def->oif, 3);
  EXPECT_TRUE(def->unknown.empty()) << def->unknown.size();

  auto net = netlink::parse_route_message(*netlink::add_route_request(
      {.dst = cidr("fd00:2::9/64"), .gw = ip("fd00:1::1"), .priority = 100}));
  ASSERT_TRUE(net) << net.error().msg;
  EXPECT_EQ(net->family, AF_INET6);
  EXPECT_EQ(net->dst_len, 64);
  EXPECT_EQ(net->dst, ip("fd00:2::"));  // host bits dropped
  EXPECT_EQ(net->gateway, ip("fd00:1::1"));
  EXPECT_EQ(net->priority, 100u);
  EXPECT_EQ(net->oif, std::nullopt);

  auto del = netlink::parse_route_message(*netlink::del_route_request({.dst = cidr("10.9.0.0/16")}));
  ASSERT_TRUE(del) << del.error().msg;
  EXPECT_EQ(del->type, RTM_DELROUTE);
  EXPECT_EQ(del->scope, RT_SCOPE_NOWHERE);  // "any", as `ip route del`
  EXPECT_EQ(del->protocol, RTPROT_UNSPEC);
  EXPECT_EQ(del->dst, ip("10.9.0.0"));

  auto mixed = netlink::add_route_request({.dst = cidr("10.0.0.0/8"), .gw = ip("fd00::1")});
  ASSERT_FALSE(mixed);
  EXPECT_EQ(mixed.error().code, cni::Code::kInvalidConfig);
}

}  // namespace
}  // namespace weir
