#include "agent/records.hpp"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace weir::agent {

using nlohmann::json;

namespace {

json extra_of(const store::Endpoint& ep) {
  json j = json::parse(ep.extra.empty() ? "{}" : ep.extra, nullptr, false);
  return j.is_object() ? j : json::object();
}

bool flag(const json& j, const char* key) {
  return j.contains(key) && j[key] == true;
}

std::vector<std::string> strings(const json& j, const char* key) {
  std::vector<std::string> out;
  if (!j.contains(key) || !j[key].is_array()) return out;
  for (const auto& s : j[key]) {
    if (s.is_string()) out.push_back(s.get<std::string>());
  }
  return out;
}

template <class T>
void add_unique(std::vector<T>& v, const T& x) {
  if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
}

dns::ZoneEndpoint zone_endpoint(const store::Endpoint& ep, const std::string& network) {
  dns::ZoneEndpoint z{.network = network, .container_id = ep.container_id, .aliases = ep.aliases};
  // The store lists the short id among the names; the zone answers it anyway, and as a name it
  // would be a second PTR target next to the container's name. Without a name, the zone's PTR
  // falls back to the short id.
  const std::string short_id = ep.container_id.substr(0, dns::kShortIdLen);
  for (const auto& n : ep.names) {
    if (n != short_id) z.names.push_back(n);
  }
  for (const auto& ip : ep.ips) z.ips.push_back(ip.addr());
  return z;
}

}  // namespace

Plan plan_from(const std::vector<store::Endpoint>& endpoints) {
  Plan plan;
  std::map<std::string, dns::ZoneNetwork> networks;
  std::vector<const store::Endpoint*> host_endpoints;
  for (const auto& ep : endpoints) {
    json extra = extra_of(ep);
    if (flag(extra, "hostNetwork")) {
      host_endpoints.push_back(&ep);
      continue;
    }
    if (!flag(extra, "embeddedDNS")) continue;
    auto& n = networks[ep.network];
    n.name = ep.network;
    for (const auto& ip : ep.ips) add_unique(n.subnets, ip.network());
    for (const auto& text : strings(extra, "dnsListen")) {
      if (auto ip = net::IpAddr::parse(text)) add_unique(n.listen, *ip);
    }
    for (const auto& text : strings(extra, "dnsServers")) {
      if (auto up = dns::SocketAddr::parse(text)) add_unique(n.upstreams, *up);
    }
    plan.endpoints.push_back(zone_endpoint(ep, ep.network));
    if (flag(extra, "dnsInNetns") && !ep.netns.empty()) {
      plan.listeners.push_back({.key = "netns:" + ep.netns,
                                .address = *net::IpAddr::parse(kContainerResolver),
                                .netns = ep.netns,
                                .container_id = ep.container_id});
    }
  }
  std::set<std::string> keys;
  for (auto& [name, n] : networks) {
    for (const auto& ip : n.listen) {
      if (keys.insert(ip.str()).second) plan.listeners.push_back({.key = ip.str(), .address = ip});
    }
    plan.networks.push_back(std::move(n));
  }
  // A host-networked container is found by name from every DNS network.
  for (const auto* ep : host_endpoints) {
    for (const auto& n : plan.networks) plan.endpoints.push_back(zone_endpoint(*ep, n.name));
  }
  return plan;
}

}  // namespace weir::agent
