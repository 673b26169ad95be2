#include "plugins/bridge/ports.hpp"

#include <string>

namespace weir::plugins::bridge {

namespace {

using nlohmann::json;

// What another endpoint recorded; endpoints of other plugins, and older records, have none.
std::vector<PortMapping> recorded_ports(const store::Endpoint& ep) {
  std::vector<PortMapping> out;
  const json extra = json::parse(ep.extra, nullptr, false);
  if (!extra.is_object() || !extra.contains("portMappings") || !extra["portMappings"].is_array()) {
    return out;
  }
  for (const auto& p : extra["portMappings"]) {
    if (auto m = parse_port(p, "portMappings")) out.push_back(std::move(*m));
  }
  return out;
}

}  // namespace

// An unset host address means every address of the host, both families (hostIP "", 0.0.0.0
// and :: parse to unset).
bool ports_overlap(const PortMapping& a, const PortMapping& b) {
  if (a.host_port != b.host_port || a.protocol != b.protocol) return false;
  return !a.host_ip || !b.host_ip || *a.host_ip == *b.host_ip;
}

std::string describe(const PortMapping& p) {
  return (p.host_ip ? p.host_ip->str() + ":" : std::string()) + std::to_string(p.host_port) + "/" +
         p.protocol;
}

json ports_json(const std::vector<PortMapping>& ports) {
  json out = json::array();
  for (const auto& p : ports) {
    json j = {
        {"hostPort", p.host_port}, {"containerPort", p.container_port}, {"protocol", p.protocol}};
    if (p.host_ip) j["hostIP"] = p.host_ip->str();
    out.push_back(std::move(j));
  }
  return out;
}

Expected<void> check_ports_free(store::Txn& txn, const std::vector<PortMapping>& ports) {
  auto endpoints = txn.list_endpoints("");
  if (!endpoints) return fail(endpoints.error());
  for (const auto& ep : *endpoints) {
    if (!txn.owns(ep.host)) continue;  // another host's ports are on another host
    for (const auto& held : recorded_ports(ep)) {
      for (const auto& want : ports) {
        if (!ports_overlap(want, held)) continue;
        return fail(cni::make_error(
            cni::Code::kAddressInUse,
            "host port " + describe(want) + " is already published by container " +
                cni::quoted(ep.container_id) + " (" + ep.ifname + ") on network " +
                cni::quoted(ep.network) + " as " + describe(held)));
      }
    }
  }
  return {};
}

}  // namespace weir::plugins::bridge
