// The allocator: one address per range set for an attachment, inside one store transaction.
// It never walks the leases: the store finds the first free address at or after a position
// through its index, and round-robin resumes from a per-set cursor.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ipam/config.hpp"
#include "ipam/range.hpp"
#include "lib/store/store.hpp"

namespace weir::ipam {

struct AllocRequest {
  std::string network;
  const std::vector<RangeSet>* sets = nullptr;
  Order order = Order::kRoundRobin;
  std::vector<RequestedIp> requested{};
  std::string container_id;
  std::string ifname;
  std::string netns;
  int64_t now = 0;
};

struct Assigned {
  int range_set = 0;
  net::IpAddr address;
  Range range;  // the range it came from (prefix length and gateway for the result)
};

// Leases one address per set to the attachment and returns them in set order. Idempotent: an
// attachment that holds an address in a set keeps it. A requested address must lie in a
// range (code 7), not be a gateway (code 7) and be free (code 103). A set without a free
// address is code 50 (not available, as STATUS reports it). Writes nothing on failure when
// the caller rolls the transaction back.
Expected<std::vector<Assigned>> allocate(store::Txn& txn, const AllocRequest& req);

// The index of the first set with no free address, or nullopt (STATUS).
Expected<std::optional<int>> first_exhausted(store::Txn& txn, const std::string& network,
                                             const std::vector<RangeSet>& sets);

// Where each requested address goes: one per set, every one in some set (code 7 otherwise).
Expected<std::vector<std::optional<net::IpAddr>>> place_requested(
    const std::vector<RangeSet>& sets, const std::vector<RequestedIp>& requested);

}  // namespace weir::ipam
