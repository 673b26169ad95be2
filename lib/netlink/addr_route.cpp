// Addresses and routes (RTM_*ADDR, RTM_*ROUTE), through libnl-route objects.
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <netlink/route/nexthop.h>
#include <sys/socket.h>

#include <cerrno>
#include <functional>
#include <string>
#include <utility>

#include "lib/netlink/internal.hpp"

namespace weir::netlink {

using namespace detail;  // this file is part of lib/netlink

namespace {

using RtAddrPtr = std::unique_ptr<rtnl_addr, Free<rtnl_addr_put>>;
using RoutePtr = std::unique_ptr<rtnl_route, Free<rtnl_route_put>>;
using NexthopPtr = std::unique_ptr<rtnl_nexthop, Free<rtnl_route_nh_free>>;

std::string describe(const RouteInfo& r) {
  std::string s = r.dst ? r.dst->str() : "default";
  if (r.gw) s += " via " + r.gw->str();
  if (r.ifindex != 0) s += " ifindex " + std::to_string(r.ifindex);
  if (r.table != RT_TABLE_MAIN) s += " table " + std::to_string(r.table);
  if (r.priority != 0) s += " metric " + std::to_string(r.priority);
  return s;
}

Expected<RoutePtr> build_route(const RouteInfo& ri, std::string_view what) {
  const net::Family family = ri.dst ? ri.dst->family() : ri.gw ? ri.gw->family() : ri.family;
  if (ri.gw && ri.gw->family() != family) {
    return fail(cni::sys_error(EINVAL, std::string(what) + ": gateway family differs from dst",
                               cni::Code::kInvalidConfig));
  }
  const int af = to_af(family);
  RoutePtr route(rtnl_route_alloc());
  if (!route) return fail(nomem(what));

  AddrPtr dst;
  if (ri.dst) {
    // The kernel refuses host bits in a route prefix; a route is to the network.
    const net::Cidr net = ri.dst->network();
    dst = to_nl_addr(net.addr(), net.prefix_len());
  } else {
    dst.reset(nl_addr_alloc(0));  // empty RTA_DST with prefix 0: the default route
    if (dst) {
      nl_addr_set_family(dst.get(), af);
      nl_addr_set_prefixlen(dst.get(), 0);
    }
  }
  if (!dst) return fail(nomem(what));
  rtnl_route_set_family(route.get(), static_cast<uint8_t>(af));
  if (int rc = rtnl_route_set_dst(route.get(), dst.get()); rc < 0) {
    return fail(cni::sys_error(nle_to_errno(rc), what));
  }
  rtnl_route_set_table(route.get(), ri.table);
  rtnl_route_set_priority(route.get(), ri.priority);
  rtnl_route_set_type(route.get(), RTN_UNICAST);
  rtnl_route_set_protocol(route.get(), RTPROT_BOOT);  // what `ip route add` uses

  if (ri.gw || ri.ifindex != 0) {
    NexthopPtr nh(rtnl_route_nh_alloc());
    if (!nh) return fail(nomem(what));
    if (ri.ifindex != 0) rtnl_route_nh_set_ifindex(nh.get(), ri.ifindex);
    if (ri.gw) {
      AddrPtr gw = to_nl_addr(*ri.gw, ri.gw->bits());
      if (!gw) return fail(nomem(what));
      rtnl_route_nh_set_gateway(nh.get(), gw.get());
    }
    rtnl_route_add_nexthop(route.get(), nh.release());  // the route owns it now
  }
  return route;
}

}  // namespace

// ---- Addresses

Expected<std::vector<AddrInfo>> list_addrs(Socket& sock, int ifindex,
                                           std::optional<net::Family> family) {
  std::vector<AddrInfo> out;
  ifaddrmsg hdr{};
  hdr.ifa_family = family ? to_af(*family) : AF_UNSPEC;  // the kernel filters by family
  // With strict checking the kernel also filters by link, and then walks that link only, not
  // every link of the netns (a host with a thousand bridge ports). Only for this dump: strict
  // checking rejects other requests libnl makes with fields it does not zero.
  hdr.ifa_index = static_cast<uint32_t>(ifindex);
  const int fd = nl_socket_get_fd(sock.native());
  const int on = 1, off = 0;
  const bool strict = ifindex != 0 && ::setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &on, sizeof(on)) == 0;
  if (!strict) hdr.ifa_index = 0;
  auto ok = dump(
      sock, RTM_GETADDR, &hdr, sizeof(hdr), [&] { out.clear(); },
      [&](nl_object* obj) {
        auto* a = reinterpret_cast<rtnl_addr*>(obj);
        const int index = rtnl_addr_get_ifindex(a);
        if (ifindex != 0 && index != ifindex) return;
        auto ip = to_ip(rtnl_addr_get_local(a));
        if (!ip || (family && ip->family() != *family)) return;
        out.push_back(AddrInfo{.addr = net::Cidr(*ip, rtnl_addr_get_prefixlen(a)),
                               .ifindex = index,
                               .scope = rtnl_addr_get_scope(a)});
      },
      ifindex != 0 ? "list addresses of ifindex " + std::to_string(ifindex) : "list addresses");
  // Left on, it would make the kernel reject the socket's later requests: not usable then.
  if (strict && ::setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &off, sizeof(off)) != 0) {
    return fail(cni::sys_error(errno, "turn strict checking off again"));
  }
  if (!ok && strict && ok.error().sys_errno == ENODEV) return out;  // no link, no addresses
  if (!ok) return fail(std::move(ok.error()));
  return out;
}

