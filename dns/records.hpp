// What weir-agent serves, derived from the store's endpoint records: the zone's networks and
// endpoints, and the sockets to serve them on. weirctl shows the same, computed the same way.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "dns/server.hpp"
#include "dns/zone.hpp"
#include "lib/store/store.hpp"

namespace weir::dns {

// Where a container of a network the host cannot reach (macvlan) finds its resolver: the agent
// binds it inside the container's netns, on its loopback, as Docker does.
inline constexpr std::string_view kContainerResolver = "127.0.0.11";

// One set of sockets. `key` names it for reconciling ("10.88.0.1" for a gateway in the
// agent's netns, "netns:<path>" for 127.0.0.11 inside one container's netns).

struct ListenerSpec {
  std::string key;
  net::IpAddr address;
  std::string netns;         // "" = the agent's own
  std::string container_id;  // set for a per-container socket
};

struct Plan {
  // Their `links` are left to the caller, which knows the kernel: see `bridges`.
  std::vector<ZoneNetwork> networks;
  // Per network name, the links (bridges) its endpoints say they are on: where the queries of
  // its members arrive (ZoneNetwork::links).
  std::map<std::string, std::set<std::string>> bridges;
  std::vector<ZoneEndpoint> endpoints;
  std::vector<ListenerSpec> listeners;
};

// The endpoint `extra` keys the plugins write for DNS:
//   embeddedDNS: true      the endpoint's network has DNS on
//   dnsListen: ["ip", …]   where the network's resolver listens (its gateways)
//   dnsInNetns: true       serve this container on 127.0.0.11 inside its own netns (macvlan)
//   dnsServers: ["ip", …]  upstreams for the network instead of the host's resolv.conf
//   dnsInternal: true      an internal network: names that are not weir's are not forwarded
//   bridge: "name"         (weir-bridge) the bridge the endpoint is on
//   hostNetwork: true      a host-networked container: its names resolve on every network
Plan plan_from(const std::vector<store::Endpoint>& endpoints);

}  // namespace weir::dns
