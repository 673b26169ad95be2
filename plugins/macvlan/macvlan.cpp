#include "plugins/macvlan/macvlan.hpp"

#include <algorithm>

#include "lib/cni/rollback.hpp"
#include "lib/netlink/netlink.hpp"
#include "dns/records.hpp"
#include "plugins/common/collect.hpp"
#include "plugins/common/embedded_dns.hpp"
#include "plugins/common/endpoints.hpp"
#include "plugins/common/iface.hpp"
#include "plugins/common/ipam_client.hpp"
#include "plugins/common/netns_open.hpp"
#include "plugins/common/store_open.hpp"
#include "plugins/macvlan/config.hpp"

namespace weir::plugins::macvlan {

namespace {

using nlohmann::json;

// The sockets of one call: the container's, and the one the master is on (the host's, or the
// container's again with linkInContainer).
struct Sockets {
  netlink::Socket container;
  std::optional<netlink::Socket> host;
  netlink::Socket& master() { return host ? *host : container; }
};

Expected<Sockets> open_sockets(const netns::Handle& ns, const MacvlanConfig& cfg) {
  auto cs = netlink::Socket::open_in(ns);
  if (!cs) return fail(cs.error());
  Sockets s{.container = std::move(*cs)};
  if (!cfg.link_in_container) {
    auto hs = netlink::Socket::open();
    if (!hs) return fail(hs.error());
    s.host.emplace(std::move(*hs));
  }
  return s;
}

// The kernel answers EINVAL when the master cannot take this child (a passthru child owns it
// already, or passthru was asked next to other children) and EBUSY when another driver holds its
// receive path (a bridge or bond port). Both are the config's to fix: code 7, said plainly, with
// the kernel's answer in details.
cni::Error explain_create_error(cni::Error e, const MacvlanConfig& cfg,
                                const netlink::LinkInfo& master) {
  const std::string m = "master \"" + master.name + "\"";
  std::string why;
  if (e.sys_errno == EINVAL) {
    why = cfg.mode == netlink::MacvlanMode::kPassthru
              ? m + " already has macvlan links, and passthru needs it to itself"
              : m + " is taken by a passthru macvlan, which allows no other";
  } else if (e.sys_errno == EBUSY) {
    why = m + " is a port of a bridge or bond";
  } else {
    return e;
  }
  return cni::Error{cni::Code::kInvalidConfig, why, e.msg, e.sys_errno};
}

// A taken CNI_IFNAME fails before anything is made, IPAM included, with a message naming the
// container. create_macvlan would find the clash too (and leave nothing), but only after IPAM.
Expected<void> ensure_ifname_free(netlink::Socket& cs, const std::string& ifname) {
  auto taken = netlink::get_link(cs, ifname);
  if (!taken && taken.error().sys_errno == ENODEV) return {};
  if (!taken) return fail(taken.error());
  return fail(
      cni::sys_error(EEXIST, "interface \"" + ifname + "\" already exists in the container"));
}

// weir-agent binds the container's resolver (127.0.0.11) on its loopback, which a runtime
// may leave down (a bare `ip netns add`).
Expected<void> ensure_loopback_up(netlink::Socket& cs) {
  auto lo = netlink::get_link(cs, "lo");
  if (!lo) return fail(std::move(lo.error()).context("loopback of the container"));
  if (lo->up) return {};
  return netlink::set_link_up(cs, lo->index, true);
}

std::vector<net::Cidr> addresses_of(const cni::Result& r) {
  std::vector<net::Cidr> out;
  for (const auto& ip : r.ips) out.push_back(ip.address);
  return out;
}

Expected<cni::Result> cmd_add(const cni::Call& call) {
  auto cfg = parse_config(call);
  if (!cfg) return fail(cfg.error());
  if (cfg->embedded_dns) {
    auto backend = store::backend_for(call.conf.raw);
    if (!backend) return fail(backend.error());
    if (auto ok = refuse_dns_on_etcd(*backend); !ok) return fail(ok.error());
  }
  if (auto ok = ipam_precheck(call); !ok) return fail(ok.error());
  auto ns = open_container_netns(call.env.netns);
  if (!ns) return fail(ns.error());
  auto socks = open_sockets(*ns, *cfg);
  if (!socks) return fail(socks.error());
  auto master = resolve_master(socks->master(), *cfg);
  if (!master) return fail(master.error());
  if (auto ok = ensure_ifname_free(socks->container, call.env.ifname); !ok) return fail(ok.error());
  auto store = open_store(call.conf, cfg->data_dir);
  if (!store) return fail(store.error());

  cni::Rollback undo(&call.process->err());
  auto leased = ipam_add_undoable(call, store->ipam(), undo);
  if (!leased) return fail(leased.error());
  cni::Result addrs = std::move(*leased);
  // Made in the container under a temporary name (the master is looked up where it is), then
  // renamed there to CNI_IFNAME.
  auto link =
      netlink::create_macvlan(socks->master(), {.parent = master->index,
                                                .mode = cfg->mode,
                                                .mtu = cfg->mtu,
                                                .mac = cfg->mac,
                                                .netns = cfg->link_in_container ? nullptr : &*ns,
                                                .name = call.env.ifname});
  if (!link) return fail(explain_create_error(std::move(link.error()), *cfg, *master));
  undo.push("delete macvlan " + call.env.ifname,
            [&cs = socks->container, index = link->index] { return netlink::del_link(cs, index); });

  auto routes = configure_iface(
      socks->container,
      {.netns = &*ns, .ifname = call.env.ifname, .ifindex = link->index, .default_route = true},
      addrs);
  if (!routes) {
    return fail(std::move(routes.error())
                    .context("configure \"" + call.env.ifname + "\" in the container"));
  }

  if (cfg->embedded_dns) {
    if (auto ok = ensure_loopback_up(socks->container); !ok) return fail(ok.error());
  }

  cni::Result result;
  result.interfaces.push_back({.name = call.env.ifname,
                               .mac = link->mac.str(),
                               .mtu = link->mtu,
                               .sandbox = call.env.netns});
  for (auto ip : addrs.ips) {
    ip.interface = 0;
    result.ips.push_back(std::move(ip));
  }
  result.routes = std::move(*routes);
  result.dns = call.conf.dns.empty() ? addrs.dns : call.conf.dns;

  json gateways = json::array();
  for (const auto& rt : gateway_routes(addrs)) gateways.push_back(rt.gw->str());
  EndpointInfo info{.mac = link->mac.str(),
                    .ips = addresses_of(result),
                    .aliases = cfg->aliases,
                    .extra = {{"driver", "macvlan"},
                              {"master", master->name},
                              {"mode", netlink::to_string(cfg->mode)},
                              {"linkInContainer", cfg->link_in_container},
                              {"gateways", gateways}}};
  // The host cannot reach its own macvlan children, so the agent serves these containers on
  // 127.0.0.11 inside their netns (dns/records.hpp).
  if (cfg->embedded_dns) {
    mark_dns_endpoint(info.extra, {.servers = cfg->dns_servers, .in_netns = true});
  }
  if (auto ok = save_endpoint(**store, call, info); !ok) return fail(ok.error());
  if (cfg->embedded_dns) {
    undo.push("forget the endpoint", [&] {
      auto ok = forget_endpoint(**store, call.conf.name, call.env.container_id, call.env.ifname);
      return ok ? sync_dns(cfg->data_dir, false) : ok;
    });
    // The name resolves when ADD returns: the agent has acknowledged the new records.
    if (auto ok = sync_dns(cfg->data_dir, true); !ok) return fail(ok.error());
    const auto resolver = *net::IpAddr::parse(dns::kContainerResolver);
    result.dns = dns_for(call.conf.name, {resolver}, result.dns);
  }
  undo.commit();
  return result;
}

// Deletes the container's macvlan named ifname; a netns or link that is gone is success. The
// kernel deletes a macvlan with its master (macvlan_device_event, NETDEV_UNREGISTER), so a gone
// master needs nothing more. A link of that name that is not a macvlan is not ours to delete.
Expected<void> del_container_link(const std::string& netns_path, const std::string& ifname) {
  if (netns_path.empty()) return {};
  auto ns = netns::Handle::open(netns_path);
  if (!ns) return ns.error().sys_errno == ENOENT ? Expected<void>{} : fail(ns.error());
  auto cs = netlink::Socket::open_in(*ns);
  if (!cs) return fail(cs.error());
  auto link = netlink::get_link(*cs, ifname);
  if (!link) return link.error().sys_errno == ENODEV ? Expected<void>{} : fail(link.error());
  if (link->kind != "macvlan") return {};
  return netlink::del_link(*cs, link->index);
}

Expected<void> cmd_del(const cni::Call& call) {
  auto cfg = parse_config(call);
  if (!cfg) return fail(cfg.error());
  auto store = open_store(call.conf, cfg->data_dir);
  if (!store) return fail(store.error());
  auto ep = load_endpoint(**store, call);
  if (!ep) return fail(ep.error());
  // The store first: a DEL that cannot write it fails with the link, lease and record in place.
  // A retry after a later failure finds the link by the netns and ifname, with no record. The
  // record goes before the lease: an address is never free while a record says it is used.
  if (auto ok = forget_endpoint(**store, call.conf.name, call.env.container_id, call.env.ifname); !ok) {
    return ok;
  }
  if (auto ok = ipam_del(call, store->ipam()); !ok) return ok;
  if (auto ok = del_container_link(call.env.netns, call.env.ifname); !ok) return ok;
  // A running agent drops the names (and the resolver in the container's netns).
  if (*ep && dns_endpoint((*ep)->extra)) return sync_dns(cfg->data_dir, false);
  return {};
}

// The prevResult addresses on our interface must be ours (spec: CHECK verifies prevResult).
Expected<void> check_prev_result(const cni::Call& call, const std::vector<net::Cidr>& ips) {
  if (!call.conf.prev_result) return {};
  const cni::Result& prev = *call.conf.prev_result;
  for (const auto& ip : prev.ips) {
    const size_t i = ip.interface.value_or(-1);  // a missing index wraps to "out of range"
    if (i >= prev.interfaces.size()) continue;
    const auto& itf = prev.interfaces[i];
    if (itf.name != call.env.ifname || itf.sandbox != call.env.netns) continue;
    if (std::find(ips.begin(), ips.end(), ip.address) == ips.end()) {
      return fail(cni::check_failed("prevResult address " + ip.address.str() + " is not on \"" +
                                    call.env.ifname + "\""));
    }
  }
  return {};
}

Expected<void> cmd_check(const cni::Call& call) {
  auto cfg = parse_config(call);
  if (!cfg) return fail(cfg.error());
  auto ns = open_container_netns(call.env.netns);
  if (!ns) return fail(ns.error());
  auto store = open_store(call.conf, cfg->data_dir);
  if (!store) return fail(store.error());
  auto ep = require_endpoint(**store, call);
  if (!ep) return fail(ep.error());
  IfaceCheck want{.ifname = call.env.ifname, .mac = ep->mac, .ips = ep->ips};
  json extra = json::parse(ep->extra, nullptr, false);
  if (!extra.is_object()) extra = json::object();
  for (const auto& g : extra.value("gateways", json::array())) {
    if (!g.is_string()) continue;
    if (auto gw = net::IpAddr::parse(g.get<std::string>())) {
      want.routes.push_back(default_route_via(*gw));
    }
  }
  // Without a configured master, the one ADD took: the default route may have moved since.
  if (cfg->master.empty()) cfg->master = extra.value("master", "");

  auto socks = open_sockets(*ns, *cfg);
  if (!socks) return fail(socks.error());
  auto master = resolve_master(socks->master(), *cfg);
  if (!master && master.error().code == cni::Code::kInvalidConfig) {
    return fail(cni::check_failed(master.error().msg));
  }
  if (!master) return fail(master.error());
  auto link = check_iface(socks->container, want);
  if (!link) return fail(link.error());
  // IFLA_LINK of a macvlan is its master's ifindex, in the master's netns.
  if (link->kind != "macvlan" || link->link != master->index) {
    return fail(cni::check_failed("interface \"" + call.env.ifname +
                                  "\" is not a macvlan of master \"" + master->name + "\""));
  }
  if (link->macvlan_mode != cfg->mode) {
    const auto& have = link->macvlan_mode;
    return fail(cni::check_failed(
        "interface \"" + call.env.ifname + "\" has macvlan mode " +
        std::string(have ? netlink::to_string(*have) : "unknown") + ", not " +
        std::string(netlink::to_string(cfg->mode))));
  }
  if (cfg->mtu != 0 && link->mtu != cfg->mtu) {
    return fail(cni::check_failed("interface \"" + call.env.ifname + "\" has MTU " +
                                  std::to_string(link->mtu) + ", not " + std::to_string(cfg->mtu)));
  }
  if (auto ok = check_prev_result(call, want.ips); !ok) return ok;
  return ipam_check(call, store->ipam());
}

// Not available (50) while the master is missing: no ADD can succeed until it is back.
Expected<void> cmd_status(const cni::Call& call) {
  auto cfg = parse_config(call);
  if (!cfg) return fail(cfg.error());
  if (!cfg->link_in_container) {
    auto hs = netlink::Socket::open();
    if (!hs) return fail(hs.error());
    if (auto master = resolve_master(*hs, *cfg); !master) {
      if (master.error().code != cni::Code::kInvalidConfig) return fail(master.error());
      return fail(cni::not_available(master.error().msg));
    }
  }
  return ipam_status(call);
}

Expected<void> cmd_gc(const cni::Call& call, const std::vector<cni::Attachment>& valid) {
  auto cfg = parse_config(call);
  if (!cfg) return fail(cfg.error());
  auto store = open_store(call.conf, cfg->data_dir);
  if (!store) return fail(store.error());
  auto collected = collect_endpoints(**store, call, valid, cfg->data_dir, [](const store::Endpoint& ep) {
    return del_container_link(ep.netns, ep.ifname);
  });
  if (!collected) return collected;
  return ipam_gc(call, valid, store->ipam());
}

}  // namespace

cni::Verbs verbs() {
  return {.add = cmd_add, .del = cmd_del, .check = cmd_check, .status = cmd_status, .gc = cmd_gc};
}

}  // namespace weir::plugins::macvlan
