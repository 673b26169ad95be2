// The host's resolvers, from resolv.conf: what names outside weir's zone are forwarded to.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dns/sockaddr.hpp"
#include "lib/cni/error.hpp"

namespace weir::dns {

// The first three `nameserver` lines (MAXNS in glibc's resolver), port 53. Skipped: addresses
// that do not parse and link-local ones with a zone ("fe80::1%eth0"), which a socket of
// another namespace could not reach anyway.
std::vector<SocketAddr> parse_resolv_conf(std::string_view text);
Expected<std::vector<SocketAddr>> read_resolv_conf(const std::string& path);

}  // namespace weir::dns
