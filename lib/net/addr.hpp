// Pure value types for addresses: no syscalls, no allocation on the hot path.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace weir::net {

enum class Family : uint8_t { kV4 = 4, kV6 = 6 };

// An IPv4 or IPv6 address. IPv4 is kept in the first 4 bytes, network order.
class IpAddr {
 public:
  IpAddr() = default;
  static std::optional<IpAddr> parse(std::string_view text);
  static IpAddr v4(uint32_t host_order);
  static IpAddr from_bytes(Family family, const void* bytes);

  Family family() const { return family_; }
  bool is_v4() const { return family_ == Family::kV4; }
  int bits() const { return is_v4() ? 32 : 128; }
  size_t size() const { return is_v4() ? 4 : 16; }
  const uint8_t* data() const { return bytes_.data(); }
  uint8_t* data() { return bytes_.data(); }
  uint32_t v4_host_order() const;  // only for IPv4

  std::string str() const;

  // Address arithmetic over the whole width (wraps); used to walk ranges.
  IpAddr plus(uint64_t n) const;
  IpAddr minus(uint64_t n) const;
  IpAddr next() const { return plus(1); }
  IpAddr prev() const { return minus(1); }
  // this - other, saturated at UINT64_MAX; both must be of one family, this >= other.
  uint64_t distance_from(const IpAddr& other) const;

  bool is_unspecified() const;
  bool is_multicast() const;

  friend auto operator<=>(const IpAddr&, const IpAddr&) = default;

 private:
  Family family_ = Family::kV4;
  std::array<uint8_t, 16> bytes_{};
};

// An address with a prefix length: "10.1.2.3/16". Host bits may be set (an interface address);
// network() clears them.
class Cidr {
 public:
  Cidr() = default;
  Cidr(IpAddr addr, int prefix_len) : addr_(addr), len_(prefix_len) {}
  static std::optional<Cidr> parse(std::string_view text);

  const IpAddr& addr() const { return addr_; }
  int prefix_len() const { return len_; }
  Family family() const { return addr_.family(); }

  Cidr network() const;                 // host bits cleared
  IpAddr first() const;                 // network address
  IpAddr last() const;                  // broadcast (v4) / last address
  bool has_host_bits() const { return network().addr_ != addr_; }
  bool contains(const IpAddr& a) const;
  bool overlaps(const Cidr& other) const;
  // Number of addresses, saturated at UINT64_MAX.
  uint64_t size() const;

  std::string str() const;

  friend auto operator<=>(const Cidr&, const Cidr&) = default;

 private:
  IpAddr addr_;
  int len_ = 0;
};

class Mac {
 public:
  Mac() = default;
  static std::optional<Mac> parse(std::string_view text);
  static Mac from_bytes(const void* bytes);
  const uint8_t* data() const { return bytes_.data(); }
  bool is_zero() const { return bytes_ == std::array<uint8_t, 6>{}; }
  std::string str() const;
  friend auto operator<=>(const Mac&, const Mac&) = default;

 private:
  std::array<uint8_t, 6> bytes_{};
};

}  // namespace weir::net
