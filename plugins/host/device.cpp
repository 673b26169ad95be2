#include "plugins/host/device.hpp"

#include <net/if.h>

#include "lib/cni/rollback.hpp"
#include "lib/netlink/netlink.hpp"
#include "plugins/common/endpoints.hpp"
#include "plugins/common/iface.hpp"
#include "plugins/common/ipam_client.hpp"
#include "plugins/common/netns_open.hpp"
#include "plugins/host/hostnet.hpp"

namespace weir::plugins::host {

namespace {

using nlohmann::json;

// What the host link looked like before ADD took it.
struct Original {
  std::string name;
  std::string alias;
  bool up = false;
};

Original original_of(const std::optional<store::Endpoint>& record) {
  Original o;
  if (!record) return o;
  o.name = record->host_ifname;
  json extra = json::parse(record->extra, nullptr, false);
  if (extra.is_object()) {
    o.alias = extra.value("previousAlias", "");
    o.up = extra.value("up", false);
  }
  return o;
}

Expected<netlink::LinkInfo> lookup_device(netlink::Socket& hs, const HostConfig& cfg) {
  if (!cfg.device.empty()) {
    auto dev = netlink::get_link(hs, cfg.device);
    if (!dev && dev.error().sys_errno == ENODEV) {
      return fail(cni::invalid_config("device \"" + cfg.device + "\" does not exist in the host"));
    }
    return dev;
  }
  auto links = netlink::list_links(hs);
  if (!links) return fail(links.error());
  for (const auto& l : *links) {
    if (l.mac == *cfg.hwaddr) return l;
  }
  return fail(cni::invalid_config("no link in the host has hwaddr " + cfg.hwaddr->str()));
}

Expected<netlink::LinkInfo> find_device(netlink::Socket& hs, const HostConfig& cfg) {
  auto dev = lookup_device(hs, cfg);
  if (dev && (dev->flags & IFF_LOOPBACK)) {
    return fail(cni::invalid_config("device \"" + dev->name + "\" is the loopback"));
  }
  return dev;
}

// Puts the link back as it was: its name (when it is not that already), alias and up state.
Expected<void> restore_in_host(netlink::Socket& hs, const netlink::LinkInfo& link,
                               const Original& o) {
  if (link.name != o.name) {
    if (auto ok = netlink::rename_link(hs, link.index, o.name); !ok) return ok;
  }
  if (auto ok = netlink::set_link_alias(hs, link.index, o.alias); !ok) return ok;
  return o.up ? netlink::set_link_up(hs, link.index, true) : Expected<void>{};
}

// The container's ifname, moved back to the host under the name its alias keeps. False when
// there is no such link there, or it is not one we moved in.
Expected<bool> move_back(netlink::Socket& cs, netlink::Socket& hs, const netns::Handle& host,
                         const std::string& ifname, Original o) {
  auto link = netlink::get_link(cs, ifname);
  if (!link) return link.error().sys_errno == ENODEV ? Expected<bool>(false) : fail(link.error());
  if (!link->alias.starts_with(kAliasPrefix)) return false;
  o.name = link->alias.substr(kAliasPrefix.size());
  // The kernel takes the link down and drops its addresses on the move (NETDEV_UNREGISTER in the
  // old netns): nothing of the container's config comes back with it.
  auto ok = netlink::move_link_to_netns(cs, link->index, host, o.name);
  if (!ok && ok.error().sys_errno == EEXIST) {
    // Its old name was taken in the host meanwhile: it comes back under a name of its own, as in
    // recover_in_host, since DEL must not fail forever over a name.
    o.name = "weirdev" + std::to_string(link->index);
    ok = netlink::move_link_to_netns(cs, link->index, host, o.name);
  }
  if (!ok) return fail(ok.error());
  auto back = netlink::get_link(hs, o.name);
  if (!back) return fail(back.error());
  if (auto ok = restore_in_host(hs, *back, o); !ok) return fail(ok.error());
  return true;
}

// The device with our alias in the host (returned by the kernel when its netns went). When its
// old name has been taken since, it keeps the kernel's: DEL must not fail forever over a name.
Expected<void> recover_in_host(netlink::Socket& hs, Original o) {
  if (o.name.empty()) return {};
  auto links = netlink::list_links(hs);
  if (!links) return fail(links.error());
  for (const auto& l : *links) {
    if (l.alias != std::string(kAliasPrefix) + o.name) continue;
    if (l.name != o.name) {
      auto other = netlink::get_link(hs, o.name);
      if (other) o.name = l.name;
    }
    return restore_in_host(hs, l, o);
  }
  return {};
}

}  // namespace

Expected<cni::Result> add_device(const cni::Call& call, const HostConfig& cfg,
                                 const NetworkStore& st) {
  auto ns = open_container_netns(call.env.netns);
  if (!ns) return fail(ns.error());
  auto host = netns::Handle::current();
  if (!host) return fail(host.error());
  auto same = same_netns(*ns, *host);
  if (!same) return fail(same.error());
  if (*same) {
    return fail(
        cni::invalid_config("device mode moves a host link into the container, so CNI_NETNS "
                            "must be the container's netns, not the host's"));
  }
  auto hs = netlink::Socket::open();
  if (!hs) return fail(hs.error());
  auto cs = netlink::Socket::open_in(*ns);
  if (!cs) return fail(cs.error());
  auto dev = find_device(*hs, cfg);
  if (!dev) return fail(dev.error());
  if (auto taken = netlink::get_link(*cs, call.env.ifname);
      taken || taken.error().sys_errno != ENODEV) {
    return fail(taken ? cni::sys_error(EEXIST, "interface \"" + call.env.ifname +
                                                   "\" already exists in the container")
                      : taken.error());
  }
  const Original orig{.name = dev->name, .alias = dev->alias, .up = dev->up};

  cni::Rollback undo(&call.process->err());
  auto leased = ipam_add_undoable(call, st.ipam(), undo);
  if (!leased) return fail(leased.error());
  cni::Result addrs = std::move(*leased);
  // The alias travels with the link: DEL finds the original name on the link itself.
  if (auto ok = netlink::set_link_alias(*hs, dev->index, std::string(kAliasPrefix) + dev->name);
      !ok) {
    return fail(ok.error());
  }
  undo.push("restore the alias of " + dev->name, [&hs = *hs, &orig] {
    auto link = netlink::get_link(hs, orig.name);
    return link ? netlink::set_link_alias(hs, link->index, orig.alias) : Expected<void>{};
  });
  // A failed move (CNI_IFNAME taken since the check above) leaves the link in the host: the
  // kernel renames only after moving, so move_link_to_netns moves it back itself.
  if (auto ok = netlink::move_link_to_netns(*hs, dev->index, *ns, call.env.ifname); !ok) {
    return fail(ok.error());
  }
  undo.push("move " + dev->name + " back to the host", [&, ifname = call.env.ifname] {
    auto moved = move_back(*cs, *hs, *host, ifname, orig);
    return moved ? Expected<void>{} : fail(moved.error());
  });
  auto link = netlink::get_link(*cs, call.env.ifname);
  if (!link) return fail(link.error());
  auto routes = configure_iface(
      *cs, {.netns = &*ns, .ifname = call.env.ifname, .ifindex = link->index}, addrs);
  if (!routes) {
    return fail(std::move(routes.error())
                    .context("configure \"" + call.env.ifname + "\" in the container"));
  }

  cni::Result result;
  result.interfaces.push_back({.name = call.env.ifname,
                               .mac = link->mac.str(),
                               .mtu = link->mtu,
                               .sandbox = call.env.netns});
  EndpointInfo info{
      .mac = link->mac.str(),
      .host_ifname = orig.name,
      .aliases = cfg.aliases,
      .extra = {
          {"driver", "host"}, {"mode", "device"}, {"previousAlias", orig.alias}, {"up", orig.up}}};
  for (auto ip : addrs.ips) {
    ip.interface = 0;
    info.ips.push_back(ip.address);
    result.ips.push_back(std::move(ip));
  }
  result.routes = std::move(*routes);
  result.dns = call.conf.dns.empty() ? addrs.dns : call.conf.dns;
  if (auto ok = save_endpoint(*st, call, info); !ok) return fail(ok.error());
  undo.commit();
  return result;
}

Expected<void> release_device(const std::string& netns_path, const std::string& ifname,
                              const std::optional<store::Endpoint>& record) {
  const Original orig = original_of(record);
  auto hs = netlink::Socket::open();
  if (!hs) return fail(hs.error());
  if (!netns_path.empty()) {
    auto ns = netns::Handle::open(netns_path);
    if (!ns && ns.error().sys_errno != ENOENT) return fail(ns.error());
    if (ns) {
      auto host = netns::Handle::current();
      if (!host) return fail(host.error());
      auto cs = netlink::Socket::open_in(*ns);
      if (!cs) return fail(cs.error());
      auto moved = move_back(*cs, *hs, *host, ifname, orig);
      if (!moved) return fail(moved.error());
      if (*moved) return {};
    }
  }
  return recover_in_host(*hs, orig);
}

Expected<void> check_device(const cni::Call& call, const store::Endpoint& ep,
                            const NetworkStore& st) {
  auto ns = open_container_netns(call.env.netns);
  if (!ns) return fail(ns.error());
  auto cs = netlink::Socket::open_in(*ns);
  if (!cs) return fail(cs.error());
  auto link = check_iface(*cs, {.ifname = call.env.ifname, .mac = ep.mac, .ips = ep.ips});
  if (!link) return fail(link.error());
  if (link->alias != std::string(kAliasPrefix) + ep.host_ifname) {
    return fail(cni::check_failed("interface \"" + call.env.ifname + "\" is not host device \"" +
                                  ep.host_ifname + "\" (its alias is \"" + link->alias + "\")"));
  }
  return ipam_check(call, st.ipam());
}

}  // namespace weir::plugins::host
