// Address keys of the SQLite backend: a family byte (4 or 6) and the address in network order,
// so that memcmp order (SQLite's BLOB order) is address order and families never interleave.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>

#include "lib/cni/error.hpp"
#include "lib/net/addr.hpp"
#include "lib/store/sqlite_db.hpp"

namespace weir::store::sqlite {

class AddrKey {
 public:
  explicit AddrKey(const net::IpAddr& a) : size_(static_cast<int>(a.size()) + 1) {
    bytes_[0] = static_cast<uint8_t>(a.family());
    std::copy(a.data(), a.data() + a.size(), bytes_.begin() + 1);
  }
  Blob blob() const { return {bytes_.data(), size_}; }

 private:
  std::array<uint8_t, 17> bytes_{};
  int size_;
};

inline Expected<net::IpAddr> decode_addr(const Blob& b) {
  if (b.size == 5 && b.data[0] == 4) return net::IpAddr::from_bytes(net::Family::kV4, b.data + 1);
  if (b.size == 17 && b.data[0] == 6) return net::IpAddr::from_bytes(net::Family::kV6, b.data + 1);
  return fail(cni::make_error(
      cni::Code::kStore, "store: corrupt address key of " + std::to_string(b.size) + " bytes"));
}

}  // namespace weir::store::sqlite
