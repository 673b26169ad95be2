// Docker's default address pools, for networks configured without ranges: 172.17.0.0/16 first,
// then 172.18-172.31 /16s, then 192.168.0.0/16 cut into /20s. A pool is taken when it overlaps
// a route of the host or the subnet of another weir network.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "lib/cni/error.hpp"
#include "lib/net/addr.hpp"

namespace weir::ipam {

// Where the host's routes come from; tests pass fixed lists.
using RouteSource = std::function<Expected<std::vector<net::Cidr>>()>;

// The destinations of the host's IPv4 routes (main table), default routes left out: they
// overlap everything and say nothing about which subnets are in use.
Expected<std::vector<net::Cidr>> read_host_routes();

std::vector<net::Cidr> default_pools();

// The first default pool that overlaps none of `routes` and none of `taken`.
std::optional<net::Cidr> choose_pool(const std::vector<net::Cidr>& routes,
                                     const std::vector<net::Cidr>& taken);

}  // namespace weir::ipam
