// rtnetlink requests: links, addresses, routes, neighbours and FDB entries (sysctls are in
// sysctl.hpp, included below). The only part of weir that talks to libnl, and its headers stay
// in the .cpp files: callers see weir value types and Expected<T> with errno.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/cni/error.hpp"
#include "lib/net/addr.hpp"
#include "lib/netns/netns.hpp"

struct nl_sock;  // libnl

namespace weir::netlink {

// IFLA_MACVLAN_MODE (macvlan.c); the kernel's "source" mode is not one weir makes.
enum class MacvlanMode { kBridge, kPrivate, kVepa, kPassthru };

// Every member has an initializer, so designated initializers may skip any of them under
// -Wextra (missing-field-initializers).
struct LinkInfo {
  int index = 0;
  std::string name{};
  bool up = false;  // IFF_UP: administratively up (not carrier)
  unsigned flags = 0;
  uint32_t mtu = 0;
  net::Mac mac{};      // zero for links without an Ethernet address
  std::string kind{};  // IFLA_INFO_KIND: "veth", "bridge", "macvlan", "vxlan"; "" for physical, lo
  int master = 0;      // ifindex of the bridge or bond, 0 if none
  // IFLA_LINK: a veth's peer, a macvlan's parent, a vxlan's underlay; 0 if none. It may be an
  // ifindex in another netns (a veth peer in a container).
  int link = 0;
  // IFLA_LINK_NETNSID: the netns `link` is in, as this netns numbers it (netns_id); -1 = here.
  int link_netnsid = -1;
  std::string alias{};  // IFLA_IFALIAS, "" if none
  // IFLA_MACVLAN_MODE of a macvlan; nullopt for other kinds (and the "source" mode).
  std::optional<MacvlanMode> macvlan_mode{};
};

struct AddrInfo {
  net::Cidr addr{};
  int ifindex = 0;
  int scope = 0;  // RT_SCOPE_*
};

struct RouteInfo {
  std::optional<net::Cidr> dst{};  // nullopt = default route
  std::optional<net::IpAddr> gw{};
  int ifindex = 0;
  uint32_t table = 254;  // RT_TABLE_MAIN
  uint32_t priority = 0;
  net::Family family = net::Family::kV4;  // used when neither dst nor gw says it
};

// An rtnetlink socket. It stays bound to the netns it was created in, so requests on it need no
// setns. Move-only; not for concurrent use from several threads.
class Socket {
 public:
  // In the calling thread's current netns.
  static Expected<Socket> open();
  // In ns, without leaving the calling thread there.
  static Expected<Socket> open_in(const netns::Handle& ns);

  Socket(Socket&& other) noexcept;
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket();

  // For the files of lib/netlink only.
  nl_sock* native() const;
  // The errno behind a libnl call on this socket that just failed with nle_rc (< 0): the kernel's
  // own errno when it answered with one (libnl folds many into NLE_FAILURE or NLE_OBJ_NOTFOUND),
  // else a translation of the NLE_* code.
  int errno_of(int nle_rc);

  struct Impl;

