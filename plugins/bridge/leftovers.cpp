#include "plugins/bridge/leftovers.hpp"

#include <algorithm>
#include <cerrno>
#include <vector>

#include "plugins/common/endpoints.hpp"

namespace weir::plugins::bridge {

namespace {

// Whether a link of this name is one an endpoint of the store has as its host veth.
Expected<bool> recorded_host_link(store::Store& st, const std::string& name) {
  auto all = list_endpoints(st, "");  // only on a name clash: rare, so a full list will do
  if (!all) return fail(all.error());
  return std::any_of(all->begin(), all->end(),
                     [&](const store::Endpoint& ep) { return ep.host_ifname == name; });
}

}  // namespace

Expected<bool> is_leftover(store::Store& st, const std::string& mark, const std::string& own,
                           const netlink::LinkInfo& link, const netlink::LinkInfo& br) {
  if (link.kind != "veth") return false;
  if (link.alias == own) return true;
  if (link.master != br.index || !marked_ours(link, mark)) return false;
  auto recorded = recorded_host_link(st, link.name);
  if (!recorded) return fail(recorded.error());
  return !*recorded;
}

Expected<NameHolder> name_holder(const AddContext& add, const netlink::VethSpec& spec,
                                 const netlink::LinkInfo& br) {
  const std::string mark = store_mark(add.cfg.data_dir);
  auto ours = [&](const netlink::LinkInfo& host_end) -> Expected<NameHolder> {
    auto leftover = is_leftover(add.store, mark, spec.host_alias, host_end, br);
    if (!leftover) return fail(leftover.error());
    if (!*leftover) return NameHolder{NameHolder::kOther};
    return NameHolder{NameHolder::kLeftover, host_end.index};
  };
  auto gone = [](const cni::Error& e) -> Expected<NameHolder> {
    if (e.sys_errno == ENODEV) return NameHolder{NameHolder::kGone};
    return fail(e);
  };
  auto host = netlink::get_link(add.host, spec.host_name);
  if (host) return ours(*host);
  if (host.error().sys_errno != ENODEV) return fail(host.error());
  // The host name is free: the container's end is what is taken.
  auto in_container = netlink::get_link(add.container, spec.peer_name);
  if (!in_container) return gone(in_container.error());
  if (in_container->kind != "veth" || in_container->link <= 0)
    return NameHolder{NameHolder::kOther};
  // Its peer's index is in the peer's netns, which need not be ours: the host link by that
  // index counts only if it is one of our veths and points back at the container's link.
  auto peer = netlink::get_link(add.host, in_container->link);
  if (!peer) return gone(peer.error());
  if (peer->link != in_container->index || !netlink::is_veth_name(peer->name)) {
    return NameHolder{NameHolder::kOther};
  }
  return ours(*peer);
}

Expected<std::optional<netlink::LinkInfo>> attachment_veth(
    const Context& ctx, const std::optional<store::Endpoint>& ep) {
  using Found = std::optional<netlink::LinkInfo>;
  const cni::CallEnv& env = ctx.call.env;
  const std::string name = ep ? ep->host_ifname : netlink::veth_name(env.container_id, env.ifname);
  auto veth = netlink::get_link(ctx.host, name);
  if (!veth) {
    if (veth.error().sys_errno == ENODEV) return Found();
    return fail(veth.error());
  }
  const std::string mark = store_mark(ctx.cfg.data_dir);
  // A record names a link to delete only if the link is one of our veths, with this store's
  // mark: a record planted in the store must not make root delete any host link it names.
  if (ep) return carries_mark(*veth, mark) ? Found(std::move(*veth)) : Found();
  auto br = netlink::get_link(ctx.host, ctx.cfg.bridge);
  if (!br) {
    if (br.error().sys_errno == ENODEV) return Found();  // no bridge, no port of ours
    return fail(br.error());
  }
  const std::string own = port_alias(mark, ctx.call.conf.name, env.container_id, env.ifname);
  auto leftover = is_leftover(ctx.store, mark, own, *veth, *br);
  if (!leftover) return fail(leftover.error());
  return *leftover ? Found(std::move(*veth)) : Found();
}

Expected<void> sweep_unrecorded_ports(const Context& ctx, BridgeLock& lock) {
  auto br = netlink::get_link(ctx.host, ctx.cfg.bridge);
  if (!br || !made_for(*br, ctx.call.conf.name)) return {};
  if (auto ok = lock.exclusive(); !ok) return ok;
  auto links = netlink::list_links(ctx.host);
  if (!links) return fail(links.error());
  const std::string mark = store_mark(ctx.cfg.data_dir);
  std::vector<netlink::LinkInfo> suspects;
  for (auto& l : *links) {
    if (l.kind == "veth" && l.master == br->index && netlink::is_veth_name(l.name) &&
        marked_ours(l, mark)) {
      suspects.push_back(std::move(l));
    }
  }
  if (suspects.empty()) return {};
  auto all = list_endpoints(ctx.store, "");
  if (!all) return fail(all.error());
  for (const auto& l : suspects) {
    const bool recorded = std::any_of(all->begin(), all->end(), [&](const store::Endpoint& ep) {
      return ep.host_ifname == l.name;
    });
    if (recorded) continue;
    if (auto ok = netlink::del_link(ctx.host, l.index); !ok) return ok;
  }
  return {};
}

}  // namespace weir::plugins::bridge
