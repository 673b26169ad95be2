#include "lib/netlink/netlink.hpp"

#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/object.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
#include <sys/socket.h>

#include <cerrno>
#include <functional>
#include <string>
#include <utility>

namespace weir::netlink {
namespace {

// std::unique_ptr deleter calling a libnl free/put function.
template <auto Fn>
struct Free {
  template <class T>
  void operator()(T* p) const {
    if (p) Fn(p);
  }
};
using SockPtr = std::unique_ptr<nl_sock, Free<nl_socket_free>>;
using MsgPtr = std::unique_ptr<nl_msg, Free<nlmsg_free>>;
using CbPtr = std::unique_ptr<nl_cb, Free<nl_cb_put>>;
using AddrPtr = std::unique_ptr<nl_addr, Free<nl_addr_put>>;
using LinkPtr = std::unique_ptr<rtnl_link, Free<rtnl_link_put>>;
using RtAddrPtr = std::unique_ptr<rtnl_addr, Free<rtnl_addr_put>>;
using RoutePtr = std::unique_ptr<rtnl_route, Free<rtnl_route_put>>;
using NexthopPtr = std::unique_ptr<rtnl_nexthop, Free<rtnl_route_nh_free>>;

// libnl's NLE_* codes are not errno. Used only when the kernel did not answer with an errno of
// its own (then Socket::errno_of() has the exact one).
int nle_to_errno(int nle) {
  switch (nle < 0 ? -nle : nle) {
    case NLE_EXIST:
      return EEXIST;
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV:
      return ENODEV;
    case NLE_PERM:
      return EPERM;
    case NLE_NOACCESS:
      return EACCES;
    case NLE_NOADDR:
      return EADDRNOTAVAIL;
    case NLE_INVAL:
    case NLE_MISSING_ATTR:
    case NLE_NOATTR:
    case NLE_AF_MISMATCH:
    case NLE_IMMUTABLE:
      return EINVAL;
    case NLE_BUSY:
      return EBUSY;
    case NLE_NOMEM:
      return ENOMEM;
    case NLE_MSG_OVERFLOW:
      return ENOBUFS;
    case NLE_AGAIN:
    case NLE_DUMP_INTR:
      return EAGAIN;  // both mean: ask again
    case NLE_INTR:
      return EINTR;
    case NLE_BAD_SOCK:
      return EBADF;
    case NLE_RANGE:
      return ERANGE;
    case NLE_MSGSIZE:
    case NLE_ATTRSIZE:
      return EMSGSIZE;
    case NLE_OPNOTSUPP:
    case NLE_MSGTYPE_NOSUPPORT:
      return EOPNOTSUPP;
    case NLE_AF_NOSUPPORT:
      return EAFNOSUPPORT;
    case NLE_PROTO_MISMATCH:
      return EPROTONOSUPPORT;
    case NLE_SEQ_MISMATCH:
    case NLE_MSG_TRUNC:
    case NLE_MSG_TOOSHORT:
    case NLE_PARSE_ERR:
      return EBADMSG;
    default:
      return EIO;
  }
}

std::string quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

int to_af(net::Family f) {
  return f == net::Family::kV4 ? AF_INET : AF_INET6;
}

std::optional<net::IpAddr> to_ip(nl_addr* a) {
  if (a == nullptr) return std::nullopt;
  const int af = nl_addr_get_family(a);
  const unsigned len = nl_addr_get_len(a);
  if (af == AF_INET && len == 4) {
    return net::IpAddr::from_bytes(net::Family::kV4, nl_addr_get_binary_addr(a));
  }
  if (af == AF_INET6 && len == 16) {
    return net::IpAddr::from_bytes(net::Family::kV6, nl_addr_get_binary_addr(a));
  }
  return std::nullopt;
}

AddrPtr to_nl_addr(const net::IpAddr& ip, int prefix_len) {
  AddrPtr a(nl_addr_build(to_af(ip.family()), ip.data(), ip.size()));
  if (a) nl_addr_set_prefixlen(a.get(), prefix_len);
  return a;
}

cni::Error nomem(std::string_view what) {
  return cni::sys_error(ENOMEM, what);
}

// A failed libnl call on sock, as an Error with the right errno.
cni::Error nl_error(Socket& sock, int rc, std::string_view what) {
  return cni::sys_error(sock.errno_of(rc), what);
}

// Sends msg and waits for the kernel's ACK; returns the libnl code.
int send_sync(Socket& sock, MsgPtr msg) {
  return nl_send_sync(sock.native(), msg.release());
}

LinkInfo to_link_info(rtnl_link* l) {
  LinkInfo info;
  info.index = rtnl_link_get_ifindex(l);
  if (const char* name = rtnl_link_get_name(l)) info.name = name;
  info.flags = rtnl_link_get_flags(l);
  info.up = (info.flags & IFF_UP) != 0;
  info.mtu = rtnl_link_get_mtu(l);
  if (nl_addr* mac = rtnl_link_get_addr(l); mac && nl_addr_get_len(mac) == 6) {
    info.mac = net::Mac::from_bytes(nl_addr_get_binary_addr(mac));
  }
  if (const char* kind = rtnl_link_get_type(l)) info.kind = kind;
  info.master = rtnl_link_get_master(l);
  return info;
}

Expected<LinkInfo> fetch_link(Socket& sock, int ifindex, const char* name, std::string_view what) {
  rtnl_link* raw = nullptr;
  // One RTM_GETLINK for one link: no cache of every link in the netns.
  if (int rc = rtnl_link_get_kernel(sock.native(), ifindex, name, &raw); rc < 0) {
    return fail(nl_error(sock, rc, what));
  }
  LinkPtr link(raw);
  return to_link_info(link.get());
}

// A dump request (RTM_GETADDR, RTM_GETROUTE) whose replies libnl parses into objects; a dump is
// the only way the kernel lists these. `restart` runs before each attempt.
struct DumpCtx {
  const std::function<void(nl_object*)>* on_object;
};

void on_parsed(nl_object* obj, void* arg) {
  (*static_cast<DumpCtx*>(arg)->on_object)(obj);
}

int on_valid(nl_msg* msg, void* arg) {
  // A reply libnl cannot parse is skipped rather than failing the whole listing.
  nl_msg_parse(msg, on_parsed, arg);
  return NL_OK;
}

Expected<void> dump(Socket& sock, int type, const void* hdr, size_t hdr_len,
                    const std::function<void()>& restart,
                    const std::function<void(nl_object*)>& on_object, std::string_view what) {
  // The kernel flags a dump that raced with a change (NLM_F_DUMP_INTR); try again then.
  constexpr int kAttempts = 3;
  int rc = 0;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    restart();
    MsgPtr msg(nlmsg_alloc_simple(type, NLM_F_DUMP));
    if (!msg) return fail(nomem(what));
    if (nlmsg_append(msg.get(), const_cast<void*>(hdr), hdr_len, NLMSG_ALIGNTO) < 0) {
      return fail(nomem(what));
    }
    if (rc = nl_send_auto(sock.native(), msg.get()); rc < 0) return fail(nl_error(sock, rc, what));

    CbPtr base(nl_socket_get_cb(sock.native()));  // a reference: put by CbPtr
    CbPtr cb(base ? nl_cb_clone(base.get()) : nullptr);
    if (!cb) return fail(nomem(what));
    DumpCtx ctx{&on_object};
    nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, on_valid, &ctx);
    rc = nl_recvmsgs(sock.native(), cb.get());
    if (rc >= 0) return {};
    if (rc != -NLE_DUMP_INTR) break;
  }
  return fail(nl_error(sock, rc, what));
}

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

