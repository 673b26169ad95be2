// The firewall rules a bridge network and one of its endpoints ask for.
#pragma once

#include "lib/firewall/firewall.hpp"
#include "plugins/bridge/config.hpp"

namespace weir::plugins::bridge {

firewall::NetworkRules network_rules(const std::string& network, const BridgeConfig& cfg,
                                     const std::vector<net::Cidr>& addresses);
firewall::EndpointRules endpoint_rules(const cni::Call& call, const BridgeConfig& cfg,
                                       const std::vector<net::Cidr>& addresses);

}  // namespace weir::plugins::bridge
