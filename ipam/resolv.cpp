// resolv.conf as host-local reads it for the result's DNS section.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "ipam/config.hpp"

namespace weir::ipam {

namespace {

std::vector<std::string> words(std::istringstream& in) {
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

}  // namespace

Expected<cni::Dns> read_resolv_conf(const std::string& path) {
  std::ifstream file(path);
  if (!file)
    return fail(cni::sys_error(errno, "cannot read \"" + path + "\"", cni::Code::kInvalidConfig));
  cni::Dns dns;
  for (std::string line; std::getline(file, line);) {
    std::istringstream in(line);
    std::string key;
    if (!(in >> key) || key[0] == '#' || key[0] == ';') continue;
    auto rest = words(in);
    if (key == "nameserver" && !rest.empty()) {
      dns.nameservers.push_back(rest[0]);
    } else if (key == "domain" && !rest.empty()) {
      dns.domain = rest[0];
    } else if (key == "search") {
      dns.search = rest;
    } else if (key == "options") {
      dns.options.insert(dns.options.end(), rest.begin(), rest.end());
    }
  }
  return dns;
}

}  // namespace weir::ipam
