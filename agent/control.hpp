// How plugins and weir-agent find and talk to each other. One agent serves one data dir (one
// store) in the netns it was started in: its control socket and locks live in the data dir.
//
// Protocol: a plugin connects to the control socket, writes one line ("sync\n") and reads one
// line back: "ok <generation>\n" once the agent has re-read the store and the new zone is
// live, or "error <message>\n".
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "lib/cni/error.hpp"

namespace weir::agent {

struct Paths {
  std::string socket;      // control socket
  std::string lock;        // held by the running agent for its whole life: one agent at most
  std::string start_lock;  // held by a plugin while it checks for, and maybe starts, an agent
  std::string log;         // the agent's stderr
};

Paths paths_for(std::string_view data_dir);  // "" = the store's default folder

struct SyncRequest {
  std::string data_dir;
  // Start the agent when none is running (ADD); DEL only tells a running one.
  bool start = true;
  // weir-agent's path; "" = next to the running executable.
  std::string agent_binary;
  std::chrono::milliseconds timeout{5000};
};

// Makes sure the agent serves what the store holds now. Returns when it has acknowledged.
Expected<void> sync_agent(const SyncRequest& req);

}  // namespace weir::agent
