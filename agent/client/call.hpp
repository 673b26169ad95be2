// How a plugin reaches weir-agent, with nothing the smallest binaries should not link (no
// SQLite, no libnl): the paths in the data dir, and a plugin call run by the agent. One agent
// serves one data dir (one store) in the netns it was started in.
//
// Protocol: a plugin connects to the control socket and sends one request per connection.
// - "sync [<netns id>]\n": the agent re-reads the store; the reply line is "ok <generation>\n" once
// the new
//   zone is live, or "error <code> <why>\n".
// - a plugin call (agent/proto/frame.hpp): "<plugin request><version> <netns id> <body bytes>\n"
//   and its body, from weir-ipam ("ipam2") or weir-bridge ("bridge2"), which the agent runs on
//   the store it keeps open unless its caller has gone by then. The reply, up to EOF: "run\n"
//   just before the call runs (version 2), then "done <exit code> <stdout bytes>\n", stdout
//   and stderr; "elsewhere\n" when the agent will not run it (it lives in another netns, whose
//   links and routes the plugin would not see; its binary was upgraded; the call came short);
//   "error …" as above (an older agent that does not know the request: the caller runs the
//   call itself).
#pragma once

#include <sys/un.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "agent/proto/route.hpp"
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

// A plugin whose ADD and DEL the agent runs: the request word, the plugin's name, and which
// agent its front end picks for a config (agent/proto/route.hpp).
using AgentPlugin = proto::Plugin;
inline constexpr const AgentPlugin& kIpamPlugin = proto::kIpam;
inline constexpr const AgentPlugin& kBridgePlugin = proto::kBridge;

// The data dir whose agent may run calls of this config (the front end's choice), "" if none.
std::string agent_dir_of(const AgentPlugin& plugin, std::string_view config);

// The unix socket address of path; nullopt when it does not fit one (a data dir whose socket
// cannot is served by no agent).
std::optional<sockaddr_un> socket_address(std::string_view path);

// Writes all of data to a socket before the deadline; false if the peer went away (EPIPE,
// ECONNRESET: errno tells) or time ran out (errno ETIMEDOUT).
bool send_all(int fd, std::string_view data, Clock::time_point deadline);

// The path of `name` in the folder of the running executable (weir's binaries find each other
// there, whatever CNI_PATH says).
std::string sibling_binary(std::string_view name);

// The netns of the calling thread as "<dev>:<inode>", "" when unknown.
std::string netns_id();

// The netns and the mount namespace of the calling thread, "<net>,<mnt>" each as netns_id():
// what a plugin call must share with the agent that runs it (the links, routes and paths it
// sees). "" when unknown.
std::string namespaces_id();

// Milliseconds left until the deadline, for poll(2); 0 once it has passed.
int remaining_ms(Clock::time_point deadline);

}  // namespace weir::agent
