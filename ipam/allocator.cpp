#include "ipam/allocator.hpp"

namespace weir::ipam {

namespace {

std::string set_name(int i, const RangeSet& set) {
  return "range set " + std::to_string(i) + " (" + describe(set) + ")";
}

// The first address in [lo, hi] that is free and not a gateway of the set.
Expected<std::optional<net::IpAddr>> free_in(store::Txn& txn, const std::string& network,
                                             const RangeSet& set, net::IpAddr lo,
                                             const net::IpAddr& hi) {
  for (;;) {
    auto c = txn.first_free(network, lo, hi);
    if (!c || !*c || !is_gateway(set, **c)) return c;
    if (**c == hi) return std::nullopt;
    lo = (*c)->next();
  }
}

// Where the search starts: after the cursor for round-robin (when the cursor is still in one of
// the set's ranges), else at the first range's start.
struct Position {
  size_t range = 0;
  net::IpAddr addr;
};

Position start_position(const RangeSet& set, const std::optional<net::IpAddr>& cursor) {
  for (size_t i = 0; cursor && i < set.size(); ++i) {
    if (!set[i].contains(*cursor)) continue;
    if (*cursor != set[i].end) return {i, cursor->next()};
    size_t n = (i + 1) % set.size();
    return {n, set[n].start};
  }
  return {0, set[0].start};
}

// Walks the set's ranges from `from`, wrapping around once, and returns the first free address.
Expected<std::optional<net::IpAddr>> find_free(store::Txn& txn, const std::string& network,
                                               const RangeSet& set, const Position& from) {
  const size_t k = set.size();
  for (size_t step = 0; step <= k; ++step) {
    const Range& r = set[(from.range + step) % k];
    net::IpAddr lo = step == 0 ? from.addr : r.start;
    net::IpAddr hi = r.end;
    if (step == k) {  // back in the first range: the part before where we started
      if (from.addr == r.start) break;
      hi = from.addr.prev();
    }
    auto c = free_in(txn, network, set, lo, hi);
    if (!c || *c) return c;
  }
  return std::nullopt;
}

Expected<net::IpAddr> claim_requested(store::Txn& txn, const AllocRequest& req, int i,
                                      const store::Lease& lease) {
  const RangeSet& set = (*req.sets)[i];
  const net::IpAddr& addr = lease.address;
  if (is_gateway(set, addr)) {
    return fail(cni::invalid_config("requested address " + addr.str() + " is the gateway of " +
                                    set_name(i, set)));
  }
  auto ok = txn.claim(lease);
  if (!ok) return fail(ok.error());
  if (*ok) return addr;
  auto holder = txn.get_lease(req.network, addr);
  if (!holder) return fail(holder.error());
  std::string who =
      *holder ? " to container \"" + (*holder)->container_id + "\" (" + (*holder)->ifname + ")"
              : "";
  return fail(cni::make_error(cni::Code::kAddressInUse,
                              "requested address " + addr.str() + " is already leased" + who));
}

Expected<net::IpAddr> claim_next(store::Txn& txn, const AllocRequest& req, int i,
                                 store::Lease lease) {
  const RangeSet& set = (*req.sets)[i];
  std::optional<net::IpAddr> cursor;
  if (req.order == Order::kRoundRobin) {
    auto c = txn.get_cursor(req.network, i);
    if (!c) return fail(c.error());
    cursor = *c;
  }
  auto found = find_free(txn, req.network, set, start_position(set, cursor));
  if (!found) return fail(found.error());
  if (!*found) {
    return fail(cni::not_available("no free address in " + set_name(i, set) + " of network \"" +
                                   req.network + "\""));
  }
  lease.address = **found;
  auto ok = txn.claim(lease);
  if (!ok) return fail(ok.error());
  if (!*ok) {
    return fail(cni::make_error(cni::Code::kStore, "store: free address " + lease.address.str() +
                                                       " is leased (index out of step)"));
  }
  return lease.address;
}

// The attachment's lease in set i, if it has one.
const store::Lease* held_in(const std::vector<store::Lease>& held, const RangeSet& set) {
  for (const auto& l : held) {
    if (find_range(set, l.address) != nullptr) return &l;
  }
  return nullptr;
}

Expected<net::IpAddr> allocate_in_set(store::Txn& txn, const AllocRequest& req, int i,
                                      const std::optional<net::IpAddr>& requested,
                                      const std::vector<store::Lease>& held) {
  const RangeSet& set = (*req.sets)[i];
  if (const auto* mine = held_in(held, set)) {
    if (requested && *requested != mine->address) {
      return fail(cni::invalid_config("container \"" + req.container_id + "\" (" + req.ifname +
                                      ") already holds " + mine->address.str() + " in " +
                                      set_name(i, set) + "; release it before requesting " +
                                      requested->str()));
    }
    return mine->address;
  }
  store::Lease lease{.network = req.network,
                     .range_set = i,
                     .container_id = req.container_id,
                     .ifname = req.ifname,
                     .netns = req.netns,
                     .created = req.now};
  Expected<net::IpAddr> got = [&]() -> Expected<net::IpAddr> {
    if (!requested) return claim_next(txn, req, i, lease);
    lease.address = *requested;
    return claim_requested(txn, req, i, lease);
  }();
  if (!got) return got;
  if (auto ok = txn.set_cursor(req.network, i, *got); !ok) return fail(ok.error());
  return got;
}

}  // namespace

Expected<std::vector<std::optional<net::IpAddr>>> place_requested(
    const std::vector<RangeSet>& sets, const std::vector<RequestedIp>& requested) {
  std::vector<std::optional<net::IpAddr>> placed(sets.size());
  for (const auto& r : requested) {
    size_t i = 0;
    while (i < sets.size() && find_range(sets[i], r.addr) == nullptr) ++i;
    if (i == sets.size()) {
      std::string all;
      for (size_t s = 0; s < sets.size(); ++s) all += (s ? "; " : "") + describe(sets[s]);
      return fail(cni::invalid_config("\"" + r.source + "\": " + r.addr.str() +
                                      " is outside every range of the network (" + all + ")"));
    }
    if (placed[i]) {
      return fail(cni::invalid_config(
          "\"" + r.source + "\": " + r.addr.str() + " and " + placed[i]->str() + " are both in " +
          set_name(static_cast<int>(i), sets[i]) + ", which gives one address"));
    }
    placed[i] = r.addr;
  }
  return placed;
}

Expected<std::vector<Assigned>> allocate(store::Txn& txn, const AllocRequest& req) {
  const auto& sets = *req.sets;
  auto placed = place_requested(sets, req.requested);
  if (!placed) return fail(placed.error());
  auto held = txn.leases_of(req.network, req.container_id, req.ifname);
  if (!held) return fail(held.error());
  std::vector<Assigned> out;
  for (size_t i = 0; i < sets.size(); ++i) {
    const int set = static_cast<int>(i);
    auto addr = allocate_in_set(txn, req, set, (*placed)[i], *held);
    if (!addr) return fail(addr.error());
    out.push_back({set, *addr, *find_range(sets[i], *addr)});
  }
  return out;
}

Expected<std::optional<int>> first_exhausted(store::Txn& txn, const std::string& network,
                                             const std::vector<RangeSet>& sets) {
  for (size_t i = 0; i < sets.size(); ++i) {
    auto found = find_free(txn, network, sets[i], {0, sets[i][0].start});
    if (!found) return fail(found.error());
    if (!*found) return std::optional(static_cast<int>(i));
  }
  return std::nullopt;
}

}  // namespace weir::ipam
