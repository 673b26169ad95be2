#pragma once

#include "lib/cni/plugin.hpp"

namespace weir::plugins::none {

// weir-none: the container keeps only its loopback, as the reference `loopback` plugin does.
cni::Verbs verbs();

}  // namespace weir::plugins::none
