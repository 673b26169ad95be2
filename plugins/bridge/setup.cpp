#include "plugins/bridge/setup.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include "lib/firewall/firewall.hpp"
#include "lib/netlink/sysctl.hpp"
#include "plugins/bridge/leftovers.hpp"
#include "plugins/bridge/marks.hpp"
#include "plugins/common/endpoints.hpp"

namespace weir::plugins::bridge {

namespace {

uint64_t fnv1a64(std::string_view text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Stable per bridge name, locally administered, unicast.
net::Mac bridge_mac(const std::string& name) {
  const uint64_t h = fnv1a64(name);
  uint8_t b[6] = {0x02,      uint8_t(h >> 32), uint8_t(h >> 24), uint8_t(h >> 16), uint8_t(h >> 8),
                  uint8_t(h)};
  return net::Mac::from_bytes(b);
}

// The gateway address goes on the bridge. An address of the same subnet already there is
// either the same gateway (fine), or replaced with forceAddress, or an error (reference bridge).
Expected<void> ensure_gateway(netlink::Socket& hs, const netlink::LinkInfo& br,
                              const BridgeConfig& cfg, const cni::IpConfig& ip) {
  if (!ip.gateway) return {};
  net::Cidr gw(*ip.gateway, ip.address.prefix_len());
  auto addrs = netlink::list_addrs(hs, br.index, gw.family());
  if (!addrs) return fail(addrs.error());
  bool present = false;
  for (const auto& a : *addrs) {
    if (a.addr == gw) present = true;
    if (a.addr == gw || !a.addr.network().overlaps(gw.network())) continue;
    if (!cfg.force_address) {
      return fail(cni::invalid_config("bridge \"" + cfg.bridge + "\" already has address " +
                                      a.addr.str() + ", not the gateway " + gw.str() +
                                      "; set forceAddress to replace it"));
    }
    if (auto ok = netlink::del_addr(hs, br.index, a.addr); !ok) return fail(ok.error());
  }
  return present ? Expected<void>{} : netlink::add_addr(hs, br.index, gw);
}

// What the bridge needs of the host beyond itself: forwarding, DAD off for its IPv6 gateway,
// br_netfilter for icc=false, route_localnet for published ports reached from 127.0.0.1.
Expected<void> ensure_sysctls(netlink::Socket& hs, const BridgeConfig& cfg, bool v4, bool v6) {
  // Routing between the bridge and the world needs forwarding; published ports reached from
  // 127.0.0.1 need route_localnet on the bridge (the DNAT target is not a local address).
  // Asked by netlink first: the write under /proc/sys is needed once per host.
  auto ensure_forwarding = [&hs](net::Family f, const char* key) -> Expected<void> {
    auto on = netlink::forwarding(hs, f);
    if (!on) return fail(on.error());
    return *on ? Expected<void>{} : netlink::set_sysctl(key, "1");
  };
  if (v4 && cfg.is_gateway) {
    if (auto ok = ensure_forwarding(net::Family::kV4, "net.ipv4.ip_forward"); !ok)
      return fail(ok.error());
  }
  if (v6 && cfg.is_gateway) {
    if (auto ok = ensure_forwarding(net::Family::kV6, "net/ipv6/conf/all/forwarding"); !ok) {
      return fail(ok.error());
    }
  }
  // icc=false drops bridge-internal traffic in the inet forward hook, which sees bridged
  // packets only through br_netfilter.
  if (!cfg.icc) {
    for (const char* key :
         {"net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables"}) {
      if (auto ok = netlink::set_sysctl(key, "1"); !ok) {
        return fail(std::move(ok.error()).context("icc=false needs br_netfilter"));
      }
    }
  }
  if (v4 && !cfg.ports.empty()) {
    auto ok = netlink::set_sysctl("net/ipv4/conf/" + cfg.bridge + "/route_localnet", "1");
    if (!ok) return fail(ok.error());
  }
  return {};
}

}  // namespace

Expected<netlink::LinkInfo> setup_bridge(const AddContext& add, const cni::Result& addrs) {
  const BridgeConfig& cfg = add.cfg;
  netlink::Socket& hs = add.host;
  // A pinned MAC keeps the bridge's address from following its lowest port as containers
  // come and go, which would flush every neighbour's ARP entry for the gateway.
  bool created = false;
  auto br = netlink::ensure_bridge(
      hs, {.name = cfg.bridge, .mtu = cfg.mtu, .mac = bridge_mac(cfg.bridge)}, &created);
  if (!br) return fail(br.error());
  if (created) {
    // Another ADD may have put its container on the bridge meanwhile: delete it only when
    // the store knows no endpoint on it.
    // Exclusive, as del_network_if_empty: no other ADD is between the bridge and its record.
    add.undo.push("delete bridge " + cfg.bridge,
                  [&hs, &st = add.store, &lock = add.lock, name = cfg.bridge]() -> Expected<void> {
                    if (auto ok = lock.exclusive(); !ok) return ok;
                    auto used = bridge_in_use(st, name);
                    if (!used) return fail(used.error());
                    return *used ? Expected<void>{} : netlink::del_link(hs, name);
                  });
    if (auto ok = netlink::set_link_alias(hs, br->index, bridge_alias(add.call.conf.name)); !ok) {
      return fail(ok.error());
    }
  }
  // A bridge someone else made keeps its MAC: one the kernel chose follows the lowest port's
  // (br_stp_recalculate_bridge_id) unless set once, which is what pins ours. Once: on the
  // network's first ADD, as the kernel announces every set (NETDEV_CHANGEADDR), and the host
  // flushes its neighbour entries on the bridge for it.
  if (!created && !br->alias.starts_with(kBridgeAliasPrefix)) {
    auto used = has_endpoints(add.store, add.call.conf.name);
    if (!used) return fail(used.error());
    if (!*used) {
      if (auto ok = netlink::set_mac(hs, br->index, br->mac); !ok) return fail(ok.error());
    }
  }
  if (cfg.promisc) {
    if (auto ok = netlink::set_promisc(hs, br->index, true); !ok) return fail(ok.error());
  }
  bool v4 = false, v6 = false;
  for (const auto& ip : addrs.ips) (ip.address.family() == net::Family::kV4 ? v4 : v6) = true;
  if (cfg.is_gateway) {
    // An IPv6 gateway under DAD stays "tentative" (and silent) for a second or more once the
    // bridge gets carrier, so containers could not reach it when ADD returns. The address is
    // ours by lease: skip DAD, as on the container side.
    if (v6) {
      auto ok = netlink::set_sysctl("net/ipv6/conf/" + cfg.bridge + "/accept_dad", "0");
      if (!ok) return fail(ok.error());
    }
    for (const auto& ip : addrs.ips) {
      if (auto ok = ensure_gateway(hs, *br, cfg, ip); !ok) return fail(ok.error());
    }
  }
  if (auto ok = ensure_sysctls(hs, cfg, v4, v6); !ok) return fail(ok.error());
  return br;
}

Expected<netlink::VethPair> setup_veth(const AddContext& add, const netlink::LinkInfo& br) {
  const BridgeConfig& cfg = add.cfg;
  const cni::CallEnv& env = add.call.env;
  const std::string host_name = netlink::veth_name(env.container_id, env.ifname);
  const netlink::VethSpec spec{
      .host_name = host_name,
      .peer_name = env.ifname,
      .peer_netns = &add.netns,
      .mtu = cfg.mtu,
      .peer_mac = cfg.mac,
      .host_master = br.index,
      .queues = cfg.veth_queues,
      .host_without_ipv6_lladdr = true,
      .host_alias =
          port_alias(store_mark(cfg.data_dir), add.call.conf.name, env.container_id, env.ifname)};
  // A taken name is most often the previous attachment's, whose DEL left the pair to a
  // background delete that has not finished (a quick disconnect and connect): name_holder
  // knows it by its alias, and it is deleted now.
  auto pair = netlink::create_veth(add.host, spec);
  for (int attempt = 0; attempt < 2 && !pair && pair.error().sys_errno == EEXIST; ++attempt) {
    auto holder = name_holder(add, spec, br);
    if (!holder) return fail(holder.error());
    if (holder->what == NameHolder::kOther) break;
    if (holder->what == NameHolder::kLeftover) {
      if (auto ok = netlink::del_link(add.host, holder->index); !ok) return fail(ok.error());
    }
    pair = netlink::create_veth(add.host, spec);
  }
  if (!pair) return fail(pair.error());
  // Deleting the host end removes the pair, wherever the peer is. By index: a link that took
  // the name meanwhile is not ours.
  add.undo.push("delete veth " + host_name, [&hs = add.host, index = pair->host.index] {
    return netlink::del_link(hs, index);
  });
  // Created up and on the bridge. Hairpin lets a container reach its own published port
  // through the host's address.
  if (cfg.hairpin || !cfg.ports.empty()) {
    if (auto ok = netlink::set_bridge_port_hairpin(add.host, pair->host.index, true); !ok) {
      return fail(ok.error());
    }
  }
  return pair;
}

Expected<bool> bridge_in_use(store::Store& st, const std::string& bridge) {
  auto all = list_endpoints(st, "");
  if (!all) return fail(all.error());
  return std::any_of(all->begin(), all->end(),
                     [&](const store::Endpoint& ep) { return recorded_bridge(ep) == bridge; });
}

Expected<void> del_network_if_empty(const Context& ctx, BridgeLock& lock,
                                    const std::string& bridge) {
  const std::string& network = ctx.call.conf.name;
  if (auto ok = lock.exclusive(); !ok) return ok;
  auto left = has_endpoints(ctx.store, network);
  if (!left) return fail(left.error());
  if (*left) return {};
  if (auto ok = firewall::del_network(network); !ok) return ok;
  if (auto removed = firewall::del_table_if_unused(); !removed) return fail(removed.error());
  auto br = netlink::get_link(ctx.host, bridge);
  if (!br) return {};
  if (!made_for(*br, network)) return {};
  auto used = bridge_in_use(ctx.store, bridge);
  if (!used) return fail(used.error());
  return *used ? Expected<void>{} : netlink::del_link(ctx.host, bridge);
}

}  // namespace weir::plugins::bridge
