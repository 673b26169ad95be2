// GC's walk over a network's endpoint records, shared by every plugin that keeps them.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "lib/cni/plugin.hpp"
#include "lib/store/store.hpp"

namespace weir::plugins {

using Cleanup = std::function<Expected<void>(const store::Endpoint&)>;

// Every endpoint of call's network that is not in `valid` gets the plugin's `cleanup` and is
// forgotten; a running weir-agent is then told once, if any of them had DNS names.
Expected<void> collect_endpoints(store::Store& st, const cni::Call& call,
                                 const std::vector<cni::Attachment>& valid,
                                 const std::string& data_dir, const Cleanup& cleanup);

}  // namespace weir::plugins