namespace {

Expected<RtAddrPtr> build_addr(int ifindex, const net::Cidr& cidr, std::string_view what) {
  RtAddrPtr addr(rtnl_addr_alloc());
  AddrPtr local = to_nl_addr(cidr.addr(), cidr.prefix_len());
  if (!addr || !local) return fail(nomem(what));
  rtnl_addr_set_ifindex(addr.get(), ifindex);
  rtnl_addr_set_family(addr.get(), to_af(cidr.family()));
  if (int rc = rtnl_addr_set_local(addr.get(), local.get()); rc < 0) {  // also sets the prefix
    return fail(cni::sys_error(nle_to_errno(rc), what));
  }
  return addr;
}

std::string add_addr_what(int ifindex, const net::Cidr& cidr) {
  return "add address " + cidr.str() + " to ifindex " + std::to_string(ifindex);
}

std::string del_addr_what(int ifindex, const net::Cidr& cidr) {
  return "delete address " + cidr.str() + " from ifindex " + std::to_string(ifindex);
}

// The message libnl built with rc, as bytes.
Expected<MessageBytes> built(int rc, nl_msg* raw, std::string_view what) {
  MsgPtr msg(raw);
  if (rc < 0) return fail(cni::sys_error(nle_to_errno(rc), what));
  return bytes_of(msg.get());
}

}  // namespace

Expected<MessageBytes> add_addr_request(int ifindex, const net::Cidr& cidr) {
  const std::string what = add_addr_what(ifindex, cidr);
  auto addr = build_addr(ifindex, cidr, what);
  if (!addr) return fail(std::move(addr.error()));
  // Like the reference plugins and `ip addr add ... brd +`: IPv4 gets its broadcast address.
  if (cidr.family() == net::Family::kV4 && cidr.prefix_len() < 31) {
    AddrPtr brd = to_nl_addr(cidr.last(), 32);
    if (!brd) return fail(nomem(what));
    rtnl_addr_set_broadcast(addr->get(), brd.get());
  }
  nl_msg* raw = nullptr;
  const int rc = rtnl_addr_build_add_request(addr->get(), 0, &raw);  // NLM_F_CREATE
  return built(rc, raw, what);
}

Expected<MessageBytes> del_addr_request(int ifindex, const net::Cidr& cidr) {
  const std::string what = del_addr_what(ifindex, cidr);
  auto addr = build_addr(ifindex, cidr, what);
  if (!addr) return fail(std::move(addr.error()));
  nl_msg* raw = nullptr;
  const int rc = rtnl_addr_build_delete_request(addr->get(), 0, &raw);
  return built(rc, raw, what);
}

Expected<void> add_addr(Socket& sock, int ifindex, const net::Cidr& cidr) {
  auto req = add_addr_request(ifindex, cidr);
  if (!req) return fail(std::move(req.error()));
  if (int err = request(sock, *req); err != 0 && err != EEXIST) {  // EEXIST: ensure semantic
    return fail(cni::sys_error(err, add_addr_what(ifindex, cidr)));
  }
  return {};
}

