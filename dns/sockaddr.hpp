// An IP address with a port: where to listen, where an upstream resolver is.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "lib/net/addr.hpp"

namespace weir::dns {

struct SocketAddr {
  net::IpAddr ip{};
  uint16_t port = 53;

  // "10.0.0.1", "10.0.0.1:5353", "::1", "[::1]:5353". The port defaults to 53.
  static std::optional<SocketAddr> parse(std::string_view text);
  std::string str() const;  // "10.0.0.1:53", "[::1]:53"

  friend auto operator<=>(const SocketAddr&, const SocketAddr&) = default;
};

// Conversions to and from the kernel's socket addresses. from_sockaddr maps an IPv4-mapped
// IPv6 address (::ffff:a.b.c.d, what a dual-stack socket reports) to plain IPv4.
socklen_t to_sockaddr(const SocketAddr& a, sockaddr_storage* out) noexcept;
std::optional<SocketAddr> from_sockaddr(const sockaddr* sa, socklen_t len) noexcept;

}  // namespace weir::dns
