// weir-ipam: the allocator behind the CNI verbs. The `weir-ipam` plugin runs these through
// plugin_main; weir's own plugins call them in-process when ipam.type is "weir-ipam" (no exec).
//
// Codes: a bad config or request is 7 (naming the field), a requested address leased to
// someone else 103, a range set without a free address 50 (for ADD as for STATUS: the network
// cannot serve ADDs until an address is released), a busy store 11, any other store failure 102.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ipam/allocator.hpp"
#include "ipam/config.hpp"
#include "ipam/pool.hpp"
#include "lib/cni/plugin.hpp"
#include "lib/store/backend.hpp"
#include "lib/store/sqlite.hpp"

namespace weir::ipam {

inline constexpr std::string_view kPluginName = "weir-ipam";

std::string read_boot_id();                 // /proc/sys/kernel/random/boot_id, "" when unreadable
bool path_exists(const std::string& path);  // false only when it is certainly gone (ENOENT)
int64_t unix_now();

// The process edges of the allocator; tests replace them.
struct Seams {
  RouteSource host_routes = read_host_routes;
  std::function<std::string()> boot_id = read_boot_id;
  std::function<bool(const std::string&)> netns_exists = path_exists;
  std::function<int64_t()> now = unix_now;
};

// A store the caller already holds open: the backend it is (lib/store/backend.hpp; nullptr =
// SQLite) and the data folder it belongs to ("" = the default). The verbs use it instead of
// opening their own when it is the network's store: on SQLite when the config's dataDir is that
// folder, on etcd when the network names the same cluster, prefix and host. weir's plugins pass
// theirs, so a call opens the store once, not twice, and its lease and its endpoint are written
// through one connection. A caller that lives on (weir-agent) lends its seams too (the boot id
// read once), for the plugins that take these.
struct OpenStore {
  std::string data_dir;
  store::Store* store = nullptr;
  const Seams* seams = nullptr;  // for the plugin helpers (plugins/common/ipam_client)
  const store::Backend* backend = nullptr;
};

// The CNI verbs. DEL releases by (container id, ifname) and is idempotent; CHECK verifies that
// the attachment holds a lease in every range set (and every prevResult address of ours);
// STATUS fails with 50 when a range set is exhausted; GC releases every lease of the network
// whose attachment is not in `valid`.
Expected<cni::Result> add(const cni::Call& call, const Seams& seams = {}, const OpenStore& open = {});
Expected<void> del(const cni::Call& call, const Seams& seams = {}, const OpenStore& open = {});
Expected<void> check(const cni::Call& call, const Seams& seams = {}, const OpenStore& open = {});
Expected<void> status(const cni::Call& call, const Seams& seams = {}, const OpenStore& open = {});
Expected<void> gc(const cni::Call& call, const std::vector<cni::Attachment>& valid,
                  const Seams& seams = {}, const OpenStore& open = {});

// The verbs for plugin_main (weir-ipam-local); weir-agent passes the store it keeps open.
cni::Verbs verbs(const OpenStore& open = {}, const Seams& seams = {});

// Opens data_dir's store. On the first use after a reboot (the kernel's boot id changed) it
// releases the leases and endpoints whose netns no longer exists, since no container survives
// a reboot, and records the new boot id.
Expected<store::SqliteStore> open_store(const std::string& data_dir, const Seams& seams = {});
Expected<void> sweep_after_reboot(store::Store& store, const Seams& seams);
// The same inside a write transaction the caller makes anyway (one transaction, not two). On a
// shared store (etcd: at most 128 operations per txn) it releases one batch, and the next
// transaction goes on; the boot id is recorded when none is left. Returns whether it was.
Expected<bool> sweep_after_reboot(store::Txn& txn, const Seams& seams);

// How network_sets treats a network that has no ranges and no default pool yet.
enum class PoolMode {
  kRecorded,  // fail with code 3: nothing was ever allocated (CHECK)
  kPreview,   // pick the pool ADD would pick, record nothing (STATUS, read-only)
  kChoose,    // pick it and record it, and keep the network record up to date (ADD)
};

// The range sets the network allocates from: its configured ranges, or its default pool.
Expected<std::vector<RangeSet>> network_sets(store::Txn& txn, const IpamConfig& config,
                                             const Seams& seams, PoolMode mode);

}  // namespace weir::ipam
