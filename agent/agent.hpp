// weir-agent: one per host (per data dir and netns). It serves DNS for every network that has
// it on, from the endpoint records in the store, and re-reads the store when a plugin asks
// (control.hpp). It exits when no DNS network is left.
#pragma once

#include <memory>
#include <string>

#include "lib/cni/error.hpp"

namespace weir::agent {

struct AgentOptions {
  std::string data_dir;
  int ready_fd = -1;  // "ready\n" is written here once every socket is bound
  std::string resolv_conf = "/etc/resolv.conf";
  uint16_t dns_port = 53;
  bool exit_when_idle = true;
};

// Runs until idle (no DNS network), SIGTERM or SIGINT. Returns the process exit code.
int run_agent(const AgentOptions& options);

}  // namespace weir::agent