// ---- Socket

struct Socket::Impl {
  SockPtr sk;
  // The errno of the last NLMSG_ERROR the kernel sent on this socket, until errno_of() takes it.
  int kernel_errno = 0;
};

namespace {

int on_kernel_error(sockaddr_nl*, nlmsgerr* e, void* arg) {
  static_cast<Socket::Impl*>(arg)->kernel_errno = -e->error;
  return NL_STOP;  // libnl then fails the call as it would without this hook
}

}  // namespace

Socket::Socket(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Socket::Socket(Socket&& other) noexcept = default;
Socket& Socket::operator=(Socket&& other) noexcept = default;
Socket::~Socket() = default;

nl_sock* Socket::native() const {
  return impl_->sk.get();
}

int Socket::errno_of(int nle_rc) {
  const int kernel = std::exchange(impl_->kernel_errno, 0);
  return kernel != 0 ? kernel : nle_to_errno(nle_rc);
}

Expected<Socket> Socket::open() {
  constexpr std::string_view what = "open rtnetlink socket";
  auto impl = std::make_unique<Impl>();
  impl->sk.reset(nl_socket_alloc());
  if (!impl->sk) return fail(nomem(what));
  // libnl folds most kernel errnos into NLE_FAILURE; keep the kernel's own. The callback lives
  // in the socket's default handlers, which every libnl request on it clones.
  CbPtr cb(nl_socket_get_cb(impl->sk.get()));
  if (!cb) return fail(nomem(what));
  nl_cb_err(cb.get(), NL_CB_CUSTOM, on_kernel_error, impl.get());
  // nl_connect() opens the fd with SOCK_CLOEXEC, so exec'd IPAM plugins do not inherit it.
  if (int rc = nl_connect(impl->sk.get(), NETLINK_ROUTE); rc < 0) {
    return fail(cni::sys_error(nle_to_errno(rc), what));
  }
  return Socket(std::move(impl));
}

Expected<Socket> Socket::open_in(const netns::Handle& ns) {
  // A netlink socket belongs to the netns it was created in, for its whole life.
  auto sock = netns::run_in(ns, [] { return Socket::open(); });
  if (!sock) return fail(std::move(sock.error()).context("in netns " + quoted(ns.path())));
  return sock;
}

// ---- Links

Expected<LinkInfo> get_link(Socket& sock, std::string_view name) {
  const std::string what = "link " + quoted(name);
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return fail(cni::sys_error(EINVAL, what, cni::Code::kInvalidConfig));
  }
  const std::string copy(name);
  return fetch_link(sock, 0, copy.c_str(), what);
}

