// How weir's plugins get addresses: in-process from the allocator when `ipam.type` is
// weir-ipam (no extra exec), otherwise by exec of the named plugin from CNI_PATH, as the spec's
// delegation protocol says. Either way the caller sees one Result or one Error.
#pragma once

#include <vector>

#include "ipam/ipam.hpp"
#include "lib/cni/plugin.hpp"
#include "lib/cni/rollback.hpp"

namespace weir::plugins {

inline constexpr std::string_view kWeirIpam = "weir-ipam";

// Whether the config has an IPAM section; one without a "type" is a bad config (7).
Expected<bool> has_ipam_section(const cni::NetConf& conf);
// The folder of the network's store, "" for the default: the config's "dataDir", else weir-ipam's
// (whose leases are in that store); another IPAM's dataDir (host-local's) is its own business.
// A relative folder is refused (7): it would be the runtime's working directory.
Expected<std::string> store_dir_of(const cni::NetConf& conf);

// ADD's check of an in-process (weir-ipam) section before anything is made, the store file
// included: the same parse ipam_add does, so a bad range or dataDir fails with nothing to undo.
// Nothing to check for a delegated IPAM (its own process judges its config) or none.
Expected<void> ipam_precheck(const cni::Call& call);
// `open`: the caller's store, which the in-process allocator uses when it is the same folder.
Expected<cni::Result> ipam_add(const cni::Call& call, const ipam::OpenStore& open = {});
// ADD's first step in every plugin: the addresses, before any kernel change (an exhausted range
// fails with nothing to undo), released again if `undo` rolls back. No `ipam` section: none.
Expected<cni::Result> ipam_add_undoable(const cni::Call& call, const ipam::OpenStore& open,
                                        cni::Rollback& undo);
Expected<void> ipam_del(const cni::Call& call, const ipam::OpenStore& open = {});
Expected<void> ipam_check(const cni::Call& call, const ipam::OpenStore& open = {});
Expected<void> ipam_status(const cni::Call& call, const ipam::OpenStore& open = {});
Expected<void> ipam_gc(const cni::Call& call, const std::vector<cni::Attachment>& valid,
                       const ipam::OpenStore& open = {});

}  // namespace weir::plugins
