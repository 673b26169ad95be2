#include "ipam/range.hpp"

#include <algorithm>
#include <optional>
#include <string>

namespace weir::ipam {

namespace {

std::string family_name(net::Family f) {
  return f == net::Family::kV4 ? "IPv4" : "IPv6";
}

// "\"x\"", built by appending: GCC 12 warns (-Wrestrict, falsely) on "…" + std::string&&.
using cni::quoted;

cni::Error bad(std::string_view field, std::string_view key, const std::string& msg) {
  return cni::invalid_config(quoted(std::string(field) + "." + std::string(key)) + ": " + msg);
}

// The default rangeEnd: the last address of the subnet, but the broadcast is not a host in IPv4.
net::IpAddr default_end(const net::Cidr& subnet) {
  return subnet.family() == net::Family::kV4 ? subnet.last().prev() : subnet.last();
}

Expected<void> check_in_subnet(const net::Cidr& subnet, const net::IpAddr& a,
                               std::string_view field, std::string_view key) {
  if (a.family() != subnet.family()) {
    return fail(bad(field, key,
                    family_name(a.family()) + " address " + a.str() + " for the " +
                        family_name(subnet.family()) + " subnet " + subnet.str()));
  }
  if (!subnet.contains(a)) {
    return fail(bad(field, key, a.str() + " is outside the subnet " + subnet.str()));
  }
  return {};
}

// Ranges the kernel keeps for itself: an address there cannot be a container's on a link
// (loopback is martian off `lo`, multicast is never a source, IPv6 link-local is every link's
// own fe80::/64). IPv4 link-local and class E stay allowed: Linux routes them like any other.
std::optional<std::string> reserved_overlap(const net::Cidr& subnet) {
  struct Reserved {
    const char* cidr;
    const char* what;
  };
  static constexpr Reserved kReserved[] = {
      {"127.0.0.0/8", "the IPv4 loopback range 127.0.0.0/8"},
      {"224.0.0.0/4", "the IPv4 multicast range 224.0.0.0/4"},
      {"255.255.255.255/32", "the IPv4 broadcast address 255.255.255.255"},
      {"::/128", "the IPv6 unspecified address ::"},
      {"::1/128", "the IPv6 loopback address ::1"},
      {"fe80::/10", "the IPv6 link-local range fe80::/10"},
      {"ff00::/8", "the IPv6 multicast range ff00::/8"},
  };
  for (const auto& r : kReserved) {
    const auto cidr = net::Cidr::parse(r.cidr);
    if (cidr && cidr->family() == subnet.family() && cidr->overlaps(subnet.network())) return r.what;
  }
  return std::nullopt;
}

Expected<void> check_subnet(const net::Cidr& subnet, std::string_view field) {
  if (subnet.has_host_bits()) {
    return fail(bad(field, "subnet",
                    quoted(subnet.str()) + " has host bits set (the network is " +
                        subnet.network().str() + ")"));
  }
  if (subnet.prefix_len() == 0) {
    return fail(bad(field, "subnet",
                    subnet.str() + " covers every " + family_name(subnet.family()) +
                        " address: give the network's own subnet"));
  }
  if (auto special = reserved_overlap(subnet)) {
    return fail(bad(field, "subnet", subnet.str() + " overlaps " + *special +
                                         ": no container address can be there"));
  }
  if (subnet.prefix_len() > subnet.addr().bits() - 2) {
    return fail(bad(field, "subnet",
                    subnet.str() + " is too small to allocate from: the " +
                        "smallest subnet is a /" + std::to_string(subnet.addr().bits() - 2)));
  }
  return {};
}

}  // namespace

bool Range::contains(const net::IpAddr& a) const {
  return a.family() == start.family() && start <= a && a <= end;
}

uint64_t Range::size() const {
  const uint64_t d = end.distance_from(start);
  return d == UINT64_MAX ? d : d + 1;
}

uint64_t Range::capacity() const {
  const uint64_t n = size();
  return contains(gateway) && n != UINT64_MAX ? n - 1 : n;
}

std::string Range::str() const {
  const net::Cidr net = subnet.network();
  if (start == net.first().next() && end == default_end(net)) return net.str();
  return net.str() + " (" + start.str() + "-" + end.str() + ")";
}

Expected<Range> make_range(const RangeParams& p, std::string_view field) {
  if (auto ok = check_subnet(p.subnet, field); !ok) return fail(ok.error());
  Range r{.subnet = p.subnet,
          .start = p.start.value_or(p.subnet.first().next()),
          .end = p.end.value_or(default_end(p.subnet)),
          .gateway = p.gateway.value_or(p.subnet.first().next())};
  if (auto ok = check_in_subnet(p.subnet, r.start, field, "rangeStart"); !ok)
    return fail(ok.error());
  if (auto ok = check_in_subnet(p.subnet, r.end, field, "rangeEnd"); !ok) return fail(ok.error());
  if (r.end < r.start) {
    return fail(bad(field, "rangeEnd", r.end.str() + " is before rangeStart " + r.start.str()));
  }
  // host-local lets the gateway lie outside the subnet (an on-link route elsewhere); only its
  // family must match.
  if (r.gateway.family() != p.subnet.family()) {
    return fail(bad(field, "gateway",
                    family_name(r.gateway.family()) + " gateway " + r.gateway.str() + " for the " +
                        family_name(p.subnet.family()) + " subnet " + p.subnet.str()));
  }
  return r;
}

bool overlaps(const Range& a, const Range& b) {
  if (a.start.family() != b.start.family()) return false;
  return a.start <= b.end && b.start <= a.end;
}

Expected<void> check_range_set(const RangeSet& set, std::string_view field) {
  const std::string name = quoted(field);
  if (set.empty()) return fail(cni::invalid_config(name + ": empty range set"));
  for (size_t i = 1; i < set.size(); ++i) {
    if (set[i].subnet.family() != set[0].subnet.family()) {
      return fail(cni::invalid_config(
          quoted(std::string(field) + "[" + std::to_string(i) + "]") + ": " +
          family_name(set[i].subnet.family()) + " range " + set[i].str() + " in a set of " +
          family_name(set[0].subnet.family()) + " ranges (one address family per set)"));
    }
  }
  for (size_t i = 0; i < set.size(); ++i) {
    for (size_t j = i + 1; j < set.size(); ++j) {
      if (overlaps(set[i], set[j])) {
        return fail(cni::invalid_config(name + ": ranges " + set[i].str() + " and " + set[j].str() +
                                        " overlap"));
      }
    }
  }
  return {};
}

const Range* find_range(const RangeSet& set, const net::IpAddr& a) {
  auto it = std::find_if(set.begin(), set.end(), [&](const Range& r) { return r.contains(a); });
  return it == set.end() ? nullptr : &*it;
}

bool is_gateway(const RangeSet& set, const net::IpAddr& a) {
  return std::any_of(set.begin(), set.end(), [&](const Range& r) { return r.gateway == a; });
}

std::string describe(const RangeSet& set) {
  std::string out;
  for (const auto& r : set) out += (out.empty() ? "" : ", ") + r.str();
  return out;
}

}  // namespace weir::ipam
