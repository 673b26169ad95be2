// The plugins' side of the embedded DNS: what an endpoint records so weir-agent serves it,
// the `dns` section of the result, and the sync that makes a new name live before ADD returns.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/client/control.hpp"
#include "lib/cni/plugin.hpp"
#include "lib/store/backend.hpp"

namespace weir::plugins {

// What the agent needs to serve an endpoint (the extra keys of dns/records.hpp).
struct DnsMark {
  std::vector<net::IpAddr> listen{};   // the network's resolvers in the agent's netns (gateways)
  std::vector<std::string> servers{};  // upstreams instead of the host's (parse_dns_servers)
  bool in_netns = false;               // serve it on dns::kContainerResolver in its netns
  bool internal = false;               // an internal network: the agent forwards nothing for it
};

// Marks an endpoint's extra for the embedded DNS.
void mark_dns_endpoint(nlohmann::json& extra, const DnsMark& mark);

// Whether a stored endpoint has names the embedded DNS serves.
bool dns_endpoint(const std::string& extra_json);
bool dns_endpoint(const nlohmann::json& extra);  // the same, parsed

// The config's `dnsServers`: upstream resolvers of the network ("10.0.0.53", "10.0.0.53:5353",
// "[fd00::53]:53"), at most three used; normalized ("10.0.0.53:53"). Code 7 naming the entry
// when one is not an address.
Expected<std::vector<std::string>> parse_dns_servers(const nlohmann::json& conf);

// The resolver and search domain a container on `network` gets (the network's name is its
// domain, so "web" and "web.<network>" both resolve).
cni::Dns dns_for(const std::string& network, const std::vector<net::IpAddr>& resolvers,
                 const cni::Dns& configured);

// weir-agent serves the names of its data folder's SQLite store and cannot read etcd yet: an ADD
// that asks for the embedded DNS on a network whose store is etcd is refused with code 2, before
// anything is made, rather than leave a container with a resolver that does not know its names.
Expected<void> refuse_dns_on_etcd(const store::Backend& backend);

// After ADD stored its endpoint: starts the agent if needed and waits (bounded) until it
// serves the new names. After DEL: tells a running agent, starts none.
Expected<void> sync_dns(const std::string& data_dir, bool start);

}  // namespace weir::plugins
