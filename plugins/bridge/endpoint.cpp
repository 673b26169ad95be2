#include "plugins/bridge/endpoint.hpp"

#include "lib/firewall/firewall.hpp"
#include "lib/netlink/netlink.hpp"
#include "plugins/bridge/rules.hpp"
#include "plugins/common/ipam_client.hpp"

namespace weir::plugins::bridge {

namespace {

// The routes ADD made, as recorded in the endpoint's extra ("routes": [{"dst", "gw"}]), must
// all be in the container's main table, through its interface.
Expected<void> check_routes(const cni::Call& call, const store::Endpoint& ep, int ifindex,
                            netlink::Socket& cs) {
  auto extra = nlohmann::json::parse(ep.extra, nullptr, false);
  if (!extra.is_object() || !extra.contains("routes") || !extra["routes"].is_array()) return {};
  if (extra["routes"].empty()) return {};
  auto have = netlink::list_routes(cs);
  if (!have) return fail(have.error());
  for (const auto& want : extra["routes"]) {
    auto dst = net::Cidr::parse(want.value("dst", ""));
    if (!dst) continue;
    std::optional<net::IpAddr> gw;
    if (want.contains("gw")) gw = net::IpAddr::parse(want["gw"].get<std::string>());
    const bool is_default = dst->prefix_len() == 0;
    bool found = false;
    for (const auto& r : *have) {
      const bool same_dst = is_default ? (!r.dst || r.dst->prefix_len() == 0) && r.family == dst->family()
                                       : r.dst && *r.dst == *dst;
      found = found || (same_dst && r.ifindex == ifindex && r.gw == gw);
    }
    if (!found) {
      std::string what = is_default ? "the default route" : "route " + dst->str();
      if (gw) what += " via " + gw->str();
      return fail(cni::check_failed(what + " is missing in the container (\"" + call.env.ifname + "\")"));
    }
  }
  return {};
}

}  // namespace

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
  if (itf->kind != "veth" || veth->link != itf->index) {
    return fail(cni::check_failed("interface \"" + call.env.ifname + "\" in the container is not the peer of host veth \"" +
                                  ep.host_ifname + "\""));
  }
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
  if (auto ok = check_routes(call, ep, itf->index, *cs); !ok) return ok;
  if (!ep.ips.empty()) {
    if (auto ok = firewall::check_network(network_rules(call.conf.name, cfg, ep.ips)); !ok) return ok;
    if (auto ok = firewall::check_endpoint(endpoint_rules(call, cfg, ep.ips)); !ok) return ok;
  }
  return ipam_check(call);
}

}  // namespace weir::plugins::bridge
