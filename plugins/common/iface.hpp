// A container's interface addressed from an IPAM result, and the CHECK of it: what weir-bridge
// (the veth peer), weir-macvlan and weir-host's device mode do once their link is in the
// container.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lib/cni/result.hpp"
#include "lib/netlink/netlink.hpp"
#include "lib/netns/netns.hpp"

namespace weir::plugins {

struct IfaceSetup {
  const netns::Handle* netns = nullptr;  // the container's
  std::string ifname{};                  // its final name there (sysctls go by name)
  int ifindex = 0;
  // A default route via the gateway of each family that IPAM's routes have none for.
  bool default_route = false;
};

// The default routes configure_iface adds with default_route: per family, via the first
// gateway of that family in addrs.ips, unless addrs.routes has a default route of it (the
// reference bridge's calcGateways), in the order of addrs.ips.
std::vector<cni::Route> gateway_routes(const cni::Result& addrs);

// A route of the result as it goes into the kernel: one without a gateway goes via the first
// gateway of its family (the reference plugins' ipam.ConfigureIface); a /0 is the default.
netlink::RouteInfo kernel_route(const cni::Route& route, const std::vector<cni::IpConfig>& ips,
                                int ifindex);

// With an IPv4 address, arp_notify on (a gratuitous ARP when the link comes up: neighbours
// learn the new MAC at once); with an IPv6 one, DAD off (the address is ours by lease, and DAD
// would hold it "tentative" after ADD returns). Then the addresses, the link up, IPAM's routes
// and the default routes. Returns the routes for the result: IPAM's, then the default ones.
Expected<std::vector<cni::Route>> configure_iface(netlink::Socket& cs, const IfaceSetup& setup,
                                                  const cni::Result& addrs);

struct IfaceCheck {
  std::string ifname{};
  std::string mac{};             // "" = any
  std::vector<net::Cidr> ips{};  // each must be on the link
  // Each must be in the main table, through the link, with its gateway (nullopt: none). A
  // route without dst is the default route of its family.
  std::vector<netlink::RouteInfo> routes{};
};

// The default route via gw, for IfaceCheck::routes.
netlink::RouteInfo default_route_via(const net::IpAddr& gw);

// CHECK: the link is there, up, with its MAC, addresses and routes; the error (101) names the
// first thing missing. Returns the link for the caller's own checks (kind, master, mode).
Expected<netlink::LinkInfo> check_iface(netlink::Socket& cs, const IfaceCheck& want);

}  // namespace weir::plugins
