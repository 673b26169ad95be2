#pragma once

#include "lib/cni/plugin.hpp"

namespace weir::plugins::macvlan {

// weir-macvlan: a macvlan child of a master link, in the container under CNI_IFNAME, addressed
// by IPAM, with a default route via the IPAM gateway.
cni::Verbs verbs();

}  // namespace weir::plugins::macvlan
