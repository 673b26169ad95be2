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

// In the record's extra: the netns cookie (netlink::netns_cookie) of the container at ADD.
inline constexpr const char* kNetnsCookie = "netnsCookie";

// Whether the container of a recorded attachment still exists: its netns path still names the
// namespace it named at ADD. A runtime that crashed (or a kill -9'd ctr) leaves a record whose
// netns is gone; a new namespace at the same path is another container. Gone only when that is
// certain (the path is missing or no namespace, or names another one); any other failure to
// tell is an error, never a reason to remove a live container's attachment.
Expected<bool> attachment_alive(const store::Endpoint& ep);

}  // namespace weir::plugins::bridge
