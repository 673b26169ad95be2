// A container's interface addressed from an IPAM result, and the CHECK of it. Shared by
// weir-macvlan and weir-host's device mode; the same steps as bridge's configure_container,
// so this belongs in plugins/common once the bridge uses it too.
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
  // A default route via the first gateway of each family, unless IPAM's routes have one.
  bool default_route = false;
};

// The default routes configure_iface adds for addrs (empty without default_route).
std::vector<cni::Route> gateway_routes(const cni::Result& addrs);

// arp_notify on (a gratuitous ARP when the link comes up), IPv6 DAD off (the address is ours by
// lease), the addresses, the link up, IPAM's routes, then the default routes. Returns the routes
// for the result: IPAM's plus the default ones.
Expected<std::vector<cni::Route>> configure_iface(netlink::Socket& cs, const IfaceSetup& setup,
                                                  const cni::Result& addrs);

struct IfaceCheck {
  std::string ifname{};
  std::string mac{};                    // "" = any
  std::vector<net::Cidr> ips{};         // each must be on the link
  std::vector<net::IpAddr> gateways{};  // each needs a default route via it on the link
};

// CHECK: the link is there, up, with its MAC, addresses and default routes; the error (101)
// names the first thing missing. Returns the link for the caller's own checks.
Expected<netlink::LinkInfo> check_iface(netlink::Socket& cs, const IfaceCheck& want);

}  // namespace weir::plugins