Expected<void> del_addr(Socket& sock, int ifindex, const net::Cidr& cidr) {
  auto req = del_addr_request(ifindex, cidr);
  if (!req) return fail(std::move(req.error()));
  // The kernel says EADDRNOTAVAIL for a missing address, ENODEV when the link is gone too.
  if (int err = request(sock, *req); err != 0 && err != EADDRNOTAVAIL && err != ENODEV) {
    return fail(cni::sys_error(err, del_addr_what(ifindex, cidr)));
  }
  return {};
}

// ---- Routes

Expected<MessageBytes> add_route_request(const RouteInfo& ri) {
  const std::string what = "add route " + describe(ri);
  auto route = build_route(ri, what);
  if (!route) return fail(std::move(route.error()));
  nl_msg* raw = nullptr;
  const int rc = rtnl_route_build_add_request(route->get(), NLM_F_REPLACE, &raw);  // and CREATE
  return built(rc, raw, what);
}

Expected<MessageBytes> del_route_request(const RouteInfo& ri) {
  const std::string what = "delete route " + describe(ri);
  auto route = build_route(ri, what);
  if (!route) return fail(std::move(route.error()));
  nl_msg* raw = nullptr;
  if (int rc = rtnl_route_build_del_request(route->get(), 0, &raw); rc < 0) {
    return fail(cni::sys_error(nle_to_errno(rc), what));
  }
  MsgPtr msg(raw);
  // libnl always sends a guessed scope and our protocol, and the kernel (IPv4) only deletes a
  // route whose scope and protocol match them. Like `ip route del`, send "any" for both.
  auto* rtm = static_cast<rtmsg*>(nlmsg_data(nlmsg_hdr(msg.get())));
  rtm->rtm_scope = RT_SCOPE_NOWHERE;
  rtm->rtm_protocol = RTPROT_UNSPEC;
  return bytes_of(msg.get());
}

Expected<void> add_route(Socket& sock, const RouteInfo& ri) {
  auto req = add_route_request(ri);
  if (!req) return fail(std::move(req.error()));
  if (int err = request(sock, *req); err != 0) {
    return fail(cni::sys_error(err, "add route " + describe(ri)));
  }
  return {};
}

Expected<void> del_route(Socket& sock, const RouteInfo& ri) {
  auto req = del_route_request(ri);
  if (!req) return fail(std::move(req.error()));
  // ESRCH: no such route; ENODEV: its link, and so the route, is gone.
  if (int err = request(sock, *req); err != 0 && err != ESRCH && err != ENOENT && err != ENODEV) {
    return fail(cni::sys_error(err, "delete route " + describe(ri)));
  }
  return {};
}

Expected<std::vector<RouteInfo>> list_routes(Socket& sock, std::optional<net::Family> family) {
  std::vector<RouteInfo> out;
  rtmsg hdr{};
  hdr.rtm_family = family ? to_af(*family) : AF_UNSPEC;
  auto ok = dump(
      sock, RTM_GETROUTE, &hdr, sizeof(hdr), [&] { out.clear(); },
      [&](nl_object* obj) {
        auto* r = reinterpret_cast<rtnl_route*>(obj);
        const int af = rtnl_route_get_family(r);
        // An AF_UNSPEC dump also returns multicast (RTNL_FAMILY_IPMR...) and cloned entries.
        if (af != AF_INET && af != AF_INET6) return;
        if (rtnl_route_get_table(r) != RT_TABLE_MAIN) return;
        if (rtnl_route_get_type(r) != RTN_UNICAST) return;
        if (rtnl_route_get_flags(r) & RTM_F_CLONED) return;
        RouteInfo info;
        info.family = af == AF_INET ? net::Family::kV4 : net::Family::kV6;
        info.table = rtnl_route_get_table(r);
        info.priority = rtnl_route_get_priority(r);
        nl_addr* dst = rtnl_route_get_dst(r);
        if (dst && nl_addr_get_prefixlen(dst) > 0) {
          if (auto ip = to_ip(dst)) {
            info.dst = net::Cidr(*ip, static_cast<int>(nl_addr_get_prefixlen(dst)));
          }
        }
        if (rtnl_route_get_nnexthops(r) > 0) {
          rtnl_nexthop* nh = rtnl_route_nexthop_n(r, 0);
          info.gw = to_ip(rtnl_route_nh_get_gateway(nh));
          info.ifindex = rtnl_route_nh_get_ifindex(nh);
        }
        out.push_back(std::move(info));
      },
      "list routes");
  if (!ok) return fail(std::move(ok.error()));
  return out;
}

}  // namespace weir::netlink
