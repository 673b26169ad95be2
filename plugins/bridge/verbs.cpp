// weir-bridge's verbs. Each parses its config, gets the services of the config's data dir
// (services.hpp: a plugin process's or weir-agent's, the verbs cannot tell), and works on one
// Context (context.hpp); the kernel's steps are in setup.cpp, the leftovers' in leftovers.cpp.
#include <algorithm>

#include "lib/cni/rollback.hpp"
#include "lib/firewall/firewall.hpp"
#include "lib/netlink/netlink.hpp"
#include "plugins/bridge/bridge.hpp"
#include "plugins/bridge/config.hpp"
#include "plugins/bridge/context.hpp"
#include "plugins/bridge/endpoint.hpp"
#include "plugins/bridge/leftovers.hpp"
#include "plugins/bridge/lock.hpp"
#include "plugins/bridge/marks.hpp"
#include "plugins/bridge/ports.hpp"
#include "plugins/bridge/rules.hpp"
#include "plugins/bridge/setup.hpp"
#include "plugins/common/collect.hpp"
#include "plugins/common/embedded_dns.hpp"
#include "plugins/common/iface.hpp"
#include "plugins/common/ipam_client.hpp"
#include "plugins/common/netns_open.hpp"

namespace weir::plugins::bridge {

namespace {

struct Links {
  netlink::LinkInfo bridge;
  netlink::LinkInfo host_veth;
  netlink::LinkInfo container;
};

std::vector<net::IpAddr> gateways_of(const cni::Result& r) {
  std::vector<net::IpAddr> out;
  for (const auto& ip : r.ips) {
    if (ip.gateway) out.push_back(*ip.gateway);
  }
  return out;
}

nlohmann::json routes_json(const std::vector<netlink::RouteInfo>& routes) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : routes) {
    nlohmann::json j = {
        {"dst", r.dst ? r.dst->str() : (r.family == net::Family::kV4 ? "0.0.0.0/0" : "::/0")}};
    if (r.gw) j["gw"] = r.gw->str();
    out.push_back(std::move(j));
  }
  return out;
}

std::vector<net::Cidr> addresses_of(const cni::Result& r) {
  std::vector<net::Cidr> out;
  for (const auto& ip : r.ips) out.push_back(ip.address);
  return out;
}

// Whether ADD gave the endpoint rules of its own (published ports, the spoof check). Records
// without the fact are assumed to have some.
bool has_rules(const nlohmann::json& extra) {
  if (!extra.is_object() || !extra.contains("ports") || !extra["ports"].is_number_unsigned())
    return true;
  const auto spoof = extra.find("macspoofchk");
  return extra["ports"].get<uint64_t>() > 0 || (spoof != extra.end() && *spoof == true);
}

cni::Result make_result(const cni::Call& call, const BridgeConfig& cfg, const Links& links,
                        cni::Result addrs, std::vector<cni::Route> routes) {
  cni::Result r;
  r.interfaces.push_back({.name = links.bridge.name, .mac = links.bridge.mac.str()});
  r.interfaces.push_back({.name = links.host_veth.name, .mac = links.host_veth.mac.str()});
  r.interfaces.push_back({.name = call.env.ifname,
                          .mac = links.container.mac.str(),
                          .mtu = cfg.mtu ? std::optional<uint32_t>(cfg.mtu) : std::nullopt,
                          .sandbox = call.env.netns});
  r.routes = std::move(routes);
  for (auto& ip : addrs.ips) {
    ip.interface = 2;
    r.ips.push_back(ip);
  }
  r.dns = call.conf.dns.empty() ? addrs.dns : call.conf.dns;
  return r;
}

