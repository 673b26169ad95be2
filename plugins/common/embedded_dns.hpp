// The plugins' side of the embedded DNS: what an endpoint records so weir-agent serves it,
// the `dns` section of the result, and the sync that makes a new name live before ADD returns.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/cni/plugin.hpp"

namespace weir::plugins {

// Endpoint extra keys for a network with DNS on, served on its gateways (agent/records.hpp).
void mark_dns_endpoint(nlohmann::json& extra, const std::vector<net::IpAddr>& listen);

// Whether a stored endpoint was registered for the embedded DNS.
bool dns_endpoint(const std::string& extra_json);

// The resolver and search domain a container on `network` gets (the network's name is its
// domain, so "web" and "web.<network>" both resolve).
cni::Dns dns_for(const std::string& network, const std::vector<net::IpAddr>& resolvers,
                 const cni::Dns& configured);

// After ADD stored its endpoint: starts the agent if needed and waits (bounded) until it
// serves the new names. After DEL: tells a running agent, starts none.
Expected<void> sync_dns(const std::string& data_dir, bool start);

}  // namespace weir::plugins
