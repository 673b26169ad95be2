// weir-bridge: the front end (agent/front.hpp); weir-agent or weir-bridge-local runs the call.
#include "agent/front.hpp"
#include "plugins/bridge/agent_dir.hpp"

int main() {
  return weir::agent::front_main({.plugin = weir::agent::kBridgePlugin,
                                  .local_binary = "weir-bridge-local",
                                  .agent_dir = weir::plugins::bridge::agent_data_dir});
}
