// How plugins and weir-agent find and talk to each other. One agent serves one data dir (one
// store) in the netns it was started in: its control socket and locks live in the data dir.
//
// Protocol: see call.hpp.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "agent/client/call.hpp"
#include "lib/cni/error.hpp"
#include "lib/cni/plugin.hpp"

namespace weir::agent {

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

// Starts an agent for data_dir in the background, without waiting for it: unless one runs,
// or another process is starting one. The agent holds agent.start.lock until it listens, as a
// plugin that starts one in the foreground does. Best effort: nothing is reported. The agent is
// told which plugin started it: weir-ipam's calls leave nothing in the store that keeps an
// agent (leases are no reason to stay), so one started for them stays for the grace period
// whatever happens; one started for weir-bridge stays while the store has endpoints, whose DELs
// it will run (agent.hpp). For a network on etcd (`on_etcd`) the agent is weir-cluster's, the
// one linked with the etcd store; a static weir-agent passes such calls on.
void start_agent_in_background(std::string_view data_dir, const AgentPlugin& started_for,
                               bool on_etcd = false);

// The verbs of a plugin whose ADD and DEL weir-agent runs, as its local binary runs them (the
// -local binaries, plugins/front/front.cpp): an ADD that succeeds also starts an agent in the background
// for the config's data dir (the front end's choice, agent_dir_of), so that the calls that
// follow find the store open.
cni::Verbs starting_agent(cni::Verbs verbs, const AgentPlugin& plugin);

// The pid of the agent that holds the data dir's lock now, if any (weirctl, tests).
std::optional<pid_t> running_agent(std::string_view data_dir);

}  // namespace weir::agent
