#include "plugins/none/none.hpp"

#include "lib/netlink/netlink.hpp"
#include "lib/netns/netns.hpp"
#include "plugins/common/netns_open.hpp"

namespace weir::plugins::none {

namespace {

constexpr std::string_view kLoopback = "lo";

Expected<cni::Result> cmd_add(const cni::Call& call) {
  auto ns = open_container_netns(call.env.netns);
  if (!ns) return fail(ns.error());
  auto sock = netlink::Socket::open_in(*ns);
  if (!sock) return fail(sock.error());
  auto lo = netlink::get_link(*sock, kLoopback);
  if (!lo) return fail(lo.error());
  if (auto up = netlink::set_link_up(*sock, lo->index, true); !up) return fail(up.error());

  // Chained after another plugin, loopback passes the previous result on unchanged.
  if (call.conf.prev_result) return *call.conf.prev_result;

  auto addrs = netlink::list_addrs(*sock, lo->index);
  if (!addrs) return fail(addrs.error());
  cni::Result result;
  result.interfaces.push_back(
      {.name = std::string(kLoopback), .mac = lo->mac.str(), .sandbox = call.env.netns});
  for (const auto& a : *addrs) result.ips.push_back({.address = a.addr, .interface = 0});
  return result;
}

Expected<void> cmd_del(const cni::Call& call) {
  if (call.env.netns.empty()) return {};
  auto ns = netns::Handle::open(call.env.netns);
  if (!ns) {
    // The container is gone, and its loopback with it: DEL has nothing left to do.
    if (ns.error().sys_errno == ENOENT) return {};
    return fail(ns.error());
  }
  auto sock = netlink::Socket::open_in(*ns);
  if (!sock) return fail(sock.error());
  auto lo = netlink::get_link(*sock, kLoopback);
  if (!lo) {
    if (lo.error().sys_errno == ENODEV) return {};
    return fail(lo.error());
  }
  return netlink::set_link_up(*sock, lo->index, false);
}

Expected<void> cmd_check(const cni::Call& call) {
  auto ns = open_container_netns(call.env.netns);
  if (!ns) return fail(ns.error());
  auto sock = netlink::Socket::open_in(*ns);
  if (!sock) return fail(sock.error());
  auto lo = netlink::get_link(*sock, kLoopback);
  if (!lo) return fail(lo.error());
  if (!lo->up) {
    return fail(cni::check_failed("loopback \"lo\" is down in netns \"" + call.env.netns + "\""));
  }
  return {};
}

}  // namespace

cni::Verbs verbs() {
  return {
      .add = cmd_add,
      .del = cmd_del,
      .check = cmd_check,
      .status = [](const cni::Call&) -> Expected<void> { return {}; },
      .gc = [](const cni::Call&, const std::vector<cni::Attachment>&) -> Expected<void> {
        return {};
      },
  };
}

}  // namespace weir::plugins::none
