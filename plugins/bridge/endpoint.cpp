#include "plugins/bridge/endpoint.hpp"

#include "lib/firewall/firewall.hpp"
#include "lib/netlink/netlink.hpp"
#include "plugins/bridge/rules.hpp"
#include "plugins/common/ipam_client.hpp"

namespace weir::plugins::bridge {

Expected<void> check_endpoint(const cni::Call& call, const BridgeConfig& cfg,
                              const store::Endpoint& ep, const netns::Handle& ns) {
  auto hs = netlink::Socket::open();
  if (!hs) return fail(hs.error());
  auto br = netlink::get_link(*hs, cfg.bridge);
  if (!br) return fail(cni::check_failed("bridge \"" + cfg.bridge + "\" is missing"));
  if (br->kind != "bridge") return fail(cni::check_failed("\"" + cfg.bridge + "\" is not a bridge"));
  auto veth = netlink::get_link(*hs, ep.host_ifname);
  if (!veth) return fail(cni::check_failed("host veth \"" + ep.host_ifname + "\" is missing"));
  if (veth->master != br->index) {
    return fail(cni::check_failed("host veth \"" + ep.host_ifname + "\" is not a port of bridge \"" +
                                  cfg.bridge + "\""));
  }

  auto cs = netlink::Socket::open_in(ns);
  if (!cs) return fail(cs.error());
  auto itf = netlink::get_link(*cs, call.env.ifname);
  if (!itf) return fail(cni::check_failed("interface \"" + call.env.ifname + "\" is missing in the container"));
  if (!itf->up) return fail(cni::check_failed("interface \"" + call.env.ifname + "\" is down in the container"));
  if (itf->mac.str() != ep.mac) {
    return fail(cni::check_failed("interface \"" + call.env.ifname + "\" has MAC " + itf->mac.str() +
                                  ", not " + ep.mac));
  }
  auto addrs = netlink::list_addrs(*cs, itf->index);
  if (!addrs) return fail(addrs.error());
  for (const auto& ip : ep.ips) {
    bool found = false;
    for (const auto& a : *addrs) found = found || a.addr == ip;
    if (!found) {
      return fail(cni::check_failed("address " + ip.str() + " is missing on \"" + call.env.ifname + "\""));
    }
  }
  if (cfg.is_default_gateway && !cfg.internal && !ep.ips.empty()) {
    auto routes = netlink::list_routes(*cs);
    if (!routes) return fail(routes.error());
    for (const auto& ip : ep.ips) {
      bool found = false;
      for (const auto& r : *routes) found = found || (!r.dst && r.family == ip.family());
      if (!found) return fail(cni::check_failed("the default route of the container is missing"));
    }
  }
  if (!ep.ips.empty()) {
    if (auto ok = firewall::check_network(network_rules(call.conf.name, cfg, ep.ips)); !ok) return ok;
    if (auto ok = firewall::check_endpoint(endpoint_rules(call, cfg, ep.ips)); !ok) return ok;
  }
  return ipam_check(call);
}

}  // namespace weir::plugins::bridge
