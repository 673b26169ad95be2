// Published host ports belong to the host, across weir's networks: a container that asks for
// one another container has published (same protocol and port, overlapping host address) is
// refused, as Docker refuses ("port is already allocated"). The reference portmap plugin stacks
// the DNATs instead, and the first one silently wins.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "lib/store/store.hpp"
#include "plugins/bridge/config.hpp"

namespace weir::plugins::bridge {

// The endpoint record's list of its published ports (its extra["portMappings"]).
nlohmann::json ports_json(const std::vector<PortMapping>& ports);

// Code 103 naming the holder when one of `ports` is published by another endpoint in the store
// (any network), or twice in `ports`.
Expected<void> check_ports_free(store::Txn& txn, const cni::Call& call,
                                const std::vector<PortMapping>& ports);

}  // namespace weir::plugins::bridge