// DEL walks the stored endpoint, not the caller's memory: no prevResult, no netns needed.
// The store is written first: a DEL that cannot write it (disk full, read-only) fails with the
// veth, the rules, the lease and the record all in place, and the runtime's retry finds them
// all. Once the record is gone, a retry still finds what is left in the kernel without it: the
// veth by its name and alias (attachment_veth), the endpoint's rules by the attachment, the
// network's by the endpoints left in the store. The record goes before the lease, so an
// address is never free while a record says a container has it.
Expected<void> remove_endpoint(const Context& ctx, const std::optional<store::Endpoint>& ep) {
  const cni::Call& call = ctx.call;
  auto veth = attachment_veth(ctx, ep);
  if (!veth) return fail(veth.error());
  // Down at once, so no traffic passes from here on, nor meets a new container that leases the
  // address; up again if the store cannot be written.
  const bool was_up = *veth && (*veth)->up;
  if (was_up) {
    if (auto ok = netlink::set_link_up(ctx.host, (*veth)->index, false);
        !ok && ok.error().sys_errno != ENODEV) {
      return ok;
    }
  }
  auto stored = forget_endpoint(ctx.store, call.conf.name, call.env.container_id, call.env.ifname);
  if (stored) stored = ipam_del(call, ctx.services.ipam(ctx.store));
  if (!stored) {
    if (was_up) (void)netlink::set_link_up(ctx.host, (*veth)->index, true);
    return stored;
  }
  // The kernel's part of deleting the veth (and its peer) is left to the background.
  if (*veth) {
    if (auto ok = ctx.services.delete_link_later((*veth)->index); !ok) return ok;
  }
  // Parsed once: what DEL reads of the record.
  const nlohmann::json extra =
      ep ? nlohmann::json::parse(ep->extra, nullptr, false) : nlohmann::json();
  if (!ep || has_rules(extra)) {
    if (auto ok = firewall::del_endpoint(call.conf.name, call.env.container_id, call.env.ifname);
        !ok)
      return ok;
  }
  if (ep && dns_endpoint(extra)) {
    if (auto ok = ctx.services.sync_dns(false); !ok) return ok;
  }
  const std::string recorded = ep ? recorded_bridge(extra) : std::string();
  auto lock = BridgeLock::open(ctx.cfg.data_dir);
  if (!lock) return fail(lock.error());
  return del_network_if_empty(ctx, *lock, recorded.empty() ? ctx.cfg.bridge : recorded);
}

// A second ADD of a live attachment must not touch it: IPAM would hand back the same lease,
// and this ADD's rollback would release it under the running container. One whose netns is
// gone is stale (its runtime died before DEL): removed as DEL would, before the bridge lock,
// which that DEL takes exclusively.
Expected<void> remove_stale_attachment(const Context& ctx) {
  const cni::Call& call = ctx.call;
  auto existing = load_endpoint(ctx.store, call);
  if (!existing) return fail(existing.error());
  if (!*existing) return {};
  auto alive = attachment_alive(**existing);
  if (!alive) return fail(alive.error());
  if (*alive) {
    return fail(cni::invalid_env("container \"" + call.env.container_id + "\" already has \"" +
                                 call.env.ifname + "\" on network \"" + call.conf.name +
                                 "\" in netns \"" + (*existing)->netns +
                                 "\" (CNI_CONTAINERID, CNI_IFNAME): DEL it first"));
  }
  if (auto ok = remove_endpoint(ctx, *existing); !ok) {
    return fail(std::move(ok.error())
                    .context("remove the stale attachment of container \"" + call.env.container_id +
                             "\" (netns \"" + (*existing)->netns + "\" is gone)"));
  }
  return {};
}

// The network's rules and the endpoint's own (published ports, the spoof check), each with its
// undo. An endpoint without published ports or spoof check has no rules of its own (a new
// attachment, so none are left over): one nftables round trip less per ADD, and per DEL (see
// has_rules). The spoof check needs no address: an L2-only network has it too.
Expected<void> setup_rules(const AddContext& add, const std::vector<net::Cidr>& addresses,
                           const netlink::VethPair& pair) {
  const cni::Call& call = add.call;
  const bool own_rules = has_endpoint_rules(add.cfg, addresses);
  if (addresses.empty() && !own_rules) return {};
  if (!addresses.empty()) {
    auto ok = firewall::ensure_network(network_rules(call.conf.name, add.cfg, addresses));
    if (!ok) return fail(ok.error());
  }
  add.undo.push("remove the network's rules if it has no endpoint",
                [base = Context(add), &lock = add.lock] {
                  return del_network_if_empty(base, lock, base.cfg.bridge);
                });
  if (auto ok = add.services.reached(AddStep::kNetworkRules); !ok) return ok;
  if (!own_rules) return {};
  add.undo.push("remove firewall rules", [&call] {
    return firewall::del_endpoint(call.conf.name, call.env.container_id, call.env.ifname);
  });
  const firewall::SpoofCheck port{.host_ifname = pair.host.name, .mac = pair.peer_mac};
  if (auto ok = firewall::ensure_endpoint(endpoint_rules(call, add.cfg, addresses, port)); !ok) {
    return fail(ok.error());
  }
  return add.services.reached(AddStep::kEndpointRules);
}

