// weir-ipam-local: the allocator in the calling process, as weir-ipam runs it when no weir-agent
// takes the call (agent/front.hpp).
#pragma once

#include "lib/cni/env.hpp"

namespace weir::ipam {

// plugin_main with the verbs; an ADD that succeeds also starts a weir-agent in the background
// (unless one runs), so that the calls that follow find the store open. Returns the exit code.
int run_local(cni::Env& env);

}  // namespace weir::ipam
