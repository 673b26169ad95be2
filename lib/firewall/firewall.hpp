// The nftables rules of weir's bridge networks: table `inet weir`, and table `bridge weir` for
// the endpoints' MAC spoof checks, changed only by atomic nftables batches (one batch may
// change both), so that no other reader ever sees a half-applied ruleset. Everything works
// on the netns of the calling thread (a netlink socket is bound to the netns it is opened in):
// the bridge plugin calls it in the host netns, tests inside netns::run_in.
//
// Every rule carries a comment tag, "weir:<network>" for a network's rules and
// "weir:<network>:<container>:<ifname>" for an endpoint's, which is how del_* find exactly their
// rules without any state of their own. Names must therefore not contain ':' (CNI's own name
// rules forbid it anyway); such names fail with Code::kInvalidConfig.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/cni/error.hpp"
#include "lib/net/addr.hpp"

namespace weir::firewall {

inline constexpr std::string_view kTableName = "weir";  // families inet and bridge

struct NetworkRules {
  std::string network{};             // weir network name (rule tags)
  std::string bridge{};              // bridge ifname, e.g. "weir0"
  std::vector<net::Cidr> subnets{};  // v4 and/or v6; host bits are ignored
  // ipMasq: masquerade traffic from a subnet to anything but the network's subnets and
  // multicast. Never on internal networks. The masquerades that published ports need (hairpin,
  // 127.0.0.0/8 sources) are there whenever the network is not internal.
  bool masquerade = true;
  // No traffic between the bridge and any other interface (the host itself stays reachable).
  bool internal = false;
  // false: containers on the bridge cannot talk to each other. Traffic between two ports of one
  // bridge reaches the inet forward hook only through br_netfilter, so this needs
  // net.bridge.bridge-nf-call-iptables=1 (and -ip6tables) in the netns of the bridge.
  bool icc = true;
  // true ("strict"): no traffic between this bridge and any other weir bridge, in either
  // direction. false ("none"): new connections to and from the other "none" networks pass.
  // Either way DNATed connections (published ports reached through a host address) are exempt,
  // and nothing else from outside the bridge enters it but replies (see rules.cpp).
  bool isolate = true;
  // Host interfaces from which new connections may be routed straight to the subnets, any port
  // (Docker's trusted_host_interfaces). Not on internal networks (which drop them anyway).
  std::vector<std::string> trusted_interfaces{};

  friend bool operator==(const NetworkRules&, const NetworkRules&) = default;
};

struct PortMapping {
  uint16_t host_port = 0;
  uint16_t container_port = 0;
  std::string protocol = "tcp";          // "tcp", "udp" or "sctp"
  std::optional<net::IpAddr> host_ip{};  // unset: every local address of the host, both
                                         // families; 0.0.0.0 / ::: every local address of
                                         // that family only
};

// macspoofchk: frames entering the bridge from the endpoint's port whose source MAC is not the
// container's are dropped, whatever their ethertype and wherever they go.
struct SpoofCheck {
  std::string host_ifname{};  // the host end of the endpoint's veth, a port of the bridge
  net::Mac mac{};             // the container's MAC, the only source allowed
};

struct EndpointRules {
  std::string network{};
  std::string container_id{};
  std::string ifname{};
  std::string bridge{};            // validated; the current rules do not need it
  std::vector<net::IpAddr> ips{};  // container addresses; the first of each family is the target
  std::vector<PortMapping> ports{};
  std::optional<SpoofCheck> spoof_check{};
};

// Creates the table and its chains if needed and makes this network's rules exactly the ones
// `rules` asks for, in one batch; does nothing when they already are.
Expected<void> ensure_network(const NetworkRules& rules);
// Removes the network's rules and those of all its endpoints. Missing is success.
Expected<void> del_network(std::string_view network);

// Makes this endpoint's rules (published ports, spoof check) exactly the ones `rules` asks for.
Expected<void> ensure_endpoint(const EndpointRules& rules);
// Removes exactly this endpoint's rules. Missing is success.
Expected<void> del_endpoint(std::string_view network, std::string_view container_id,
                            std::string_view ifname);

// Read only. Fail with Code::kCheckFailed naming the first missing (or unexpected) piece.
Expected<void> check_network(const NetworkRules& rules);
Expected<void> check_endpoint(const EndpointRules& rules);

// Networks that have at least one rule (network or endpoint) in the table, sorted.
Expected<std::vector<std::string>> list_networks();

// Removes both tables with everything in them. Missing is success.
Expected<void> del_table();
// Removes each table only if no weir rule is left in it, atomically with that test (a
// concurrent ADD that just put its rules there wins). Returns whether one was removed; missing
// tables are success and return false.
Expected<bool> del_table_if_unused();

}  // namespace weir::firewall
