// Deleting a link is the slowest step of a DEL: the kernel's unregister of a net device waits
// for RCU grace periods (a veth takes 15–30 ms on a 2-core VM; everything else DEL does takes a
// few). Nothing after the delete depends on it — the lease, the rules and the record are gone
// already, and the link's index is never reused — so DEL hands it to a child process and
// returns: the runtime gets its answer without waiting for the kernel.
//
// The child deletes the link by index (never a newer link that took its name) and exits. While
// it runs it holds <data_dir>/reaper.lock shared: wait_for_reapers() takes it exclusive, for
// whoever must see every such delete finished (tests, `weirctl` checks). An ADD that finds the
// name still taken deletes the old link itself (see take_leftover_veth in plugins/bridge).
#pragma once

#include <string>

#include "lib/cni/error.hpp"

namespace weir::plugins {

// Deletes link `ifindex` of the calling thread's netns in a detached child. When the child
// cannot be started, deletes it here and now.
Expected<void> delete_link_later(const std::string& data_dir, int ifindex);

// Blocks until every delete_link_later child of data_dir has finished.
Expected<void> wait_for_reapers(const std::string& data_dir);

}  // namespace weir::plugins
