#include "plugins/bridge/endpoint.hpp"

#include "lib/firewall/firewall.hpp"
#include "lib/netlink/netlink.hpp"
#include "plugins/bridge/rules.hpp"
#include "plugins/common/iface.hpp"

namespace weir::plugins::bridge {

namespace {

// The routes ADD made, as recorded in the endpoint's extra ("routes": [{"dst", "gw"}]): each
// must be in the container's main table, through its interface.
std::vector<netlink::RouteInfo> recorded_routes(const store::Endpoint& ep) {
  std::vector<netlink::RouteInfo> out;
  auto extra = nlohmann::json::parse(ep.extra, nullptr, false);
  if (!extra.is_object() || !extra.contains("routes") || !extra["routes"].is_array()) return out;
  for (const auto& want : extra["routes"]) {
    if (!want.is_object()) continue;
    auto dst = net::Cidr::parse(want.value("dst", ""));
    if (!dst) continue;
    netlink::RouteInfo r{.family = dst->family()};
    if (dst->prefix_len() != 0) r.dst = *dst;
    if (want.contains("gw") && want["gw"].is_string()) {
      r.gw = net::IpAddr::parse(want["gw"].get<std::string>());
    }
    out.push_back(std::move(r));
  }
  return out;
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
  auto itf = check_iface(
      *cs,
      {.ifname = call.env.ifname, .mac = ep.mac, .ips = ep.ips, .routes = recorded_routes(ep)});
  if (!itf) return fail(itf.error());
  if (itf->kind != "veth" || veth->link != itf->index) {
    return fail(cni::check_failed("interface \"" + call.env.ifname +
                                  "\" in the container is not the peer of host veth \"" +
                                  ep.host_ifname + "\""));
  }
  if (!ep.ips.empty()) {
    if (auto ok = firewall::check_network(network_rules(call.conf.name, cfg, ep.ips)); !ok) return ok;
  }
  if (!ep.ips.empty() || cfg.macspoofchk) {
    // The spoof check is for the MAC ADD recorded, which check_iface found on the interface.
    auto mac = net::Mac::parse(ep.mac);
    if (!mac) {
      return fail(cni::check_failed("the record of " + call.env.container_id + "/" + call.env.ifname +
                                    " has no valid MAC: \"" + ep.mac + "\""));
    }
    const firewall::SpoofCheck port{.host_ifname = ep.host_ifname, .mac = *mac};
    if (auto ok = firewall::check_endpoint(endpoint_rules(call, cfg, ep.ips, port)); !ok) return ok;
  }
  return {};
}

Expected<bool> attachment_alive(const store::Endpoint& ep) {
  if (ep.netns.empty()) return true;  // nothing to tell by
  auto ns = netns::Handle::open(ep.netns);
  if (!ns) {
    const int e = ns.error().sys_errno;
    if (e == ENOENT || e == ENOTDIR) return false;
    return fail(std::move(ns.error()).context("is the container of netns \"" + ep.netns + "\" alive"));
  }
  // setns refuses a file that is no namespace (left where one was mounted): EINVAL.
  auto sock = netlink::Socket::open_in(*ns);
  if (!sock) {
    if (sock.error().sys_errno == EINVAL) return false;
    return fail(sock.error());
  }
  const auto extra = nlohmann::json::parse(ep.extra, nullptr, false);
  if (!extra.is_object() || !extra.contains(kNetnsCookie) || !extra[kNetnsCookie].is_number_unsigned()) {
    return true;  // a record of an older weir: the path alone
  }
  auto cookie = netlink::netns_cookie(*sock);
  if (!cookie) return fail(cookie.error());
  return extra[kNetnsCookie].get<uint64_t>() == *cookie;
}

}  // namespace weir::plugins::bridge
