// weir-agent: one per host (per data dir and netns). It serves DNS for every network that has
// it on, from the endpoint records in the store, and re-reads the store when a plugin asks
// (control.hpp). It also runs the ADD and DEL of weir-ipam and weir-bridge (plugins/front/front.cpp)
// on a store it keeps open. It exits when no DNS network is left, no weir-ipam call came for a
// while and — once it has run weir-bridge's calls — the store has no endpoint left.
#pragma once

#include <memory>
#include <string>

#include "lib/cni/error.hpp"

namespace weir::agent {

struct AgentOptions {
  std::string data_dir;
  int ready_fd = -1;  // "ready\n" is written here once every socket is bound
  int start_lock_fd = -1;  // agent.start.lock, held for the starter until the agent listens
  // The plugin that started us in the background ("weir-ipam", "weir-bridge"; "" = none):
  // the calls it was started for come next.
  std::string started_for;
  std::string resolv_conf = "/etc/resolv.conf";
  uint16_t dns_port = 53;
  bool exit_when_idle = true;
};

// Runs until idle (see above), SIGTERM or SIGINT, or until its data dir is removed. Returns the process exit code.
int run_agent(const AgentOptions& options);

}  // namespace weir::agent
