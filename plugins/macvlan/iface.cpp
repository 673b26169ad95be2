#include "plugins/macvlan/iface.hpp"

#include <algorithm>

namespace weir::plugins {

namespace {

bool has_default(const std::vector<cni::Route>& routes, net::Family family) {
  return std::any_of(routes.begin(), routes.end(), [&](const cni::Route& r) {
    return r.dst.prefix_len() == 0 && r.dst.family() == family;
  });
}

std::optional<net::IpAddr> gateway_of(const cni::Result& addrs, net::Family family) {
  for (const auto& ip : addrs.ips) {
    if (ip.gateway && ip.address.family() == family) return ip.gateway;
  }
  return std::nullopt;
}

net::Cidr default_dst(net::Family family) {
  return net::Cidr(*net::IpAddr::parse(family == net::Family::kV4 ? "0.0.0.0" : "::"), 0);
}

}  // namespace

std::vector<cni::Route> gateway_routes(const cni::Result& addrs) {
  std::vector<cni::Route> out;
  for (net::Family f : {net::Family::kV4, net::Family::kV6}) {
    auto gw = gateway_of(addrs, f);
    if (gw && !has_default(addrs.routes, f)) out.push_back({.dst = default_dst(f), .gw = gw});
  }
  return out;
}

Expected<std::vector<cni::Route>> configure_iface(netlink::Socket& cs, const IfaceSetup& s,
                                                  const cni::Result& addrs) {
  const netns::Handle& ns = *s.netns;
  if (auto ok = netlink::set_sysctl_in(ns, "net/ipv4/conf/" + s.ifname + "/arp_notify", "1"); !ok) {
    return fail(ok.error());
  }
  bool v6 = std::any_of(addrs.ips.begin(), addrs.ips.end(), [](const cni::IpConfig& ip) {
    return ip.address.family() == net::Family::kV6;
  });
  if (v6) {
    auto ok = netlink::set_sysctl_in(ns, "net/ipv6/conf/" + s.ifname + "/accept_dad", "0");
    if (!ok) return fail(ok.error());
  }
  // Addresses before up: arp_notify announces the addresses present when the link comes up.
  for (const auto& ip : addrs.ips) {
    if (auto ok = netlink::add_addr(cs, s.ifindex, ip.address); !ok) return fail(ok.error());
  }
  if (auto ok = netlink::set_link_up(cs, s.ifindex, true); !ok) return fail(ok.error());

  std::vector<cni::Route> routes = addrs.routes;
  if (s.default_route) {
    auto defaults = gateway_routes(addrs);
    routes.insert(routes.end(), defaults.begin(), defaults.end());
  }
  for (const auto& rt : routes) {
    netlink::RouteInfo r{.gw = rt.gw, .ifindex = s.ifindex, .family = rt.dst.family()};
    if (rt.dst.prefix_len() != 0) r.dst = rt.dst;
    // A route without a gateway goes via its family's gateway (reference ConfigureIface).
    if (!r.gw) r.gw = gateway_of(addrs, rt.dst.family());
    if (auto ok = netlink::add_route(cs, r); !ok) return fail(ok.error());
  }
  return routes;
}

Expected<netlink::LinkInfo> check_iface(netlink::Socket& cs, const IfaceCheck& want) {
  const std::string name = "interface \"" + want.ifname + "\"";
  auto link = netlink::get_link(cs, want.ifname);
  if (!link) {
    if (link.error().sys_errno == ENODEV)
      return fail(cni::check_failed(name + " is missing in the container"));
    return fail(link.error());
  }
  if (!link->up) return fail(cni::check_failed(name + " is down in the container"));
  if (!want.mac.empty() && link->mac.str() != want.mac) {
    return fail(cni::check_failed(name + " has MAC " + link->mac.str() + ", not " + want.mac));
  }
  auto addrs = netlink::list_addrs(cs, link->index);
  if (!addrs) return fail(addrs.error());
  for (const auto& ip : want.ips) {
    bool found = std::any_of(addrs->begin(), addrs->end(),
                             [&](const netlink::AddrInfo& a) { return a.addr == ip; });
    if (!found) return fail(cni::check_failed("address " + ip.str() + " is missing on " + name));
  }
  if (want.gateways.empty()) return link;
  auto routes = netlink::list_routes(cs);
  if (!routes) return fail(routes.error());
  for (const auto& gw : want.gateways) {
    bool found = std::any_of(routes->begin(), routes->end(), [&](const netlink::RouteInfo& r) {
      return !r.dst && r.gw == gw && r.ifindex == link->index;
    });
    if (!found) {
      return fail(
          cni::check_failed("the default route via " + gw.str() + " on " + name + " is missing"));
    }
  }
  return link;
}

}  // namespace weir::plugins
