// weir-agent: one per host (per data dir and netns). It serves DNS for every network that has
// it on, from the endpoint records in the store, and re-reads the store when a plugin asks
// (control.hpp). It also runs the ADD and DEL of weir-ipam and weir-bridge (plugins/front/front.cpp)
// on a store it keeps open. It exits when no DNS network is left, no weir-ipam call came for a
// while and — once it has run weir-bridge's calls — the store has no endpoint left.
//
// Two processes: a supervisor (the pid in agent.lock, the one to signal) holds the lock and the
// listening control socket and does nothing that can crash; its worker (a fork, titled
// "weir-agent: worker <dir>") serves the DNS and runs the plugin calls. A worker that dies by a
// signal (an abort in a plugin call, a kill -9) is replaced at once, and the connections queued
// on the socket go to the new one (supervisor.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
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
  // The process's command line: the worker writes its title over it, so that ps and pgrep -f
  // tell the two processes apart (and scripts find the supervisor).
  std::span<char*> argv;
};

// The supervisor: runs until its worker is idle (see above), SIGTERM or SIGINT, or until its
// data dir is removed. Returns the process exit code.
int run_agent(const AgentOptions& options);

// How a worker was started (supervisor.cpp): its end of the channel to the supervisor, and
// whether it replaces one that died (it then stays while the store has endpoints).
struct WorkerStart {
  int channel = -1;
  bool restarted = false;
};

// The worker: DNS and plugin calls until idle, SIGTERM or SIGINT. Returns its exit code.
int run_worker(const AgentOptions& options, const WorkerStart& start);

}  // namespace weir::agent
