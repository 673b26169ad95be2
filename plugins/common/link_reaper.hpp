// Deleting a link is the slowest step of a DEL: the kernel's unregister of a net device waits
// for RCU grace periods (a veth takes 15–35 ms on a 2-core VM; everything else DEL does takes a
// few). Nothing after the delete depends on it — the lease, the rules and the record are gone
// already, the caller has set the link down, and ifindexes are not reused in practice (they
// only grow until they wrap) — so DEL hands it to a child process and returns: the runtime
// gets its answer without waiting for the kernel.
//
// The child deletes the link by index (never a newer link that took its name) and exits; a
// failure goes to <data_dir>/reaper.log. While it runs it holds <data_dir>/reaper.lock shared
// (taken before the fork), so whoever must see every such delete finished — tests, the
// benchmark — takes that lock exclusive. An ADD that finds the old name still taken deletes the
// old link itself (plugins/bridge: setup_veth).
#pragma once

#include <string>

#include "lib/cni/error.hpp"

namespace weir::plugins {

// Deletes link `ifindex` of the calling thread's netns in a detached child. When the child
// cannot be started, deletes it here and now.
Expected<void> delete_link_later(const std::string& data_dir, int ifindex);

}  // namespace weir::plugins
