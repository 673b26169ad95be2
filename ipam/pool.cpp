#include "ipam/pool.hpp"

#include <algorithm>

#include "lib/netlink/netlink.hpp"

namespace weir::ipam {

Expected<std::vector<net::Cidr>> read_host_routes() {
  auto sock = netlink::Socket::open();
  if (!sock) return fail(sock.error().context("read the host's routes"));
  auto routes = netlink::list_routes(*sock, net::Family::kV4);
  if (!routes) return fail(routes.error().context("read the host's routes"));
  std::vector<net::Cidr> out;
  for (const auto& r : *routes) {
    if (r.dst && r.dst->prefix_len() > 0) out.push_back(*r.dst);
  }
  return out;
}

std::vector<net::Cidr> default_pools() {
  std::vector<net::Cidr> pools;
  for (uint32_t second = 17; second <= 31; ++second) {
    pools.emplace_back(net::IpAddr::v4((172u << 24) | (second << 16)), 16);
  }
  for (uint32_t third = 0; third < 256; third += 16) {
    pools.emplace_back(net::IpAddr::v4((192u << 24) | (168u << 16) | (third << 8)), 20);
  }
  return pools;
}

std::optional<net::Cidr> choose_pool(const std::vector<net::Cidr>& routes,
                                     const std::vector<net::Cidr>& taken) {
  auto clashes = [](const net::Cidr& pool, const std::vector<net::Cidr>& used) {
    return std::any_of(used.begin(), used.end(),
                       [&](const net::Cidr& u) { return pool.overlaps(u.network()); });
  };
  for (const auto& pool : default_pools()) {
    if (!clashes(pool, routes) && !clashes(pool, taken)) return pool;
  }
  return std::nullopt;
}

}  // namespace weir::ipam
