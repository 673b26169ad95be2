// weir-ipam-local: the allocator in the calling process, as weir-ipam runs it when no weir-agent
// takes the call (plugins/front/front.cpp).
#include "agent/client/control.hpp"
#include "agent/client/handoff.hpp"
#include "ipam/ipam.hpp"

int weir_ipam_local_main(int, char**) {
  weir::cni::ProcessEnv env;
  auto verbs = weir::agent::starting_agent(weir::ipam::verbs(), weir::agent::kIpamPlugin);
  verbs.before = [](const weir::cni::Call& c) {
    return weir::agent::run_where_the_store_is(c, "weir-ipam-local");
  };
  return weir::cni::plugin_main(env, verbs, weir::ipam::kPluginName);
}
