#include "plugins/bridge/rules.hpp"

namespace weir::plugins::bridge {

firewall::NetworkRules network_rules(const std::string& network, const BridgeConfig& cfg,
                                     const std::vector<net::Cidr>& addresses) {
  firewall::NetworkRules n{.network = network,
                           .bridge = cfg.bridge,
                           .masquerade = cfg.ip_masq,
                           .internal = cfg.internal,
                           .icc = cfg.icc,
                           .isolate = cfg.isolation,
                           .trusted_interfaces = cfg.trusted_interfaces};
  for (const auto& a : addresses) n.subnets.push_back(a.network());
  return n;
}

firewall::EndpointRules endpoint_rules(const cni::Call& call, const BridgeConfig& cfg,
                                       const std::vector<net::Cidr>& addresses,
                                       const firewall::SpoofCheck& port) {
  firewall::EndpointRules e{.network = call.conf.name,
                            .container_id = call.env.container_id,
                            .ifname = call.env.ifname,
                            .bridge = cfg.bridge};
  for (const auto& a : addresses) e.ips.push_back(a.addr());
  for (const auto& p : cfg.ports) {
    e.ports.push_back({.host_port = p.host_port,
                       .container_port = p.container_port,
                       .protocol = p.protocol,
                       .host_ip = p.host_ip});
  }
  if (cfg.macspoofchk) e.spoof_check = port;
  return e;
}

bool has_endpoint_rules(const BridgeConfig& cfg, const std::vector<net::Cidr>& addresses) {
  return (!cfg.ports.empty() && !addresses.empty()) || cfg.macspoofchk;
}

}  // namespace weir::plugins::bridge
