// How plugins and weir-agent find and talk to each other. One agent serves one data dir (one
// store) in the netns it was started in: its control socket and locks live in the data dir.
//
// Protocol: a plugin connects to the control socket, writes one line ("sync\n") and reads one
// line back: "ok <generation>\n" once the agent has re-read the store and the new zone is
// live, or "error <message>\n".
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "lib/cni/error.hpp"

namespace weir::agent {

struct Paths {
  std::string socket;  // control socket
  std::string
      lock;  // held by the running agent for its whole life (one agent at most); holds its pid
  std::string start_lock;  // held by a plugin while it checks for, and maybe starts, an agent
  std::string log;         // the agent's stderr
};

Paths paths_for(std::string_view data_dir);  // "" = the store's default folder

// Where a container of a network the host cannot reach (macvlan) finds its resolver: the agent
// binds it inside the container's netns, on its loopback, as Docker does.
inline constexpr std::string_view kContainerResolver = "127.0.0.11";

struct SyncRequest {
  std::string data_dir;
  // Start the agent when none is running (ADD); DEL only tells a running one.
  bool start = true;
  // weir-agent's path; "" = next to the running executable.
  std::string agent_binary;
  std::chrono::milliseconds timeout{5000};
};

// Makes sure the agent serves what the store holds now. Returns when it has acknowledged. An
// agent that is just exiting (idle) when we connect counts as none: ADD starts a fresh one.
Expected<void> sync_agent(const SyncRequest& req);

// The pid of the agent that holds the data dir's lock now, if any (weirctl, tests).
std::optional<pid_t> running_agent(std::string_view data_dir);

}  // namespace weir::agent
