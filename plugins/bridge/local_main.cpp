// weir-bridge-local: the plugin in the calling process, as weir-bridge runs it when no
// weir-agent takes the call (agent/front.hpp). An ADD that succeeds also starts a weir-agent in
// the background (unless one runs), so that the calls that follow find the store open.
#include "agent/control.hpp"
#include "plugins/bridge/agent_dir.hpp"
#include "plugins/bridge/bridge.hpp"

int main() {
  weir::cni::ProcessEnv env;
  weir::cni::Verbs v = weir::plugins::bridge::verbs();
  v.add = [add = std::move(v.add)](const weir::cni::Call& call) {
    auto result = add(call);
    if (result) {
      const std::string dir = weir::plugins::bridge::agent_data_dir(call.conf.raw);
      if (!dir.empty())
        weir::agent::start_agent_in_background(dir, weir::agent::StartedFor::kBridge);
    }
    return result;
  };
  return weir::cni::plugin_main(env, v, "weir-bridge");
}