Expected<cni::Result> cmd_add(const cni::Call& call, const ServicesFor& services_for) {
  auto cfg = parse_config(call);
  if (!cfg) return fail(cfg.error());
  if (cfg->embedded_dns) {
    if (auto ok = refuse_dns_on_etcd(cfg->backend); !ok) return fail(ok.error());
  }
  if (auto ok = ipam_precheck(call); !ok) return fail(ok.error());
  const auto services = services_for(cfg->data_dir, cfg->backend);
  auto ns = open_container_netns(call.env.netns);
  if (!ns) return fail(ns.error());
  auto hs = netlink::Socket::open();
  if (!hs) return fail(hs.error());
  auto cs = netlink::Socket::open_in(*ns);
  if (!cs) return fail(cs.error());
  auto store = services->store();
  if (!store) return fail(store.error());
  const Context ctx{
      .call = call, .cfg = *cfg, .services = *services, .store = **store, .host = *hs};

  if (auto ok = remove_stale_attachment(ctx); !ok) return fail(ok.error());
  auto lock = BridgeLock::open(cfg->data_dir);
  if (!lock) return fail(lock.error());
  if (auto ok = lock->shared(); !ok) return fail(ok.error());

  // Refused early, before anything is made; checked again when the record is written.
  if (!cfg->ports.empty()) {
    auto free = ctx.store.view([&](store::Txn& t) { return check_ports_free(t, cfg->ports); });
    if (!free) return fail(free.error());
  }

  cni::Rollback undo(&call.process->err());
  const AddContext add{ctx, *ns, *cs, *lock, undo};
  auto leased = ipam_add_undoable(call, services->ipam(ctx.store), undo);
  if (!leased) return fail(leased.error());
  cni::Result addrs = std::move(*leased);
  if (addrs.ips.empty()) cfg->ports.clear();  // an IPAM that gave none: nothing to publish to
  for (auto& ip : addrs.ips) {
    if (!ip.gateway) ip.gateway = ip.address.network().first().next();
  }
  if (auto ok = services->reached(AddStep::kLease); !ok) return fail(ok.error());
  auto br = setup_bridge(add, addrs);
  if (!br) return fail(br.error());
  if (auto ok = services->reached(AddStep::kBridge); !ok) return fail(ok.error());
  auto pair = setup_veth(add, *br);
  if (!pair) return fail(pair.error());
  if (auto ok = services->reached(AddStep::kVeth); !ok) return fail(ok.error());
  // With isDefaultGateway, a default route via the gateway of each family IPAM gave none for
  // (the reference plugin's calcGateways); never on an internal network.
  auto container_routes =
      configure_iface(*cs,
                      {.netns = &*ns,
                       .ifname = call.env.ifname,
                       .ifindex = pair->peer_index,
                       .default_route = cfg->is_default_gateway && !cfg->internal},
                      addrs);
  if (!container_routes) {
    return fail(std::move(container_routes.error())
                    .context("configure \"" + call.env.ifname + "\" in the container"));
  }
  if (auto ok = services->reached(AddStep::kAddresses); !ok) return fail(ok.error());
  if (auto ok = setup_rules(add, addresses_of(addrs), *pair); !ok) return fail(ok.error());

  Links links{.bridge = *br, .host_veth = pair->host};
  links.container.mac = pair->peer_mac;
  std::vector<netlink::RouteInfo> routes;
  for (const auto& rt : *container_routes) routes.push_back(kernel_route(rt, addrs.ips, 0));
  auto result = make_result(call, *cfg, links, std::move(addrs), std::move(*container_routes));
  EndpointInfo info{
      .mac = result.interfaces.back().mac,
      .host_ifname = pair->host.name,
      .ips = addresses_of(result),
      .aliases = cfg->aliases,
      .extra = {
          {"bridge", cfg->bridge}, {"routes", routes_json(routes)}, {"ports", cfg->ports.size()}}};
  if (cfg->macspoofchk) info.extra["macspoofchk"] = true;  // DEL: the endpoint has rules
  // Which namespace this is, for a later ADD of the same attachment (attachment_alive); kernels
  // before 5.14 have no cookie, and their records go by the path alone.
  if (auto cookie = netlink::netns_cookie(*cs)) info.extra[kNetnsCookie] = *cookie;
  if (!cfg->ports.empty()) {
    info.extra["portMappings"] = ports_json(cfg->ports);
    info.admit = [&](store::Txn& t) { return check_ports_free(t, cfg->ports); };
  }
  std::vector<net::IpAddr> resolvers = gateways_of(result);
  if (cfg->embedded_dns) {
    mark_dns_endpoint(
        info.extra, {.listen = resolvers, .servers = cfg->dns_servers, .internal = cfg->internal});
  }
  if (auto ok = save_endpoint(ctx.store, call, info); !ok) return fail(ok.error());
  // The endpoint is stored: a DEL of the network's last other endpoint now sees it. Let go
  // before the DNS sync, which waits for weir-agent — which may be running that DEL, waiting
  // for this lock. (A rollback takes it again, exclusive, to remove what is unused.)
  lock->release();
  // Forgotten again on a later failure, so a rollback's del_network_if_empty finds no
  // endpoint of this ADD; the embedded DNS is told when it may serve the name.
  undo.push("forget the endpoint",
            [&st = ctx.store, &svc = *services, &call, dns = cfg->embedded_dns] {
              auto ok = forget_endpoint(st, call.conf.name, call.env.container_id, call.env.ifname);
              return ok && dns ? svc.sync_dns(false) : ok;
            });
  if (auto ok = services->reached(AddStep::kRecord); !ok) return fail(ok.error());
  if (cfg->embedded_dns) {
    // The name resolves when ADD returns: the agent has acknowledged the new records.
    if (auto ok = services->sync_dns(true); !ok) return fail(ok.error());
    result.dns = dns_for(call.conf.name, resolvers, result.dns);
    if (auto ok = services->reached(AddStep::kDns); !ok) return fail(ok.error());
  }
  undo.commit();
  return result;
}

