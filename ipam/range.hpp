// Address ranges as the reference host-local plugin defines them: a subnet, the first and last
// allocatable addresses and a gateway. Pure values: no store, no syscalls.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/cni/error.hpp"
#include "lib/net/addr.hpp"

namespace weir::ipam {

struct Range {
  net::Cidr subnet;     // network address, no host bits
  net::IpAddr start;    // first allocatable address (rangeStart)
  net::IpAddr end;      // last allocatable address (rangeEnd)
  net::IpAddr gateway;  // never allocated

  bool contains(const net::IpAddr& a) const;  // a in [start, end]
  // end - start + 1, saturated at UINT64_MAX.
  uint64_t size() const;
  // Addresses that can be leased: size() minus the gateway when it lies inside.
  uint64_t capacity() const;
  // "10.0.0.0/24", or "10.0.0.0/24 (10.0.0.10-10.0.0.20)" when start/end are not the defaults.
  std::string str() const;

  friend bool operator==(const Range&, const Range&) = default;
};

// One address per range set: a set is the ranges one address may come from (one family).
using RangeSet = std::vector<Range>;

struct RangeParams {
  net::Cidr subnet;
  std::optional<net::IpAddr> start{};
  std::optional<net::IpAddr> end{};
  std::optional<net::IpAddr> gateway{};
};

// Validates and fills the defaults the way host-local does: the subnet must be a network
// address with at least two host bits (a /31, /32, /127 or /128 leaves nothing to allocate once
// the network address and the gateway are taken); start defaults to network+1, end to the
// broadcast-1 (IPv4) or the last address (IPv6), the gateway to network+1. start and end must
// lie in the subnet, in order; every address must be of the subnet's family. Errors are code 7
// and name `field` ("ipam.ranges[0][1]").
Expected<Range> make_range(const RangeParams& p, std::string_view field);

// Two ranges overlap when their [start, end] intervals share an address (host-local's rule).
bool overlaps(const Range& a, const Range& b);

// Validates a range set: not empty, one family, no overlaps.
Expected<void> check_range_set(const RangeSet& set, std::string_view field);

// The range of the set whose [start, end] holds a, or nullptr.
const Range* find_range(const RangeSet& set, const net::IpAddr& a);
bool is_gateway(const RangeSet& set, const net::IpAddr& a);
std::string describe(const RangeSet& set);  // "10.0.0.0/24, 10.0.1.0/24"

}  // namespace weir::ipam
