// weir-bridge-local: the plugin in the calling process, as weir-bridge runs it when no
// weir-agent takes the call (plugins/front/front.cpp).
#include "agent/client/control.hpp"
#include "plugins/bridge/bridge.hpp"

int weir_bridge_local_main(int, char**) {
  weir::cni::ProcessEnv env;
  const auto verbs =
      weir::agent::starting_agent(weir::plugins::bridge::verbs(), weir::agent::kBridgePlugin);
  return weir::cni::plugin_main(env, verbs, weir::agent::kBridgePlugin.name);
}
