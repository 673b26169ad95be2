#include "ipam/local.hpp"

#include "agent/control.hpp"
#include "ipam/data_dir.hpp"
#include "ipam/ipam.hpp"

namespace weir::ipam {

int run_local(cni::Env& env) {
  cni::Verbs v = verbs();
  v.add = [add = std::move(v.add)](const cni::Call& call) {
    auto result = add(call);
    if (result) {
      const std::string dir = agent_dir_in(call.conf.ipam);
      if (!dir.empty()) agent::start_agent_in_background(dir, agent::StartedFor::kIpam);
    }
    return result;
  };
  return cni::plugin_main(env, v, kPluginName);
}

}  // namespace weir::ipam
