// rtnetlink requests: links, addresses, routes. The only part of weir that talks to libnl, and
// its headers stay in the .cpp files: callers see weir value types and Expected<T> with errno.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/cni/error.hpp"
#include "lib/net/addr.hpp"
#include "lib/netns/netns.hpp"

struct nl_sock;  // libnl

namespace weir::netlink {

// Every member has an initializer, so designated initializers may skip any of them under
// -Wextra (missing-field-initializers).
struct LinkInfo {
  int index = 0;
  std::string name{};
  bool up = false;  // IFF_UP: administratively up (not carrier)
  unsigned flags = 0;
  uint32_t mtu = 0;
  net::Mac mac{};      // zero for links without an Ethernet address
  std::string kind{};  // IFLA_INFO_KIND: "veth", "bridge", ...; "" for physical and loopback
  int master = 0;      // ifindex of the bridge or bond, 0 if none
};

struct AddrInfo {
  net::Cidr addr{};
  int ifindex = 0;
  int scope = 0;  // RT_SCOPE_*
};

struct RouteInfo {
  std::optional<net::Cidr> dst{};  // nullopt = default route
  std::optional<net::IpAddr> gw{};
  int ifindex = 0;
  uint32_t table = 254;  // RT_TABLE_MAIN
  uint32_t priority = 0;
  net::Family family = net::Family::kV4;  // used when neither dst nor gw says it
};

// An rtnetlink socket. It stays bound to the netns it was created in, so requests on it need no
// setns. Move-only; not for concurrent use from several threads.
class Socket {
 public:
  // In the calling thread's current netns.
  static Expected<Socket> open();
  // In ns, without leaving the calling thread there.
  static Expected<Socket> open_in(const netns::Handle& ns);

  Socket(Socket&& other) noexcept;
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket();

  // For the files of lib/netlink only.
  nl_sock* native() const;
  // The errno behind a libnl call on this socket that just failed with nle_rc (< 0): the kernel's
  // own errno when it answered with one (libnl folds many into NLE_FAILURE or NLE_OBJ_NOTFOUND),
  // else a translation of the NLE_* code.
  int errno_of(int nle_rc);

  struct Impl;

 private:
  explicit Socket(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Links. A missing link fails with sys_errno ENODEV: `link "eth0": No such device`.
Expected<LinkInfo> get_link(Socket& sock, std::string_view name);
Expected<LinkInfo> get_link(Socket& sock, int ifindex);
Expected<void> set_link_up(Socket& sock, int ifindex, bool up);

// Addresses. add_addr ensures (an existing address is success); del_addr tolerates absence.
Expected<std::vector<AddrInfo>> list_addrs(Socket& sock, int ifindex /* 0 = all */,
                                           std::optional<net::Family> family = std::nullopt);
Expected<void> add_addr(Socket& sock, int ifindex, const net::Cidr& addr);
Expected<void> del_addr(Socket& sock, int ifindex, const net::Cidr& addr);

// Routes. add_route replaces (NLM_F_REPLACE); del_route tolerates absence. list_routes returns
// the unicast routes of the main table (no cloned/cache entries).
Expected<void> add_route(Socket& sock, const RouteInfo& route);
Expected<void> del_route(Socket& sock, const RouteInfo& route);
Expected<std::vector<RouteInfo>> list_routes(Socket& sock,
                                             std::optional<net::Family> family = std::nullopt);

}  // namespace weir::netlink