Expected<void> cmd_del(const cni::Call& call, const ServicesFor& services_for) {
  auto cfg = parse_config(call);
  if (!cfg) return fail(cfg.error());
  const auto services = services_for(cfg->data_dir, cfg->backend);
  auto hs = netlink::Socket::open();
  if (!hs) return fail(hs.error());
  auto store = services->store();
  if (!store) return fail(store.error());
  const Context ctx{
      .call = call, .cfg = *cfg, .services = *services, .store = **store, .host = *hs};
  auto ep = load_endpoint(ctx.store, call);
  if (!ep) return fail(ep.error());
  return remove_endpoint(ctx, *ep);
}

// CHECK, STATUS and GC run in a plugin process (weir-agent runs ADD and DEL).
Expected<void> cmd_check(const cni::Call& call, const ServicesFor& services_for) {
  auto cfg = parse_config(call);
  if (!cfg) return fail(cfg.error());
  auto ns = open_container_netns(call.env.netns);
  if (!ns) return fail(ns.error());
  const auto services = services_for(cfg->data_dir, cfg->backend);
  auto store = services->store();
  if (!store) return fail(store.error());
  auto ep = require_endpoint(**store, call);
  if (!ep) return fail(ep.error());
  if (auto ok = check_endpoint(call, *cfg, *ep, *ns); !ok) return ok;
  return ipam_check(call, services->ipam(**store));
}

Expected<void> cmd_status(const cni::Call& call) {
  auto cfg = parse_config(call);
  if (!cfg) return fail(cfg.error());
  return ipam_status(call);
}

Expected<void> cmd_gc(const cni::Call& call, const std::vector<cni::Attachment>& valid,
                      const ServicesFor& services_for) {
  auto cfg = parse_config(call);
  if (!cfg) return fail(cfg.error());
  auto hs = netlink::Socket::open();
  if (!hs) return fail(hs.error());
  const auto services = services_for(cfg->data_dir, cfg->backend);
  auto store = services->store();
  if (!store) return fail(store.error());
  const Context ctx{
      .call = call, .cfg = *cfg, .services = *services, .store = **store, .host = *hs};
  const std::string mark = store_mark(cfg->data_dir);
  auto collected = collect_endpoints(
      ctx.store, call, valid, cfg->data_dir, [&](const store::Endpoint& ep) -> Expected<void> {
        // Only our veth with this store's mark (see attachment_veth), whatever the record names.
        auto veth = netlink::get_link(*hs, ep.host_ifname);
        if (!veth && veth.error().sys_errno != ENODEV) return fail(veth.error());
        if (veth && carries_mark(*veth, mark)) {
          if (auto ok = netlink::del_link(*hs, veth->index); !ok) return ok;
        }
        return firewall::del_endpoint(ep.network, ep.container_id, ep.ifname);
      });
  if (!collected) return collected;
  if (auto ok = ipam_gc(call, valid, services->ipam(ctx.store)); !ok) return ok;
  auto lock = BridgeLock::open(cfg->data_dir);
  if (!lock) return fail(lock.error());
  if (auto ok = sweep_unrecorded_ports(ctx, *lock); !ok) return ok;
  return del_network_if_empty(ctx, *lock, cfg->bridge);
}

}  // namespace

cni::Verbs verbs(ServicesFor services_for) {
  auto s = std::make_shared<const ServicesFor>(std::move(services_for));
  return {.add = [s](const cni::Call& call) { return cmd_add(call, *s); },
          .del = [s](const cni::Call& call) { return cmd_del(call, *s); },
          .check = [s](const cni::Call& call) { return cmd_check(call, *s); },
          .status = cmd_status,
          .gc = [s](const cni::Call& call,
                    const std::vector<cni::Attachment>& valid) { return cmd_gc(call, valid, *s); }};
}

}  // namespace weir::plugins::bridge
