// Every link of a netns, for the lookups by MAC or alias that lib/netlink has no call for yet.
#pragma once

#include <vector>

#include "lib/netlink/netlink.hpp"

namespace weir::plugins::host {

// The links of the calling thread's netns, which must be sock's (the names come from
// if_nameindex(3), an RTM_GETLINK dump in the thread's netns; each link is then read on sock).
Expected<std::vector<netlink::LinkInfo>> list_links(netlink::Socket& sock);

}  // namespace weir::plugins::host
