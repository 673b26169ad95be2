#include "lib/net/addr.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace weir::net {

std::optional<IpAddr> IpAddr::parse(std::string_view text) {
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof(buf)) return std::nullopt;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddr a;
  if (inet_pton(AF_INET, buf, a.bytes_.data()) == 1) {
    a.family_ = Family::kV4;
    return a;
  }
  if (inet_pton(AF_INET6, buf, a.bytes_.data()) == 1) {
    a.family_ = Family::kV6;
    return a;
  }
  return std::nullopt;
}

IpAddr IpAddr::v4(uint32_t host_order) {
  IpAddr a;
  uint32_t n = htonl(host_order);
  std::memcpy(a.bytes_.data(), &n, 4);
  return a;
}

IpAddr IpAddr::from_bytes(Family family, const void* bytes) {
  IpAddr a;
  a.family_ = family;
  std::memcpy(a.bytes_.data(), bytes, family == Family::kV4 ? 4 : 16);
  return a;
}

uint32_t IpAddr::v4_host_order() const {
  uint32_t n;
  std::memcpy(&n, bytes_.data(), 4);
  return ntohl(n);
}

std::string IpAddr::str() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof(buf));
  return buf;
}

IpAddr IpAddr::plus(uint64_t n) const {
  IpAddr r = *this;
  unsigned carry = 0;
  for (int i = static_cast<int>(size()) - 1; i >= 0; --i) {
    unsigned sum = r.bytes_[i] + static_cast<unsigned>(n & 0xff) + carry;
    r.bytes_[i] = static_cast<uint8_t>(sum);
    carry = sum >> 8;
    n >>= 8;
  }
  return r;
}

IpAddr IpAddr::minus(uint64_t n) const {
  IpAddr r = *this;
  int borrow = 0;
  for (int i = static_cast<int>(size()) - 1; i >= 0; --i) {
    int diff = int{r.bytes_[i]} - static_cast<int>(n & 0xff) - borrow;
    borrow = diff < 0 ? 1 : 0;
    r.bytes_[i] = static_cast<uint8_t>(diff + (borrow << 8));
    n >>= 8;
  }
  return r;
}

uint64_t IpAddr::distance_from(const IpAddr& other) const {
  // Subtract byte-wise into a 128-bit difference; saturate if it needs more than 64 bits.
  std::array<uint8_t, 16> diff{};
  int borrow = 0;
  for (int i = static_cast<int>(size()) - 1; i >= 0; --i) {
    int d = int{bytes_[i]} - int{other.bytes_[i]} - borrow;
    borrow = d < 0 ? 1 : 0;
    diff[i] = static_cast<uint8_t>(d + (borrow << 8));
  }
  size_t n = size();
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    if (n - i > 8 && diff[i] != 0) return UINT64_MAX;
    if (n - i <= 8) v = (v << 8) | diff[i];
  }
  return v;
}

bool IpAddr::is_unspecified() const {
  return std::all_of(bytes_.begin(), bytes_.begin() + size(), [](uint8_t b) { return b == 0; });
}

bool IpAddr::is_multicast() const {
  return is_v4() ? (bytes_[0] & 0xf0) == 0xe0 : bytes_[0] == 0xff;
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto addr = IpAddr::parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  auto len_text = text.substr(slash + 1);
  int len = -1;
  auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
  if (ec != std::errc{} || end != len_text.data() + len_text.size() || len_text.empty() ||
      len < 0 || len > addr->bits()) {
    return std::nullopt;
  }
  return Cidr(*addr, len);
}

Cidr Cidr::network() const {
  IpAddr a = addr_;
  uint8_t* b = a.data();
  for (int i = 0; i < static_cast<int>(a.size()); ++i) {
    int keep = std::clamp(len_ - i * 8, 0, 8);
    b[i] &= static_cast<uint8_t>(0xff00 >> keep);
  }
  return Cidr(a, len_);
}

IpAddr Cidr::first() const { return network().addr_; }

IpAddr Cidr::last() const {
  IpAddr a = addr_;
  uint8_t* b = a.data();
  for (int i = 0; i < static_cast<int>(a.size()); ++i) {
    int keep = std::clamp(len_ - i * 8, 0, 8);
    b[i] |= static_cast<uint8_t>(0xff >> keep);
  }
  return a;
}

bool Cidr::contains(const IpAddr& a) const {
  return a.family() == family() && Cidr(a, len_).network().addr_ == first();
}

bool Cidr::overlaps(const Cidr& other) const {
  if (other.family() != family()) return false;
  return contains(other.first()) || other.contains(first());
}

uint64_t Cidr::size() const {
  int host_bits = addr_.bits() - len_;
  return host_bits >= 64 ? UINT64_MAX : (uint64_t{1} << host_bits);
}

std::string Cidr::str() const { return addr_.str() + "/" + std::to_string(len_); }

std::optional<Mac> Mac::parse(std::string_view text) {
  // aa:bb:cc:dd:ee:ff (also with '-'), case-insensitive.
  if (text.size() != 17) return std::nullopt;
  Mac m;
  for (int i = 0; i < 6; ++i) {
    if (i > 0 && text[i * 3 - 1] != ':' && text[i * 3 - 1] != '-') return std::nullopt;
    auto part = text.substr(i * 3, 2);
    unsigned v = 0;
    auto [end, ec] = std::from_chars(part.data(), part.data() + 2, v, 16);
    if (ec != std::errc{} || end != part.data() + 2) return std::nullopt;
    m.bytes_[i] = static_cast<uint8_t>(v);
  }
  return m;
}

Mac Mac::from_bytes(const void* bytes) {
  Mac m;
  std::memcpy(m.bytes_.data(), bytes, 6);
  return m;
}

std::string Mac::str() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(17, ':');
  for (int i = 0; i < 6; ++i) {
    s[i * 3] = kHex[bytes_[i] >> 4];
    s[i * 3 + 1] = kHex[bytes_[i] & 0xf];
  }
  return s;
}

}  // namespace weir::net
