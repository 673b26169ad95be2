#pragma once

#include "lib/cni/plugin.hpp"

namespace weir::plugins::host {

// weir-host: host networking (the container shares the host's netns; nothing changes, the
// names are registered for DNS), or with `device`/`hwaddr` host-device mode (a host link moves
// into the container and back).
cni::Verbs verbs();

}  // namespace weir::plugins::host
