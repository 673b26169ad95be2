// Which link by an attachment's name is a leftover of ours — safe to delete — and which is
// anybody else's, from the marks (marks.hpp) and the store's records; and GC's sweep of the
// leftovers on a network's bridge.
#pragma once

#include <optional>
#include <string>

#include "lib/netlink/netlink.hpp"
#include "lib/store/store.hpp"
#include "plugins/bridge/context.hpp"
#include "plugins/bridge/lock.hpp"
#include "plugins/bridge/marks.hpp"

namespace weir::plugins::bridge {

// A veth by this attachment's name that is an old one of ours. This attachment's own (its
// alias, `own`, names it, and it has no record: cmd_add checked) — the previous DEL's, which the
// kernel may still be deleting in the background (link_reaper.hpp), or one a crash left;
// wherever it is now (after the network's last DEL it is on no bridge). Or a veth on our bridge
// `br` with our store's mark, or none (made before the mark), that no record names. Anything
// else by that name (another network's, a 32-bit hash collision with a live container) is not
// touched.
Expected<bool> is_leftover(store::Store& st, const std::string& mark, const std::string& own,
                           const netlink::LinkInfo& link, const netlink::LinkInfo& br);

// Who holds a name create_veth found taken. A leftover of ours: the host end to delete, which
// takes its peer with it. Typically the previous attachment's veth, which its DEL left to the
// kernel to delete in the background (link_reaper.hpp) and which may still hold the names when
// the next ADD comes (a disconnect and a connect; a runtime that reuses the netns). Nobody any
// more: that delete just ended. Anything else is not ours to touch.
struct NameHolder {
  enum { kLeftover, kGone, kOther } what;
  int index = 0;  // kLeftover: the host end
};
Expected<NameHolder> name_holder(const AddContext& add, const netlink::VethSpec& spec,
                                 const netlink::LinkInfo& br);

// The attachment's host veth, if there is one. Without a record (a DEL after a crash half-way
// through ADD, or a retry of a DEL that failed after forgetting it) a veth by its name counts
// only if it is a leftover of ours (is_leftover): the name hashes only the container id and
// ifname.
Expected<std::optional<netlink::LinkInfo>> attachment_veth(
    const Context& ctx, const std::optional<store::Endpoint>& ep);

// Ports of the network's own bridge that look like weir's veths but that no record knows: a
// crash left one between the kernel and the store, or a background delete failed
// (link_reaper.hpp). Under the exclusive lock, so no ADD is between its veth and its record.
Expected<void> sweep_unrecorded_ports(const Context& ctx, BridgeLock& lock);

}  // namespace weir::plugins::bridge
