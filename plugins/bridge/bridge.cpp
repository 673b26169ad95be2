#include "plugins/bridge/bridge.hpp"

#include <algorithm>

#include "lib/cni/rollback.hpp"
#include "lib/firewall/firewall.hpp"
#include "lib/netlink/netlink.hpp"
#include "lib/netlink/sysctl.hpp"
#include "lib/store/sqlite.hpp"
#include "plugins/bridge/config.hpp"
#include "plugins/bridge/endpoint.hpp"
#include "plugins/bridge/rules.hpp"
#include "plugins/common/ipam_client.hpp"
#include "plugins/common/netns_open.hpp"

namespace weir::plugins::bridge {

namespace {

// Bridges weir made carry this alias, so the last DEL removes only bridges weir created.
constexpr std::string_view kBridgeAliasPrefix = "weir:";

// Stable per bridge name, locally administered, unicast.
net::Mac bridge_mac(const std::string& name) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a 64
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  uint8_t b[6] = {0x02, uint8_t(h >> 32), uint8_t(h >> 24), uint8_t(h >> 16), uint8_t(h >> 8), uint8_t(h)};
  return net::Mac::from_bytes(b);
}

struct Links {
  netlink::LinkInfo bridge;
  netlink::LinkInfo host_veth;
  netlink::LinkInfo container;
};

std::vector<net::Cidr> addresses_of(const cni::Result& r) {
  std::vector<net::Cidr> out;
  for (const auto& ip : r.ips) out.push_back(ip.address);
  return out;
}

// The gateway address goes on the bridge. An address of the same subnet already there is
// either the same gateway (fine), or replaced with forceAddress, or an error (reference bridge).
Expected<void> ensure_gateway(netlink::Socket& hs, const netlink::LinkInfo& br,
                              const BridgeConfig& cfg, const cni::IpConfig& ip) {
  if (!ip.gateway) return {};
  net::Cidr gw(*ip.gateway, ip.address.prefix_len());
  auto addrs = netlink::list_addrs(hs, br.index, gw.family());
  if (!addrs) return fail(addrs.error());
  for (const auto& a : *addrs) {
    if (a.addr == gw || !a.addr.network().overlaps(gw.network())) continue;
    if (!cfg.force_address) {
      return fail(cni::invalid_config("bridge \"" + cfg.bridge + "\" already has address " +
                                      a.addr.str() + ", not the gateway " + gw.str() +
                                      "; set forceAddress to replace it"));
    }
    if (auto ok = netlink::del_addr(hs, br.index, a.addr); !ok) return fail(ok.error());
  }
  return netlink::add_addr(hs, br.index, gw);
}

Expected<netlink::LinkInfo> setup_bridge(netlink::Socket& hs, const cni::Call& call,
                                         const BridgeConfig& cfg, const cni::Result& addrs,
                                         cni::Rollback& undo) {
  auto existing = netlink::get_link(hs, cfg.bridge);
  // A pinned MAC keeps the bridge's address from following its lowest port as containers
  // come and go, which would flush every neighbour's ARP entry for the gateway.
  auto br = netlink::ensure_bridge(hs, {.name = cfg.bridge, .mtu = cfg.mtu, .mac = bridge_mac(cfg.bridge)});
  if (!br) return fail(br.error());
  if (!existing) {
    undo.push("delete bridge " + cfg.bridge, [&hs, name = cfg.bridge] { return netlink::del_link(hs, name); });
    std::string alias = std::string(kBridgeAliasPrefix) + call.conf.name;
    if (auto ok = netlink::set_link_alias(hs, br->index, alias); !ok) return fail(ok.error());
  }
  if (cfg.promisc) {
    if (auto ok = netlink::set_promisc(hs, br->index, true); !ok) return fail(ok.error());
  }
  if (cfg.is_gateway) {
    for (const auto& ip : addrs.ips) {
      if (auto ok = ensure_gateway(hs, *br, cfg, ip); !ok) return fail(ok.error());
    }
  }
  // Routing between the bridge and the world needs forwarding; published ports reached from
  // 127.0.0.1 need route_localnet on the bridge (the DNAT target is not a local address).
  bool v4 = false, v6 = false;
  for (const auto& ip : addrs.ips) (ip.address.family() == net::Family::kV4 ? v4 : v6) = true;
  if (v4 && cfg.is_gateway) {
    if (auto ok = netlink::set_sysctl("net.ipv4.ip_forward", "1"); !ok) return fail(ok.error());
  }
  if (v6 && cfg.is_gateway) {
    if (auto ok = netlink::set_sysctl("net/ipv6/conf/all/forwarding", "1"); !ok) return fail(ok.error());
  }
  // icc=false drops bridge-internal traffic in the inet forward hook, which sees bridged
  // packets only through br_netfilter.
  if (!cfg.icc) {
    for (const char* key : {"net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables"}) {
      if (auto ok = netlink::set_sysctl(key, "1"); !ok) {
        return fail(std::move(ok.error()).context("icc=false needs br_netfilter"));
      }
    }
  }
  if (v4 && !cfg.ports.empty()) {
    auto ok = netlink::set_sysctl("net/ipv4/conf/" + cfg.bridge + "/route_localnet", "1");
    if (!ok) return fail(ok.error());
  }
  return br;
}

// The container's end: created directly in its netns under its final name, then addressed.
Expected<netlink::VethPair> setup_veth(netlink::Socket& hs, netlink::Socket& cs,
                                       const netns::Handle& ns, const cni::Call& call,
                                       const BridgeConfig& cfg, const netlink::LinkInfo& br,
                                       cni::Rollback& undo) {
  const std::string host_name = netlink::veth_name(call.env.container_id, call.env.ifname);
  auto pair = netlink::create_veth(hs, {.host_name = host_name,
                                        .peer_name = call.env.ifname,
                                        .peer_netns = &ns,
                                        .mtu = cfg.mtu,
                                        .peer_mac = cfg.mac});
  if (!pair) return fail(pair.error());
  // Deleting the host end removes the pair, wherever the peer is.
  undo.push("delete veth " + host_name, [&hs, host_name] { return netlink::del_link(hs, host_name); });
  (void)cs;
  if (auto ok = netlink::set_master(hs, pair->host.index, br.index); !ok) return fail(ok.error());
  // Hairpin lets a container reach its own published port through the host's address.
  if (cfg.hairpin || !cfg.ports.empty()) {
    if (auto ok = netlink::set_bridge_port_hairpin(hs, pair->host.index, true); !ok) return fail(ok.error());
  }
  if (auto ok = netlink::set_link_up(hs, pair->host.index, true); !ok) return fail(ok.error());
  return pair;
}

Expected<void> configure_container(netlink::Socket& cs, const netns::Handle& ns,
                                   const cni::Call& call, const BridgeConfig& cfg, int ifindex,
                                   const cni::Result& addrs) {
  const std::string& ifname = call.env.ifname;
  bool v4 = false, v6 = false;
  for (const auto& ip : addrs.ips) (ip.address.family() == net::Family::kV4 ? v4 : v6) = true;
  // Announce the new MAC at once (gratuitous ARP on up), and skip DAD: the address is ours by
  // lease, and DAD would hold it "tentative" for a second after ADD returns.
  if (v4) {
    if (auto ok = netlink::set_sysctl_in(ns, "net/ipv4/conf/" + ifname + "/arp_notify", "1"); !ok) return ok;
  }
  if (v6) {
    if (auto ok = netlink::set_sysctl_in(ns, "net/ipv6/conf/" + ifname + "/accept_dad", "0"); !ok) return ok;
  }
  for (const auto& ip : addrs.ips) {
    if (auto ok = netlink::add_addr(cs, ifindex, ip.address); !ok) return ok;
  }
  if (auto ok = netlink::set_link_up(cs, ifindex, true); !ok) return ok;
  for (const auto& rt : addrs.routes) {
    netlink::RouteInfo r{.ifindex = ifindex, .family = rt.dst.family()};
    if (rt.dst.prefix_len() != 0) r.dst = rt.dst;
    r.gw = rt.gw;
    if (!r.gw) {
      // A route without a gateway goes via the gateway of its family (reference behaviour).
      for (const auto& ip : addrs.ips) {
        if (ip.gateway && ip.address.family() == rt.dst.family()) r.gw = ip.gateway;
      }
    }
    if (auto ok = netlink::add_route(cs, r); !ok) return ok;
  }
  if (cfg.is_default_gateway && !cfg.internal) {
    for (const auto& ip : addrs.ips) {
      if (!ip.gateway) continue;
      netlink::RouteInfo r{.gw = ip.gateway, .ifindex = ifindex, .family = ip.address.family()};
      if (auto ok = netlink::add_route(cs, r); !ok) return ok;
    }
  }
  return {};
}

cni::Result make_result(const cni::Call& call, const BridgeConfig& cfg, const Links& links,
                        cni::Result addrs) {
  cni::Result r;
  r.interfaces.push_back({.name = links.bridge.name, .mac = links.bridge.mac.str()});
  r.interfaces.push_back({.name = links.host_veth.name, .mac = links.host_veth.mac.str()});
  r.interfaces.push_back({.name = call.env.ifname,
                          .mac = links.container.mac.str(),
                          .mtu = cfg.mtu ? std::optional<uint32_t>(cfg.mtu) : std::nullopt,
                          .sandbox = call.env.netns});
  for (auto& ip : addrs.ips) {
    ip.interface = 2;
    if (!cfg.is_gateway && !ip.gateway) ip.gateway.reset();
    r.ips.push_back(ip);
  }
  r.routes = std::move(addrs.routes);
  if (cfg.is_default_gateway && !cfg.internal) {
    for (const auto& ip : r.ips) {
      if (!ip.gateway) continue;
      net::Cidr any(ip.address.family() == net::Family::kV4 ? *net::IpAddr::parse("0.0.0.0")
                                                            : *net::IpAddr::parse("::"), 0);
      r.routes.push_back({.dst = any, .gw = ip.gateway});
    }
  }
  r.dns = call.conf.dns.empty() ? addrs.dns : call.conf.dns;
  return r;
}

// Removes the network's bridge and rules once its last endpoint is gone.
Expected<void> del_network_if_empty(store::Store& st, netlink::Socket& hs, const std::string& network,
                                    const std::string& bridge) {
  auto left = list_endpoints(st, network);
  if (!left) return fail(left.error());
  if (!left->empty()) return {};
  if (auto ok = firewall::del_network(network); !ok) return ok;
  if (auto removed = firewall::del_table_if_unused(); !removed) return fail(removed.error());
  auto br = netlink::get_link(hs, bridge);
  if (!br) return {};
  if (br->alias == std::string(kBridgeAliasPrefix) + network) return netlink::del_link(hs, bridge);
  return {};
}

Expected<cni::Result> cmd_add(const cni::Call& call) {
  auto cfg = parse_config(call);
  if (!cfg) return fail(cfg.error());
  auto ns = open_container_netns(call.env.netns);
  if (!ns) return fail(ns.error());
  auto hs = netlink::Socket::open();
  if (!hs) return fail(hs.error());
  auto cs = netlink::Socket::open_in(*ns);
  if (!cs) return fail(cs.error());
  auto store = open_store(cfg->data_dir);
  if (!store) return fail(store.error());

  cni::Rollback undo(&call.process->err());
  // Addresses first: an exhausted range fails before any kernel change.
  cni::Result addrs;
  if (cfg->ipam) {
    auto r = ipam_add(call);
    if (!r) return fail(r.error());
    addrs = std::move(*r);
    undo.push("release addresses", [&call] { return ipam_del(call); });
  }
  auto br = setup_bridge(*hs, call, *cfg, addrs, undo);
  if (!br) return fail(br.error());
  auto pair = setup_veth(*hs, *cs, *ns, call, *cfg, *br, undo);
  if (!pair) return fail(pair.error());
  if (auto ok = configure_container(*cs, *ns, call, *cfg, pair->peer_index, addrs); !ok) {
    return fail(std::move(ok.error()).context("configure \"" + call.env.ifname + "\" in the container"));
  }

  if (!addrs.ips.empty()) {
    if (auto ok = firewall::ensure_network(network_rules(call.conf.name, *cfg, addresses_of(addrs))); !ok) {
      return fail(ok.error());
    }
    undo.push("remove the network's rules if it has no endpoint", [&] {
      return del_network_if_empty(**store, *hs, call.conf.name, cfg->bridge);
    });
    undo.push("remove firewall rules", [&] {
      return firewall::del_endpoint(call.conf.name, call.env.container_id, call.env.ifname);
    });
    if (auto ok = firewall::ensure_endpoint(endpoint_rules(call, *cfg, addresses_of(addrs))); !ok) return fail(ok.error());
  }

  Links links{.bridge = *br, .host_veth = pair->host};
  links.container.mac = pair->peer_mac;
  auto result = make_result(call, *cfg, links, std::move(addrs));
  EndpointInfo info{.mac = result.interfaces.back().mac,
                    .host_ifname = pair->host.name,
                    .ips = addresses_of(result),
                    .aliases = cfg->aliases,
                    .extra = {{"bridge", cfg->bridge}, {"embeddedDNS", cfg->embedded_dns}}};
  if (auto ok = save_endpoint(**store, call, info); !ok) return fail(ok.error());
  undo.commit();
  return result;
}

// DEL walks the stored endpoint, not the caller's memory: no prevResult, no netns needed.
Expected<void> remove_endpoint(store::Store& st, netlink::Socket& hs, const cni::Call& call,
                               const std::string& bridge) {
  auto ep = load_endpoint(st, call);
  if (!ep) return fail(ep.error());
  std::string host_veth = *ep ? (*ep)->host_ifname : netlink::veth_name(call.env.container_id, call.env.ifname);
  if (auto ok = netlink::del_link(hs, host_veth); !ok) return ok;
  if (auto ok = firewall::del_endpoint(call.conf.name, call.env.container_id, call.env.ifname); !ok) return ok;
  if (auto ok = ipam_del(call); !ok) return ok;
  if (auto ok = forget_endpoint(st, call.conf.name, call.env.container_id, call.env.ifname); !ok) return ok;
  return del_network_if_empty(st, hs, call.conf.name, bridge);
}

Expected<void> cmd_del(const cni::Call& call) {
  auto cfg = parse_config(call);
  if (!cfg) return fail(cfg.error());
  auto hs = netlink::Socket::open();
  if (!hs) return fail(hs.error());
  auto store = open_store(cfg->data_dir);
  if (!store) return fail(store.error());
  return remove_endpoint(**store, *hs, call, cfg->bridge);
}

Expected<void> cmd_check(const cni::Call& call) {
  auto cfg = parse_config(call);
  if (!cfg) return fail(cfg.error());
  auto ns = open_container_netns(call.env.netns);
  if (!ns) return fail(ns.error());
  auto store = open_store(cfg->data_dir);
  if (!store) return fail(store.error());
  auto ep = load_endpoint(**store, call);
  if (!ep) return fail(ep.error());
  if (!*ep) {
    return fail(cni::check_failed("no endpoint " + call.env.container_id + "/" + call.env.ifname +
                                  " on network \"" + call.conf.name + "\""));
  }
  return check_endpoint(call, *cfg, **ep, *ns);
}

Expected<void> cmd_status(const cni::Call& call) {
  auto cfg = parse_config(call);
  if (!cfg) return fail(cfg.error());
  return ipam_status(call);
}

Expected<void> cmd_gc(const cni::Call& call, const std::vector<cni::Attachment>& valid) {
  auto cfg = parse_config(call);
  if (!cfg) return fail(cfg.error());
  auto hs = netlink::Socket::open();
  if (!hs) return fail(hs.error());
  auto store = open_store(cfg->data_dir);
  if (!store) return fail(store.error());
  auto eps = list_endpoints(**store, call.conf.name);
  if (!eps) return fail(eps.error());
  for (const auto& ep : *eps) {
    cni::Attachment a{ep.container_id, ep.ifname};
    if (std::find(valid.begin(), valid.end(), a) != valid.end()) continue;
    if (auto ok = netlink::del_link(*hs, ep.host_ifname); !ok) return ok;
    if (auto ok = firewall::del_endpoint(ep.network, ep.container_id, ep.ifname); !ok) return ok;
    if (auto ok = forget_endpoint(**store, ep.network, ep.container_id, ep.ifname); !ok) return ok;
  }
  if (auto ok = ipam_gc(call, valid); !ok) return ok;
  return del_network_if_empty(**store, *hs, call.conf.name, cfg->bridge);
}

}  // namespace

cni::Verbs verbs() {
  return {.add = cmd_add, .del = cmd_del, .check = cmd_check, .status = cmd_status, .gc = cmd_gc};
}

}  // namespace weir::plugins::bridge
