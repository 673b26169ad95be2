// What weir's table looks like and which rules a network or an endpoint needs. Pure: builds
// rules, talks to no kernel.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/cni/error.hpp"
#include "lib/firewall/firewall.hpp"
#include "lib/firewall/nft.hpp"

namespace weir::firewall::detail {

// Chains of table inet weir.
inline constexpr std::string_view kForward = "forward";      // filter, hook forward
inline constexpr std::string_view kIsolation = "isolation";  // regular, jumped to from forward
inline constexpr std::string_view kOpen = "open";            // regular, jumped to from forward
inline constexpr std::string_view kRawPrerouting = "raw-prerouting";  // filter, prerouting, -300
inline constexpr std::string_view kPrerouting = "nat-prerouting";
inline constexpr std::string_view kOutput = "nat-output";
inline constexpr std::string_view kPostrouting = "nat-postrouting";
// Chain of table bridge weir.
inline constexpr std::string_view kSpoofCheck = "prerouting";  // filter, hook prerouting

// Every chain of both tables, jump targets first (a batch adds them in this order).
const std::vector<nft::ChainDef>& chains();
// The chains that hold a network's rules, an endpoint's, and any weir rule at all.
const std::vector<nft::ChainRef>& network_chains();
const std::vector<nft::ChainRef>& endpoint_chains();
const std::vector<nft::ChainRef>& all_chains();

// Tags, kept as the rules' comments: "weir:<network>" and "weir:<network>:<container>:<ifname>".
std::string network_tag(std::string_view network);
std::string endpoint_tag(std::string_view network, std::string_view container_id,
                         std::string_view ifname);
// True for the network's own rules and those of its endpoints.
bool owned_by_network(std::string_view tag, std::string_view network);
// The network a weir tag belongs to; nullopt for a rule that is not weir's.
std::optional<std::string> network_of(std::string_view tag);

// Input checks, Code::kInvalidConfig.
Expected<void> validate_network_name(std::string_view network);
Expected<void> validate_key(std::string_view network, std::string_view container_id,
                            std::string_view ifname);
Expected<void> validate(const NetworkRules& rules);
Expected<void> validate(const EndpointRules& rules);

// The rules in the order they should appear in their chains. Input must be validated.
std::vector<nft::Rule> network_rules(const NetworkRules& rules);
std::vector<nft::Rule> endpoint_rules(const EndpointRules& rules);

}  // namespace weir::firewall::detail
