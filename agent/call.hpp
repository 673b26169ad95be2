// How a plugin reaches weir-agent, with nothing the smallest binaries should not link (no
// SQLite, no libnl): the paths in the data dir, and a weir-ipam call run by the agent. One
// agent serves one data dir (one store) in the netns it was started in.
//
// Protocol: a plugin connects to the control socket and sends one request per connection.
// - "sync\n": the agent re-reads the store; the reply line is "ok <generation>\n" once the new
//   zone is live, or "error <code> <why>\n".
// - "ipam1 <netns id>\n", the CNI_* variables as "NAME=value\0" each, an empty one ("\0"), then
//   the config up to EOF (no variable holds a NUL): a weir-ipam call, which the agent runs on
//   the store it keeps open. The reply, up to EOF, is "done <exit code> <stdout bytes>\n" then
//   stdout then stderr; "elsewhere\n" when the agent will not run it (it lives in another
//   netns, where IPAM would read other routes, or its binary was upgraded); "error …" as above.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "lib/cni/error.hpp"

namespace weir::agent {

using Clock = std::chrono::steady_clock;

struct Paths {
  std::string socket;      // control socket
  std::string lock;        // held by the running agent all its life (one at most); its pid
  std::string start_lock;  // held by a plugin while it checks for, and maybe starts, an agent
  std::string log;         // the agent's stderr
};

Paths paths_for(std::string_view data_dir);  // "" = the store's default folder

// A plugin call as the process received it, and what it would have printed.
struct PluginCall {
  std::map<std::string, std::string, std::less<>> env;  // the CNI_* variables that are set
  std::string stdin_bytes;
};
struct PluginReply {
  int exit_code = 0;
  std::string out;
  std::string err;
};

// Runs a weir-ipam call in the agent that serves data_dir, which keeps the store open.
// nullopt: no agent took the call (none runs, it is exiting, it lives in another netns, it
// is too old to know the request, or its queue is full), so the caller runs it itself. An
// error: the agent took the call and did not answer in time; it may still run it later, so
// the caller must not run it too (a DEL the runtime sends next queues behind it).
Expected<std::optional<PluginReply>> call_agent(std::string_view data_dir, const PluginCall& call,
                                                std::chrono::milliseconds timeout);

// The netns of the calling thread as "<dev>:<inode>", "" when unknown.
std::string netns_id();

// Milliseconds left until the deadline, for poll(2); 0 once it has passed.
int remaining_ms(Clock::time_point deadline);

}  // namespace weir::agent
