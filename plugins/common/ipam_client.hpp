// How weir's plugins get addresses: in-process from the allocator when `ipam.type` is
// weir-ipam (no extra exec), otherwise by exec of the named plugin from CNI_PATH, as the spec's
// delegation protocol says. Either way the caller sees one Result or one Error.
#pragma once

#include <vector>

#include "ipam/ipam.hpp"
#include "lib/cni/plugin.hpp"

namespace weir::plugins {

inline constexpr std::string_view kWeirIpam = "weir-ipam";

// `open`: the caller's store, which the in-process allocator uses when it is the same folder.
Expected<cni::Result> ipam_add(const cni::Call& call, const ipam::OpenStore& open = {});
Expected<void> ipam_del(const cni::Call& call, const ipam::OpenStore& open = {});
Expected<void> ipam_check(const cni::Call& call, const ipam::OpenStore& open = {});
Expected<void> ipam_status(const cni::Call& call, const ipam::OpenStore& open = {});
Expected<void> ipam_gc(const cni::Call& call, const std::vector<cni::Attachment>& valid,
                       const ipam::OpenStore& open = {});

}  // namespace weir::plugins
