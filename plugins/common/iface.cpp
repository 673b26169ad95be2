#include "plugins/common/iface.hpp"

#include <algorithm>

namespace weir::plugins {

namespace {

bool has_default(const std::vector<cni::Route>& routes, net::Family family) {
  return std::any_of(routes.begin(), routes.end(), [&](const cni::Route& r) {
    return r.dst.prefix_len() == 0 && r.dst.family() == family;
  });
}

bool has_family(const cni::Result& addrs, net::Family family) {
  return std::any_of(addrs.ips.begin(), addrs.ips.end(),
                     [&](const cni::IpConfig& ip) { return ip.address.family() == family; });
}

net::Cidr default_dst(net::Family family) {
  return net::Cidr(*net::IpAddr::parse(family == net::Family::kV4 ? "0.0.0.0" : "::"), 0);
}

bool same_route(const netlink::RouteInfo& have, const netlink::RouteInfo& want, int ifindex) {
  if (have.ifindex != ifindex || have.gw != want.gw) return false;
  if (!want.dst) return (!have.dst || have.dst->prefix_len() == 0) && have.family == want.family;
  return have.dst && have.dst->network() == want.dst->network();
}

std::string describe(const netlink::RouteInfo& r) {
  std::string s = r.dst ? "route " + r.dst->str() : std::string("the default route");
  if (r.gw) s += " via " + r.gw->str();
  return s;
}

}  // namespace

std::vector<cni::Route> gateway_routes(const cni::Result& addrs) {
  std::vector<cni::Route> out;
  for (const auto& ip : addrs.ips) {
    if (!ip.gateway) continue;
    const net::Family f = ip.address.family();
    if (has_default(addrs.routes, f) || has_default(out, f)) continue;
    out.push_back({.dst = default_dst(f), .gw = ip.gateway});
  }
  return out;
}

netlink::RouteInfo kernel_route(const cni::Route& rt, const std::vector<cni::IpConfig>& ips,
                                int ifindex) {
  netlink::RouteInfo r{.gw = rt.gw, .ifindex = ifindex, .family = rt.dst.family()};
  if (rt.dst.prefix_len() != 0) r.dst = rt.dst;
  for (const auto& ip : ips) {
    if (!r.gw && ip.gateway && ip.address.family() == rt.dst.family()) r.gw = ip.gateway;
  }
  return r;
}

netlink::RouteInfo default_route_via(const net::IpAddr& gw) {
  return {.gw = gw, .family = gw.family()};
}

Expected<std::vector<cni::Route>> configure_iface(netlink::Socket& cs, const IfaceSetup& s,
                                                  const cni::Result& addrs) {
  const netns::Handle& ns = *s.netns;
  // arp_notify announces the addresses when the link comes up. A network with IPv4 addresses
  // and no IPv6 ones gets no IPv6 link-local address either, as Docker does: no DAD, MLD or
  // router solicitations flooded to every port of the bridge by each new container.
  const bool v4 = has_family(addrs, net::Family::kV4);
  const bool v4_only = v4 && !has_family(addrs, net::Family::kV6);
  if (v4) {
    auto ok = netlink::set_address_conf(cs, s.ifindex, {.arp_notify = true, .no_ipv6_lladdr = v4_only});
    if (!ok) return fail(ok.error());
  }
  if (has_family(addrs, net::Family::kV6)) {
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
    if (auto ok = netlink::add_route(cs, kernel_route(rt, addrs.ips, s.ifindex)); !ok) {
      return fail(ok.error());
    }
  }
  return routes;
}

Expected<netlink::LinkInfo> check_iface(netlink::Socket& cs, const IfaceCheck& want) {
  const std::string name = "interface \"" + want.ifname + "\"";
  auto link = netlink::get_link(cs, want.ifname);
  if (!link) {
    if (link.error().sys_errno == ENODEV) {
      return fail(cni::check_failed(name + " is missing in the container"));
    }
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
  if (want.routes.empty()) return link;
  auto routes = netlink::list_routes(cs);
  if (!routes) return fail(routes.error());
  for (const auto& r : want.routes) {
    bool found = std::any_of(routes->begin(), routes->end(), [&](const netlink::RouteInfo& have) {
      return same_route(have, r, link->index);
    });
    if (!found) return fail(cni::check_failed(describe(r) + " on " + name + " is missing"));
  }
  return link;
}

}  // namespace weir::plugins
