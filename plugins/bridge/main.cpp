// weir-bridge-local: the plugin in the calling process, as weir-bridge runs it when no
// weir-agent takes the call (plugins/front/front.cpp).
#include "agent/client/control.hpp"
#include "agent/client/handoff.hpp"
#include "plugins/bridge/bridge.hpp"

int weir_bridge_local_main(int, char**) {
  weir::cni::ProcessEnv env;
  auto verbs =
      weir::agent::starting_agent(weir::plugins::bridge::verbs(), weir::agent::kBridgePlugin);
  verbs.before = [](const weir::cni::Call& c) {
    return weir::agent::run_where_the_store_is(c, "weir-bridge-local");
  };
  return weir::cni::plugin_main(env, verbs, weir::agent::kBridgePlugin.name);
}
