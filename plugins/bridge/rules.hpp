// The firewall rules a bridge network and one of its endpoints ask for.
#pragma once

#include "lib/firewall/firewall.hpp"
#include "plugins/bridge/config.hpp"

namespace weir::plugins::bridge {

firewall::NetworkRules network_rules(const std::string& network, const BridgeConfig& cfg,
                                     const std::vector<net::Cidr>& addresses);
// `port`: the endpoint's host veth and the container's MAC, for the spoof check (macspoofchk).
firewall::EndpointRules endpoint_rules(const cni::Call& call, const BridgeConfig& cfg,
                                       const std::vector<net::Cidr>& addresses,
                                       const firewall::SpoofCheck& port);
// Whether an endpoint has rules of its own: published ports (which need an address), or the
// spoof check.
bool has_endpoint_rules(const BridgeConfig& cfg, const std::vector<net::Cidr>& addresses);

}  // namespace weir::plugins::bridge
