// Published host ports belong to the host, across weir's networks: a container that asks for
// one another container has published (same protocol and port, overlapping host address) is
// refused, as Docker refuses ("port is already allocated"). The reference portmap plugin stacks
// the DNATs instead, and the first one silently wins.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lib/store/store.hpp"
#include "plugins/bridge/config.hpp"

namespace weir::plugins::bridge {

// Whether two mappings claim the same host port: same protocol and port, overlapping host
// address (unset is every address).
bool ports_overlap(const PortMapping& a, const PortMapping& b);
// "[host ip:]port/protocol", for messages.
std::string describe(const PortMapping& p);

// The endpoint record's list of its published ports (its extra["portMappings"]).
nlohmann::json ports_json(const std::vector<PortMapping>& ports);

// Code 103 naming the holder when one of `ports` is published by another endpoint in the store
// (any network). (The same port twice in one request is parse_config's: code 7.)
Expected<void> check_ports_free(store::Txn& txn, const std::vector<PortMapping>& ports);

}  // namespace weir::plugins::bridge
