// What weir's table looks like and which rules a network or an endpoint needs. Pure: builds
// rules, talks to no kernel.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/cni/error.hpp"
#include "lib/firewall/firewall.hpp"
#include "lib/firewall/nft.hpp"

namespace weir::firewall::detail {

// Both tables, inet first.
inline constexpr std::array<nft::Table, 2> kTables = {nft::Table::kInet, nft::Table::kBridge};

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

// Rules of `want` that are not installed, and installed rules not in `want` (as multisets, by
// table, chain, signature and tag).
struct Diff {
  std::vector<const nft::Rule*> missing;
  std::vector<const nft::Installed*> unexpected;
  bool empty() const { return missing.empty() && unexpected.empty(); }
};
Diff diff(const std::vector<nft::Installed>& have, const std::vector<nft::Rule>& want);

// The batch that makes `have` (the selected rules, as installed) exactly `want`: the tables
// the wanted rules go to with all their chains, every rule of `have` deleted, then `want`
// added in its order. Returns false, and adds nothing, when `have` already is `want`.
bool plan_replace(const std::vector<nft::Installed>& have, const std::vector<nft::Rule>& want,
                  nft::Batch& batch);

}  // namespace weir::firewall::detail
