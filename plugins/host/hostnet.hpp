// Host networking: the container shares the host's netns. ADD changes nothing in the kernel; it
// reports the host's interfaces and addresses and registers the container's names for DNS.
#pragma once

#include "lib/cni/plugin.hpp"
#include "lib/netns/netns.hpp"
#include "lib/store/store.hpp"
#include "plugins/host/config.hpp"

namespace weir::plugins::host {

// Whether two handles are one netns (same nsfs inode).
Expected<bool> same_netns(const netns::Handle& a, const netns::Handle& b);

// Code 7 unless ns is the netns this plugin runs in (same nsfs inode), with what to do instead.
Expected<void> ensure_host_netns(const netns::Handle& ns);

Expected<cni::Result> add_host_network(const cni::Call& call, const HostConfig& cfg,
                                       store::Store& st);
Expected<void> check_host_network(const cni::Call& call, store::Store& st);

}  // namespace weir::plugins::host
