#pragma once

#include "lib/cni/plugin.hpp"

namespace weir::plugins::bridge {

// weir-bridge: a docker0-style bridge with a veth pair per container, NAT, isolation and
// published ports.
cni::Verbs verbs();

}  // namespace weir::plugins::bridge
