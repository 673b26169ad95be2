#include "dns/sockaddr.hpp"

#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace weir::dns {

std::optional<SocketAddr> SocketAddr::parse(std::string_view text) {
  SocketAddr out;
  std::string_view host = text;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
      if (port.empty()) return std::nullopt;
    }
  } else if (text.find(':') != std::string_view::npos &&
             text.find(':') == text.rfind(':')) {  // exactly one colon: v4 with a port
    const size_t colon = text.find(':');
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (port.empty()) return std::nullopt;
  }
  auto ip = net::IpAddr::parse(host);
  if (!ip) return std::nullopt;
  out.ip = *ip;
  if (!port.empty()) {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc{} || end != port.data() + port.size() || v > 65535) return std::nullopt;
    out.port = static_cast<uint16_t>(v);
  }
  return out;
}

std::string SocketAddr::str() const {
  if (ip.is_v4()) return ip.str() + ":" + std::to_string(port);
  std::string s = "[";  // appended: GCC 12 -O3 warns falsely (-Wrestrict) on "[" + std::string&&
  return s.append(ip.str()).append("]:").append(std::to_string(port));
}

socklen_t to_sockaddr(const SocketAddr& a, sockaddr_storage* out) noexcept {
  std::memset(out, 0, sizeof(*out));
  if (a.ip.is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(out);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(a.port);
    std::memcpy(&sin->sin_addr, a.ip.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(out);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(a.port);
  std::memcpy(&sin6->sin6_addr, a.ip.data(), 16);
  return sizeof(sockaddr_in6);
}

std::optional<SocketAddr> from_sockaddr(const sockaddr* sa, socklen_t len) noexcept {
  if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(sa);
    return SocketAddr{net::IpAddr::from_bytes(net::Family::kV4, &sin->sin_addr),
                      ntohs(sin->sin_port)};
  }
  if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(sa);
    const uint8_t* b = sin6->sin6_addr.s6_addr;
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(b, kMapped, 12) == 0) {
      return SocketAddr{net::IpAddr::from_bytes(net::Family::kV4, b + 12), ntohs(sin6->sin6_port)};
    }
    return SocketAddr{net::IpAddr::from_bytes(net::Family::kV6, b), ntohs(sin6->sin6_port)};
  }
  return std::nullopt;
}

}  // namespace weir::dns
