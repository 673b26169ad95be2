#pragma once

#include <optional>

#include "lib/cni/plugin.hpp"
#include "lib/net/addr.hpp"

namespace weir::plugins {

// The container MAC a call asks for, as the reference plugins read it: the config's `mac`,
// overridden by CNI_ARGS MAC, by args.cni.mac, then by runtimeConfig.mac. Bad or multicast →
// code 7; CNI_ARGS that are not K=V;… → code 4 (require_args).
Expected<std::optional<net::Mac>> requested_mac(const cni::Call& call);

}  // namespace weir::plugins
