#include "dns/records.hpp"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>
#include <unordered_map>

namespace weir::dns {

using nlohmann::json;

namespace {

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

// What an endpoint's extra says about DNS (records.hpp).
struct DnsFacts {
  bool host_network = false;
  bool embedded_dns = false;
  bool in_netns = false;
  bool internal = false;
  std::string bridge;
  std::vector<net::IpAddr> listen;
  std::vector<SocketAddr> upstreams;
};

DnsFacts facts_of(const std::string& extra_json) {
  json extra = json::parse(extra_json.empty() ? "{}" : extra_json, nullptr, false);
  if (!extra.is_object()) return {};
  DnsFacts f{.host_network = flag(extra, "hostNetwork"),
             .embedded_dns = flag(extra, "embeddedDNS"),
             .in_netns = flag(extra, "dnsInNetns"),
             .internal = flag(extra, "dnsInternal")};
  if (extra.contains("bridge") && extra["bridge"].is_string()) f.bridge = extra["bridge"];
  for (const auto& text : strings(extra, "dnsListen")) {
    if (auto ip = net::IpAddr::parse(text)) add_unique(f.listen, *ip);
  }
  for (const auto& text : strings(extra, "dnsServers")) {
    if (auto up = SocketAddr::parse(text)) add_unique(f.upstreams, *up);
  }
  return f;
}

ZoneEndpoint zone_endpoint(const store::Endpoint& ep, const std::string& network) {
  ZoneEndpoint z{.network = network, .container_id = ep.container_id, .aliases = ep.aliases};
  // The store lists the short id among the names; the zone answers it anyway, and as a name it
  // would be a second PTR target next to the container's name. Without a name, the zone's PTR
  // falls back to the short id.
  const std::string short_id = ep.container_id.substr(0, kShortIdLen);
  for (const auto& n : ep.names) {
    if (n != short_id) z.names.push_back(n);
  }
  for (const auto& ip : ep.ips) z.ips.push_back(ip.addr());
  return z;
}

}  // namespace

Plan plan_from(const std::vector<store::Endpoint>& endpoints) {
  Plan plan;
  std::map<std::string, ZoneNetwork> networks;
  std::vector<const store::Endpoint*> host_endpoints;
  // The containers of a network mostly share one extra, byte for byte: parsed once per sync
  // (the parse was most of a sync's time with a few hundred endpoints).
  std::unordered_map<std::string_view, DnsFacts> parsed;
  for (const auto& ep : endpoints) {
    auto it = parsed.find(ep.extra);
    if (it == parsed.end()) it = parsed.emplace(ep.extra, facts_of(ep.extra)).first;
    const DnsFacts& f = it->second;
    if (f.host_network) {
      host_endpoints.push_back(&ep);
      continue;
    }
    if (!f.embedded_dns) continue;
    auto& n = networks[ep.network];
    n.name = ep.network;
    for (const auto& ip : ep.ips) add_unique(n.subnets, ip.network());
    for (const auto& ip : f.listen) add_unique(n.listen, ip);
    for (const auto& up : f.upstreams) add_unique(n.upstreams, up);
    // One endpoint that says internal is enough: never forward for a network that may be.
    if (f.internal) n.forward = false;
    if (!f.bridge.empty()) plan.bridges[ep.network].insert(f.bridge);
    plan.endpoints.push_back(zone_endpoint(ep, ep.network));
    if (f.in_netns && !ep.netns.empty()) {
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

}  // namespace weir::dns
