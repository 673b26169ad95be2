// The rtnetlink requests lib/netlink sends, as bytes, built without a socket; and a reader that
// takes such a message apart into plain structs. The functions of netlink.hpp send exactly what
// the *_request() builders here return (they call them), so a unit test that builds a request
// and reads it back checks what the kernel is asked, with no root and no kernel. libnl stays in
// the .cpp files.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lib/cni/error.hpp"
#include "lib/net/addr.hpp"
#include "lib/netlink/netlink.hpp"

namespace weir::netlink {

// One netlink message: its nlmsghdr (seq and port id 0: the socket fills them in, and adds
// NLM_F_REQUEST and NLM_F_ACK, when it sends), its family header and its attributes.
using MessageBytes = std::vector<uint8_t>;

// ---- Builders. Each validates what the function that sends it validates, with its errors.

// create_veth's RTM_NEWLINK (NLM_F_CREATE|NLM_F_EXCL), with the peer MAC it chose: the host end,
// IFLA_LINKINFO "veth" and, in VETH_INFO_PEER, the peer's own ifinfomsg and attributes.
Expected<MessageBytes> create_veth_request(const VethSpec& spec, const net::Mac& peer_mac);
// ensure_bridge's RTM_NEWLINK, sent when no link has the bridge's name.
Expected<MessageBytes> create_bridge_request(const BridgeSpec& spec);
// create_macvlan's RTM_NEWLINK: created under temp_name in spec.netns (then renamed there).
Expected<MessageBytes> create_macvlan_request(const MacvlanSpec& spec, std::string_view temp_name);
// ensure_vxlan's RTM_NEWLINK, sent when no link has the vxlan's name.
Expected<MessageBytes> create_vxlan_request(const VxlanSpec& spec);
// set_bridge_port_hairpin's RTM_SETLINK (AF_BRIDGE, IFLA_PROTINFO { IFLA_BRPORT_MODE }).
Expected<MessageBytes> bridge_port_hairpin_request(int ifindex, bool on);
// set_address_conf's RTM_NEWLINK (also what create_veth sends after creation, for the host
// end's alias and IPv6 link-local setting).
Expected<MessageBytes> address_conf_request(int ifindex, const AddressConf& conf);

// RTM_NEWNEIGH / RTM_DELNEIGH of replace_neigh, del_neigh, replace_fdb and del_fdb.
Expected<MessageBytes> replace_neigh_request(int ifindex, const net::IpAddr& ip,
                                             const net::Mac& mac);
Expected<MessageBytes> del_neigh_request(int ifindex, const net::IpAddr& ip);
Expected<MessageBytes> replace_fdb_request(int ifindex, const net::Mac& mac,
                                           const net::IpAddr& vtep);
Expected<MessageBytes> del_fdb_request(int ifindex, const net::Mac& mac,
                                       std::optional<net::IpAddr> vtep = std::nullopt);

// RTM_NEWADDR / RTM_DELADDR of add_addr and del_addr, RTM_NEWROUTE / RTM_DELROUTE of add_route
// and del_route.
Expected<MessageBytes> add_addr_request(int ifindex, const net::Cidr& addr);
Expected<MessageBytes> del_addr_request(int ifindex, const net::Cidr& addr);
Expected<MessageBytes> add_route_request(const RouteInfo& route);
Expected<MessageBytes> del_route_request(const RouteInfo& route);

// ---- Readers. A message that is not exactly one well-formed message of the expected type, or
// an attribute of the wrong size, fails with sys_errno EBADMSG. Attributes the reader does not
// know are listed (by type) in `unknown`, so a test can tell that nothing else was sent.

// The link attributes of an ifinfomsg (the request's own, or a veth peer's).
struct LinkFields {
  int family = 0;       // ifi_family
  int index = 0;        // ifi_index
  unsigned flags = 0;   // ifi_flags
  unsigned change = 0;  // ifi_change
  std::optional<std::string> name{};    // IFLA_IFNAME
  std::optional<uint32_t> mtu{};        // IFLA_MTU
  std::optional<net::Mac> mac{};        // IFLA_ADDRESS
  std::optional<int> netns_fd{};        // IFLA_NET_NS_FD
  std::optional<int> link{};            // IFLA_LINK (a macvlan's parent)
  std::optional<int> master{};          // IFLA_MASTER
  std::optional<uint32_t> tx_queues{};  // IFLA_NUM_TX_QUEUES
  std::optional<uint32_t> rx_queues{};  // IFLA_NUM_RX_QUEUES
  std::optional<std::string> alias{};   // IFLA_IFALIAS
  // IFLA_AF_SPEC: AF_INET / IFLA_INET_CONF / IPV4_DEVCONF_ARP_NOTIFY, AF_INET6 /
  // IFLA_INET6_ADDR_GEN_MODE.
  std::optional<bool> arp_notify{};
  std::optional<uint8_t> ipv6_addr_gen_mode{};
  std::vector<int> unknown{};
};

struct VxlanFields {  // IFLA_VXLAN_*
  std::optional<uint32_t> vni{};
  std::optional<net::IpAddr> local{};  // IFLA_VXLAN_LOCAL or _LOCAL6
  std::optional<int> link{};           // the underlay
  std::optional<uint16_t> port{};      // host byte order (sent in network byte order)
  std::optional<bool> learning{};
  std::optional<bool> proxy{};
  std::optional<bool> udp_csum{};
};

struct LinkMessage : LinkFields {
  uint16_t type = 0;   // RTM_NEWLINK, RTM_SETLINK, RTM_DELLINK
  uint16_t nlmsg_flags = 0;  // NLM_F_*
  std::string kind{};  // IFLA_INFO_KIND; "" without IFLA_LINKINFO
  bool has_info_data = false;                      // IFLA_INFO_DATA sent
  std::optional<LinkFields> veth_peer{};           // VETH_INFO_PEER
  std::optional<bool> bridge_vlan_filtering{};     // IFLA_BR_VLAN_FILTERING
  std::optional<MacvlanMode> macvlan_mode{};       // IFLA_MACVLAN_MODE
  std::optional<VxlanFields> vxlan{};              // IFLA_INFO_DATA of kind "vxlan"
  std::optional<bool> brport_hairpin{};            // IFLA_PROTINFO / IFLA_BRPORT_MODE
  std::vector<int> unknown_info_data{};            // of any kind
};

struct NeighMessage {
  uint16_t type = 0;  // RTM_NEWNEIGH, RTM_DELNEIGH
  uint16_t nlmsg_flags = 0;
  int family = 0;  // ndm_family: AF_INET, AF_INET6, AF_BRIDGE (FDB)
  int ifindex = 0;
  uint16_t state = 0;  // NUD_*
  uint8_t flags = 0;   // NTF_*
  std::optional<net::IpAddr> dst{};  // NDA_DST: the neighbour, or an FDB entry's VTEP
  std::optional<net::Mac> lladdr{};  // NDA_LLADDR
  std::vector<int> unknown{};
};

struct AddrMessage {
  uint16_t type = 0;  // RTM_NEWADDR, RTM_DELADDR
  uint16_t nlmsg_flags = 0;
  int family = 0;
  int prefix_len = 0;
  int ifindex = 0;
  int scope = 0;
  std::optional<net::IpAddr> local{};      // IFA_LOCAL
  std::optional<net::IpAddr> address{};    // IFA_ADDRESS
  std::optional<net::IpAddr> broadcast{};  // IFA_BROADCAST
  std::optional<uint32_t> ifa_flags{};     // IFA_FLAGS
  std::vector<int> unknown{};
};

struct RouteMessage {
  uint16_t type = 0;  // RTM_NEWROUTE, RTM_DELROUTE
  uint16_t nlmsg_flags = 0;
  int family = 0;
  int dst_len = 0;
  uint32_t table = 0;  // RTA_TABLE when sent, else rtm_table
  int protocol = 0;    // RTPROT_*
  int scope = 0;       // RT_SCOPE_*
  int route_type = 0;  // RTN_*
  std::optional<net::IpAddr> dst{};      // RTA_DST
  std::optional<net::IpAddr> gateway{};  // RTA_GATEWAY
  std::optional<int> oif{};              // RTA_OIF
  std::optional<uint32_t> priority{};    // RTA_PRIORITY
  std::vector<int> unknown{};
};

Expected<LinkMessage> parse_link_message(std::span<const uint8_t> bytes);
Expected<NeighMessage> parse_neigh_message(std::span<const uint8_t> bytes);
Expected<AddrMessage> parse_addr_message(std::span<const uint8_t> bytes);
Expected<RouteMessage> parse_route_message(std::span<const uint8_t> bytes);

}  // namespace weir::netlink
