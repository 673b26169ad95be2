// weir-ipam-local: the allocator in the calling process, as weir-ipam runs it when no weir-agent
// takes the call (agent/front.hpp).
#include "agent/control.hpp"
#include "ipam/data_dir.hpp"
#include "ipam/ipam.hpp"

int main() {
  weir::cni::ProcessEnv env;
  const auto verbs = weir::agent::starting_agent(weir::ipam::verbs(), weir::agent::kIpamPlugin,
                                                 weir::ipam::agent_data_dir);
  return weir::cni::plugin_main(env, verbs, weir::ipam::kPluginName);
}