Expected<LinkInfo> get_link(Socket& sock, int ifindex) {
  return fetch_link(sock, ifindex, nullptr, "link ifindex " + std::to_string(ifindex));
}

Expected<void> set_link_up(Socket& sock, int ifindex, bool up) {
  const std::string what = "set link ifindex " + std::to_string(ifindex) + (up ? " up" : " down");
  // ifi_change = IFF_UP touches only that flag; rtnl_link_change() would need the link's
  // current flags first (an extra request) to not clear the others.
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = ifindex;
  ifi.ifi_flags = up ? IFF_UP : 0;
  ifi.ifi_change = IFF_UP;
  MsgPtr msg(nlmsg_alloc_simple(RTM_NEWLINK, 0));
  if (!msg || nlmsg_append(msg.get(), &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0) {
    return fail(nomem(what));
  }
  if (int rc = send_sync(sock, std::move(msg)); rc < 0) return fail(nl_error(sock, rc, what));
  return {};
}

// ---- Addresses

Expected<std::vector<AddrInfo>> list_addrs(Socket& sock, int ifindex,
                                           std::optional<net::Family> family) {
  std::vector<AddrInfo> out;
  ifaddrmsg hdr{};
  hdr.ifa_family = family ? to_af(*family) : AF_UNSPEC;  // the kernel filters by family
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

}  // namespace

Expected<void> add_addr(Socket& sock, int ifindex, const net::Cidr& cidr) {
  const std::string what = "add address " + cidr.str() + " to ifindex " + std::to_string(ifindex);
  auto addr = build_addr(ifindex, cidr, what);
  if (!addr) return fail(std::move(addr.error()));
  // Like the reference plugins and `ip addr add ... brd +`: IPv4 gets its broadcast address.
  if (cidr.family() == net::Family::kV4 && cidr.prefix_len() < 31) {
    AddrPtr brd = to_nl_addr(cidr.last(), 32);
    if (!brd) return fail(nomem(what));
    rtnl_addr_set_broadcast(addr->get(), brd.get());
  }
  if (int rc = rtnl_addr_add(sock.native(), addr->get(), 0); rc < 0) {
    const int err = sock.errno_of(rc);
    if (err == EEXIST) return {};  // ensure semantic
    return fail(cni::sys_error(err, what));
  }
  return {};
}

Expected<void> del_addr(Socket& sock, int ifindex, const net::Cidr& cidr) {
  const std::string what =
      "delete address " + cidr.str() + " from ifindex " + std::to_string(ifindex);
  auto addr = build_addr(ifindex, cidr, what);
  if (!addr) return fail(std::move(addr.error()));
  if (int rc = rtnl_addr_delete(sock.native(), addr->get(), 0); rc < 0) {
    const int err = sock.errno_of(rc);
    // The kernel says EADDRNOTAVAIL for a missing address, ENODEV when the link is gone too.
    if (err == EADDRNOTAVAIL || err == ENODEV) return {};
    return fail(cni::sys_error(err, what));
  }
  return {};
}

// ---- Routes

Expected<void> add_route(Socket& sock, const RouteInfo& ri) {
  const std::string what = "add route " + describe(ri);
  auto route = build_route(ri, what);
  if (!route) return fail(std::move(route.error()));
  if (int rc = rtnl_route_add(sock.native(), route->get(), NLM_F_REPLACE); rc < 0) {
    return fail(nl_error(sock, rc, what));
  }
  return {};
}

Expected<void> del_route(Socket& sock, const RouteInfo& ri) {
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
  if (int rc = send_sync(sock, std::move(msg)); rc < 0) {
    const int err = sock.errno_of(rc);
    // ESRCH: no such route; ENODEV: its link, and so the route, is gone.
    if (err == ESRCH || err == ENOENT || err == ENODEV) return {};
    return fail(cni::sys_error(err, what));
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
