// weir-agent: one per host (per data dir and netns). It serves DNS for every network that has
// it on, from the endpoint records in the store, and re-reads the store when a plugin asks
// (control.hpp). It also runs weir-ipam's ADD and DEL on a store it keeps open, for as long as
// they keep coming. It exits when no DNS network is left and no weir-ipam call came for a while.
#pragma once

#include <memory>
#include <string>

#include "lib/cni/error.hpp"

namespace weir::agent {

struct AgentOptions {
  std::string data_dir;
  int ready_fd = -1;  // "ready\n" is written here once every socket is bound
  int start_lock_fd = -1;  // agent.start.lock, held for the starter until the agent listens
  std::string resolv_conf = "/etc/resolv.conf";
  uint16_t dns_port = 53;
  bool exit_when_idle = true;
};

// Runs until idle (see above), SIGTERM or SIGINT, or until its data dir is removed. Returns the process exit code.
int run_agent(const AgentOptions& options);

}  // namespace weir::agent
