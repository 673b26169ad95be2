// Which ranges a network allocates from, and its record in the store.
#include <algorithm>

#include "ipam/ipam.hpp"

namespace weir::ipam {

namespace {

std::vector<net::Cidr> subnets_of(const std::vector<RangeSet>& sets) {
  std::vector<net::Cidr> out;
  for (const auto& set : sets) {
    for (const auto& r : set) {
      if (std::find(out.begin(), out.end(), r.subnet) == out.end()) out.push_back(r.subnet);
    }
  }
  return out;
}

// Configured ranges are recorded too, so that default pools keep clear of them.
Expected<void> ensure_record(store::Txn& txn, const IpamConfig& c, const Seams& seams) {
  auto rec = txn.get_network(c.network);
  if (!rec) return fail(rec.error());
  auto subnets = subnets_of(c.range_sets);
  if (*rec && (*rec)->subnets == subnets) return {};
  return txn.put_network({.name = c.network,
                          .subnets = std::move(subnets),
                          .created = *rec ? (*rec)->created : seams.now()});
}

std::optional<net::Cidr> recorded_v4(const std::optional<store::NetworkRecord>& rec) {
  if (!rec) return std::nullopt;
  for (const auto& s : rec->subnets) {
    if (s.family() == net::Family::kV4) return s;
  }
  return std::nullopt;
}

Expected<net::Cidr> choose(store::Txn& txn, const IpamConfig& c, const Seams& seams) {
  auto routes = seams.host_routes();
  if (!routes) return fail(routes.error());
  auto networks = txn.list_networks();
  if (!networks) return fail(networks.error());
  std::vector<net::Cidr> taken;
  for (const auto& n : *networks) {
    if (n.name != c.network) taken.insert(taken.end(), n.subnets.begin(), n.subnets.end());
  }
  auto pool = choose_pool(*routes, taken);
  if (!pool) {
    return fail(cni::not_available("network \"" + c.network +
                                   "\" has no ranges and every "
                                   "default pool (172.17-31.0.0/16, 192.168.0.0/16 in /20s) "
                                   "overlaps a host route or another network"));
  }
  return *pool;
}

}  // namespace

Expected<std::vector<RangeSet>> network_sets(store::Txn& txn, const IpamConfig& c,
                                             const Seams& seams, PoolMode mode) {
  if (!c.range_sets.empty()) {
    if (mode == PoolMode::kChoose) {
      if (auto ok = ensure_record(txn, c, seams); !ok) return fail(ok.error());
    }
    return c.range_sets;
  }
  auto rec = txn.get_network(c.network);
  if (!rec) return fail(rec.error());
  auto subnet = recorded_v4(*rec);
  if (!subnet && mode == PoolMode::kRecorded) {
    return fail(cni::unknown_container("network \"" + c.network +
                                       "\" has no subnet yet (no ADD has run on it)"));
  }
  if (!subnet) {
    auto picked = choose(txn, c, seams);
    if (!picked) return fail(picked.error());
    subnet = *picked;
  }
  if (!recorded_v4(*rec) && mode == PoolMode::kChoose) {
    auto ok = txn.put_network({.name = c.network, .subnets = {*subnet}, .created = seams.now()});
    if (!ok) return fail(ok.error());
  }
  auto range = make_range({.subnet = *subnet}, "network \"" + c.network + "\" pool");
  if (!range) return fail(range.error());
  return std::vector<RangeSet>{{*range}};
}

}  // namespace weir::ipam
