// CHECK of a bridge endpoint against its stored record.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lib/cni/plugin.hpp"
#include "lib/netns/netns.hpp"
#include "lib/store/store.hpp"
#include "plugins/bridge/config.hpp"
#include "plugins/common/endpoints.hpp"
#include "plugins/common/store_open.hpp"

namespace weir::plugins::bridge {

// CHECK of what the bridge made (the lease is ipam_check's): every piece ADD made is still there;
// the error names the first one missing.
Expected<void> check_endpoint(const cni::Call& call, const BridgeConfig& cfg,
                              const store::Endpoint& ep, const netns::Handle& ns);

}  // namespace weir::plugins::bridge
