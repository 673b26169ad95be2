#include "dns/resolv.hpp"

#include <cerrno>
#include <fstream>
#include <sstream>

#include "dns/zone.hpp"

namespace weir::dns {

std::vector<SocketAddr> parse_resolv_conf(std::string_view text) {
  std::vector<SocketAddr> out;
  std::istringstream in{std::string(text)};
  for (std::string line; std::getline(in, line) && out.size() < kMaxUpstreams;) {
    std::istringstream words(line);
    std::string key, value;
    if (!(words >> key) || key != "nameserver" || !(words >> value)) continue;
    if (value.find('%') != std::string::npos) continue;
    auto ip = net::IpAddr::parse(value);
    if (!ip) continue;
    out.push_back(SocketAddr{*ip, 53});
  }
  return out;
}

Expected<std::vector<SocketAddr>> read_resolv_conf(const std::string& path) {
  std::ifstream file(path);
  if (!file) return fail(cni::sys_error(errno, "read \"" + path + "\"", cni::Code::kIoFailure));
  std::ostringstream text;
  text << file.rdbuf();
  return parse_resolv_conf(text.str());
}

}  // namespace weir::dns