 private:
  explicit Socket(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The netns the socket lives in, as SO_NETNS_COOKIE names it: unique for the system's uptime,
// unlike the nsfs inode, which the kernel hands out again (lowest free number) once a
// namespace is gone.
Expected<uint64_t> netns_cookie(const Socket& sock);

// The id the calling thread's netns gives the netns of ns_fd (RTM_GETNSID; what a link's
// link_netnsid says), -1 when it has given it none.
Expected<int> netns_id(int ns_fd);

// ---- Links (link.cpp)

// A missing link fails with sys_errno ENODEV: `link "eth0": No such device`.
Expected<LinkInfo> get_link(Socket& sock, std::string_view name);
Expected<LinkInfo> get_link(Socket& sock, int ifindex);
// Every link of the socket's netns, in one RTM_GETLINK dump (retried if it raced a change).
// For lookups no single request can answer (by MAC, by alias); not for the hot path.
Expected<std::vector<LinkInfo>> list_links(Socket& sock);
Expected<void> set_link_up(Socket& sock, int ifindex, bool up);
// Per-link address settings in one RTM_NEWLINK (IFLA_AF_SPEC), not through /proc/sys: a path
// lookup under /proc/sys/net gets slower with every netns on the machine (their entries share
// names).
struct AddressConf {
  std::optional<bool> arp_notify{};  // net.ipv4.conf.<link>.arp_notify
  bool no_ipv6_lladdr = false;       // addrgenmode none: no IPv6 link-local address (for good)
  bool up = false;                   // and bring the link up in the same request
  std::string alias{};               // and set its alias (IFLA_IFALIAS), when not empty
};
Expected<void> set_address_conf(Socket& sock, int ifindex, const AddressConf& conf);
// Whether IPv4 or IPv6 forwarding is on for the socket's netns ("all"), by RTM_GETNETCONF.
Expected<bool> forwarding(Socket& sock, net::Family family);

// Changes to one link; each is one RTM_NEWLINK and keeps the kernel's errno.
Expected<void> set_master(Socket& sock, int ifindex, int master_ifindex /* 0 = release */);
Expected<void> set_mtu(Socket& sock, int ifindex, uint32_t mtu);
Expected<void> set_mac(Socket& sock, int ifindex, const net::Mac& mac);
Expected<void> set_promisc(Socket& sock, int ifindex, bool on);
Expected<void> set_link_alias(Socket& sock, int ifindex, std::string_view alias /* "" = remove */);
// Kernels before 6.2 refuse to rename a link that is up (EBUSY); this does not take it down.
Expected<void> rename_link(Socket& sock, int ifindex, std::string_view new_name);
// Moves the link into ns, renamed there to new_name when given. The link may get another
// ifindex there if its own is taken. The kernel does this in two steps (do_setlink: the move
// under the link's current name, then the rename), so a new_name taken in ns fails after the
// move; the link is then moved back here under its own name (up again if it was) before the
// error (EEXIST) is returned. A move takes the link down and drops its addresses.
Expected<void> move_link_to_netns(Socket& sock, int ifindex, const netns::Handle& ns,
                                  std::optional<std::string> new_name = std::nullopt);
// Tolerant: a missing link is success. Deleting either end of a veth pair deletes both.
Expected<void> del_link(Socket& sock, std::string_view name);
Expected<void> del_link(Socket& sock, int ifindex);

// ---- Bridge (link_bridge.cpp)

struct BridgeSpec {
  std::string name{};
  uint32_t mtu = 0;  // 0: the kernel's default
  // Set at creation, which pins it: a bridge whose address was set does not take over a port's
  // MAC as ports come and go (br_stp_recalculate_bridge_id). nullopt: the kernel's choice.
  std::optional<net::Mac> mac{};
  bool vlan_filtering = false;
};

// Creates the bridge up, or finds it (also when a concurrent plugin created it first) and sets
// it up; an existing bridge keeps its MTU and MAC, and gets vlan_filtering turned on when asked
// (never off). A link of that name that is not a bridge fails with Code::kInvalidConfig.
// `created`, when given, says whether this call made the bridge (so a rollback may delete it).
Expected<LinkInfo> ensure_bridge(Socket& sock, const BridgeSpec& spec, bool* created = nullptr);

// Hairpin mode of a bridge port (IFLA_BRPORT_MODE in IFLA_PROTINFO, AF_BRIDGE), as
// `bridge link set dev X hairpin on`. The link must be enslaved to a bridge already.
Expected<void> set_bridge_port_hairpin(Socket& sock, int ifindex, bool on);

// ---- Veth (link_veth.cpp)

struct VethSpec {
  std::string host_name{};                    // in the socket's netns
  std::string peer_name{};                    // the final name in peer_netns, e.g. "eth0"
  const netns::Handle* peer_netns = nullptr;  // nullptr: the socket's netns
  uint32_t mtu = 0;                           // both ends; 0: the kernel's default
  std::optional<net::Mac> peer_mac{};         // nullopt: a random one, chosen here
  std::optional<net::Mac> host_mac{};         // nullopt: the kernel's random one
  int host_master = 0;                        // a bridge to put the host end on; 0: none
  // The transmit and receive queues each end has (one is active either way: `ethtool -L` can
  // turn on more, up to these). 0: the kernel's default, one per possible CPU since Linux
  // 5.15, whose queues take sysfs entries made and then removed again at creation.
  uint32_t queues = 0;
  // No IPv6 link-local address on the host end (a bridge port needs none): no DAD, no MLD, no
  // per-port routes in the host's IPv6 table, which every link change walks.
  bool host_without_ipv6_lladdr = false;
  // The host end's alias (IFLA_IFALIAS, under 256 bytes; "" for none). The kernel takes none
  // with a new link: it goes with the request that brings the host end up.
  std::string host_alias{};
};

struct VethPair {
  LinkInfo host{};     // up
  int peer_index = 0;  // in the peer's netns; the peer is left down
  net::Mac peer_mac{};
};

// One request creates both ends, the peer directly in its netns under its final name: no
// move, no rename, nothing left half-done. A taken name fails with sys_errno EEXIST and a
// message naming it.
Expected<VethPair> create_veth(Socket& host, const VethSpec& spec);

// The host-side name of a container's veth: "veth" + 8 hex digits of FNV-1a-32 over
// "<container_id>/<ifname>". Stable across calls, so DEL finds what ADD made.
std::string veth_name(std::string_view container_id, std::string_view ifname);
// Whether a name has veth_name's shape ("veth" and eight lowercase hex digits).
bool is_veth_name(std::string_view name);

// ---- Macvlan (link_macvlan.cpp)

// parse_macvlan_mode: "bridge", "private", "vepa", "passthru"; anything else fails with
// Code::kInvalidConfig.
Expected<MacvlanMode> parse_macvlan_mode(std::string_view text);
std::string_view to_string(MacvlanMode mode);

struct MacvlanSpec {
  int parent = 0;  // ifindex in the socket's netns
  MacvlanMode mode = MacvlanMode::kBridge;
  uint32_t mtu = 0;  // 0: the parent's; more than the parent's fails with EINVAL
  std::optional<net::Mac> mac{};
  const netns::Handle* netns = nullptr;  // where it ends up; nullptr: the socket's netns
  std::string name{};                    // its final name there
};

// Created directly in spec.netns under a temporary name (the parent is still looked up in the
// socket's netns, as `ip link add link PARENT netns NS type macvlan` does), then renamed there
// to spec.name; on any failure it is deleted again, in spec.netns, so nothing is left in either
// netns. A taken spec.name fails with EEXIST. Returns the link as seen in spec.netns, left down.
// A second child of a passthru parent (or any child next to a passthru one) fails with EINVAL.
Expected<LinkInfo> create_macvlan(Socket& host, const MacvlanSpec& spec);

// ---- VXLAN (link_vxlan.cpp)

struct VxlanSpec {
  std::string name{};
  uint32_t vni = 0;
  std::optional<net::IpAddr> local{};  // source address of the tunnel
  int underlay = 0;                    // ifindex of the underlay device, 0 = none
  uint16_t port = 4789;                // UDP destination port (IANA)
  bool learning = false;  // off: peers come from the store, programmed with replace_fdb
  // 0: the kernel's default, the underlay's MTU (1500 without one) minus 50 (70 over IPv6).
  uint32_t mtu = 0;
};

// Creates the VXLAN device up, or verifies an existing one (vni, port, local, underlay and
// learning must match; a mismatch or another kind fails with Code::kInvalidConfig) and sets it
// up.
Expected<LinkInfo> ensure_vxlan(Socket& sock, const VxlanSpec& spec);

// ---- Addresses and routes (addr_route.cpp)

// Addresses. add_addr ensures (an existing address is success); del_addr tolerates absence.
Expected<std::vector<AddrInfo>> list_addrs(Socket& sock, int ifindex /* 0 = all */,
                                           std::optional<net::Family> family = std::nullopt);
Expected<void> add_addr(Socket& sock, int ifindex, const net::Cidr& addr);
Expected<void> del_addr(Socket& sock, int ifindex, const net::Cidr& addr);

// Routes. add_route replaces (NLM_F_REPLACE); del_route tolerates absence. list_routes returns
// the unicast routes of the main table (no cloned/cache entries).
Expected<void> add_route(Socket& sock, const RouteInfo& route);
Expected<void> del_route(Socket& sock, const RouteInfo& route);
Expected<std::vector<RouteInfo>> list_routes(Socket& sock,
                                             std::optional<net::Family> family = std::nullopt);

// ---- Neighbours and FDB entries (neigh.cpp)

// A permanent neighbour (ARP/NDP) entry, created or replaced (NLM_F_REPLACE).
Expected<void> replace_neigh(Socket& sock, int ifindex, const net::IpAddr& ip, const net::Mac& mac);
// Tolerant: a missing entry (or link) is success.
Expected<void> del_neigh(Socket& sock, int ifindex, const net::IpAddr& ip);

// A permanent FDB entry of the device itself (NTF_SELF, AF_BRIDGE), as
// `bridge fdb replace MAC dev VXLAN dst VTEP self permanent`: frames for mac go to vtep.
Expected<void> replace_fdb(Socket& sock, int ifindex, const net::Mac& mac, const net::IpAddr& vtep);
// Tolerant. With vtep, only that remote of the entry goes; without, the whole entry.
Expected<void> del_fdb(Socket& sock, int ifindex, const net::Mac& mac,
                       std::optional<net::IpAddr> vtep = std::nullopt);

}  // namespace weir::netlink

#include "lib/netlink/sysctl.hpp"  // IWYU pragma: export
