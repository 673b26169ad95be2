// weir-ipam: the front end (agent/front.hpp); weir-agent or weir-ipam-local runs the call.
#include "agent/front.hpp"
#include "ipam/data_dir.hpp"

int main() {
  return weir::agent::front_main({.plugin = weir::agent::kIpamPlugin,
                                  .local_binary = "weir-ipam-local",
                                  .agent_dir = weir::ipam::agent_data_dir});
}
