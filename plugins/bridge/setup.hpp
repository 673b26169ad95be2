// The kernel's part of a bridge network: the bridge (its MAC, alias, gateway addresses and the
// sysctls it needs), a container's veth pair, and the removal of the bridge and the network's
// rules once its last endpoint is gone.
#pragma once

#include <string>

#include "lib/cni/result.hpp"
#include "lib/netlink/netlink.hpp"
#include "plugins/bridge/context.hpp"
#include "plugins/bridge/lock.hpp"

namespace weir::plugins::bridge {

// Ensures the bridge for the addresses IPAM gave; its deletion is pushed onto the undo when this
// ADD created it.
Expected<netlink::LinkInfo> setup_bridge(const AddContext& add, const cni::Result& addrs);

// The container's end: created directly in its netns under its final name, on bridge `br`. A
// leftover of ours holding a name (name_holder) is deleted first.
Expected<netlink::VethPair> setup_veth(const AddContext& add, const netlink::LinkInfo& br);

// Whether any endpoint in the store, of any network, is attached to the bridge: several
// networks may share one bridge, and only the last of them may delete it.
Expected<bool> bridge_in_use(store::Store& st, const std::string& bridge);

// When the call's network has no endpoint left: its rules, the table if unused, and `bridge` if
// weir made it for the network and no other network's endpoint is on it. Takes `lock` exclusive.
Expected<void> del_network_if_empty(const Context& ctx, BridgeLock& lock,
                                    const std::string& bridge);

}  // namespace weir::plugins::bridge
