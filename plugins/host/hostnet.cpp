#include "plugins/host/hostnet.hpp"

#include <linux/rtnetlink.h>
#include <net/if.h>

#include <algorithm>
#include <map>
#include <set>

#include "lib/netlink/netlink.hpp"
#include "plugins/common/embedded_dns.hpp"
#include "plugins/common/endpoints.hpp"
#include "plugins/common/netns_open.hpp"

namespace weir::plugins::host {

namespace {

struct HostView {
  cni::Result result;                // the host's interfaces and global addresses
  std::vector<net::Cidr> primary{};  // what the container's names resolve to
};

// Interfaces with a global address (loopback and link-local addresses say nothing to a peer),
// and as primary the addresses on the links of the default routes, or every global one when
// the host has no default route.
Expected<HostView> read_host(netlink::Socket& hs) {
  auto addrs = netlink::list_addrs(hs, 0);
  if (!addrs) return fail(addrs.error());
  auto routes = netlink::list_routes(hs);
  if (!routes) return fail(routes.error());
  std::set<int> uplinks;
  for (const auto& r : *routes) {
    if (!r.dst && r.ifindex > 0) uplinks.insert(r.ifindex);
  }
  // The primary links first, so that ips[0] is the host's main address.
  std::stable_sort(addrs->begin(), addrs->end(), [&](const auto& a, const auto& b) {
    return uplinks.contains(a.ifindex) > uplinks.contains(b.ifindex);
  });
  HostView v;
  std::map<int, int> slot;  // ifindex -> index in result.interfaces
  for (const auto& a : *addrs) {
    if (a.scope != RT_SCOPE_UNIVERSE) continue;
    if (!slot.contains(a.ifindex)) {
      auto link = netlink::get_link(hs, a.ifindex);
      if (!link && link.error().sys_errno == ENODEV) continue;
      if (!link) return fail(link.error());
      if (link->flags & IFF_LOOPBACK) continue;
      slot[a.ifindex] = static_cast<int>(v.result.interfaces.size());
      v.result.interfaces.push_back(
          {.name = link->name, .mac = link->mac.is_zero() ? "" : link->mac.str()});
    }
    v.result.ips.push_back({.address = a.addr, .interface = slot[a.ifindex]});
    if (uplinks.empty() || uplinks.contains(a.ifindex)) v.primary.push_back(a.addr);
  }
  return v;
}

}  // namespace

Expected<bool> same_netns(const netns::Handle& a, const netns::Handle& b) {
  auto ia = a.inode();
  if (!ia) return fail(ia.error());
  auto ib = b.inode();
  if (!ib) return fail(ib.error());
  return *ia == *ib;
}

Expected<void> ensure_host_netns(const netns::Handle& ns) {
  auto self = netns::Handle::current();
  if (!self) return fail(self.error());
  auto same = same_netns(ns, *self);
  if (!same) return fail(same.error());
  if (*same) return {};
  const std::string what =
      "weir-host shares the host's network, so CNI_NETNS must be the host's own netns (the one "
      "weir-host runs in, e.g. /proc/1/ns/net), not \"" +
      ns.path() + "\"";
  return fail(cni::invalid_config(what + ": run the container in the host's netns, or set "
                                         "\"device\" to move one host link into the container"));
}

Expected<cni::Result> add_host_network(const cni::Call& call, const HostConfig& cfg,
                                       store::Store& st) {
  auto ns = open_container_netns(call.env.netns);
  if (!ns) return fail(ns.error());
  if (auto ok = ensure_host_netns(*ns); !ok) return fail(ok.error());
  auto hs = netlink::Socket::open();
  if (!hs) return fail(hs.error());
  auto view = read_host(*hs);
  if (!view) return fail(view.error());
  // hostNetwork: weir-agent resolves these names from every DNS network (dns/records.hpp).
  EndpointInfo info{.ips = view->primary,
                    .aliases = cfg.aliases,
                    .extra = {{"driver", "host"}, {"mode", "host"}, {"hostNetwork", true}}};
  if (auto ok = save_endpoint(st, call, info); !ok) return fail(ok.error());
  // A running agent serves the new names at once; none running means no DNS network yet, and
  // the agent reads the store when it starts.
  if (auto ok = sync_dns(cfg.data_dir, false); !ok) {
    (void)forget_endpoint(st, call.conf.name, call.env.container_id, call.env.ifname);
    return fail(ok.error());
  }
  view->result.dns = call.conf.dns;
  return std::move(view->result);
}

Expected<void> check_host_network(const cni::Call& call, store::Store& st) {
  auto ns = open_container_netns(call.env.netns);
  if (!ns) return fail(ns.error());
  if (auto ok = ensure_host_netns(*ns); !ok) return ok;
  auto ep = require_endpoint(st, call);
  if (!ep) return fail(ep.error());
  return {};
}

}  // namespace weir::plugins::host
